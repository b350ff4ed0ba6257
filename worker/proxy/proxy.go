package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"time"
)

// Node is one upstream address.
type Node struct {
	Host string
	Port int
}

func (n Node) addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// Upstream is everything the proxy needs about where a request goes; the
// caller derives it from the route, service and upstream objects.
type Upstream struct {
	Pool         Pool
	PassHost     string // pass (default), node, rewrite
	UpstreamHost string // for rewrite
	// Tries is the number of tries in all (1 + retries).
	Tries        int
	RetryTimeout time.Duration // 0 = unbounded
	// Pick chooses the node for try number `try` (0-based); tried lists the
	// nodes already tried by this request; data is what the caller passed
	// to Serve for this request. Done reports a try's outcome.
	Pick func(data any, try int, tried []Node) (Node, error)
	Done func(n Node, took time.Duration, failed bool)
	// EnableWebsocket passes Upgrade requests through.
	EnableWebsocket bool
	// ShowStatus adds X-APISIX-Upstream-Status to every response, not only 5xx.
	ShowStatus bool
}

// Proxy forwards requests. It is safe for concurrent use; one per worker.
type Proxy struct {
	rp         *httputil.ReverseProxy
	transports transports
}

type ctxKey struct{}

// state is one request's proxying state, carried in its context.
type state struct {
	up       *Upstream
	data     any
	inHost   string
	scheme   string // the client's scheme, for X-Forwarded-Proto
	port     string // the gateway port the client connected to
	bodyRead atomic.Bool
	lastNode Node
	tried    []Node
}

// New returns a Proxy.
func New() *Proxy {
	p := &Proxy{}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      roundTripper{p},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       nil,
		BufferPool:     bufferPool{},
		// 0: a response with a known length goes out through the server's
		// write buffer (one write for a small response, instead of a flush
		// per upstream read: -1 cost a third of the CPU under load);
		// responses of unknown length (chunked, SSE) are still flushed at
		// every write by ReverseProxy itself.
		FlushInterval: 0,
	}
	return p
}

// Close drops idle upstream connections.
func (p *Proxy) Close() { p.transports.closeIdle() }

// Serve proxies r to up. scheme and port describe the client side
// ("http", "9080") for the X-Forwarded headers; data is handed to up.Pick.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, up *Upstream, scheme, port string, data any) {
	st := &state{up: up, data: data, inHost: r.Host, scheme: scheme, port: port}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &trackedBody{ReadCloser: r.Body, read: &st.bodyRead}
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
	p.rp.ServeHTTP(w, r)
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(ctxKey{}).(*state)
	out := pr.Out
	out.URL.Scheme = st.up.Pool.Scheme
	out.URL.Host = "upstream" // set per try by the round tripper
	// The path and query go upstream exactly as the client sent them.
	out.URL.Path, out.URL.RawPath, out.URL.RawQuery = pr.In.URL.Path, pr.In.URL.RawPath, pr.In.URL.RawQuery
	h := out.Header
	clientIP, _, _ := net.SplitHostPort(pr.In.RemoteAddr)
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		h.Set("X-Forwarded-For", joinComma(prior)+", "+clientIP)
	} else {
		h.Set("X-Forwarded-For", clientIP)
	}
	h.Set("X-Real-IP", clientIP)
	h.Set("X-Forwarded-Proto", st.scheme)
	h.Set("X-Forwarded-Host", hostOnly(st.inHost))
	h.Set("X-Forwarded-Port", st.port)
	h.Del("Forwarded")
	if !st.up.EnableWebsocket {
		h.Del("Upgrade")
		h.Del("Connection")
	}
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := resp.Request.Context().Value(ctxKey{}).(*state)
	if resp.StatusCode >= 500 || st.up.ShowStatus {
		resp.Header.Set("X-APISIX-Upstream-Status", strconv.Itoa(resp.StatusCode))
	}
	return nil
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		// A chunked body outgrew client_max_body_size on the way.
		WriteError(w, http.StatusRequestEntityTooLarge)
		return
	case isTimeout(err):
		code = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away: nginx logs 499 and answers nothing.
		return
	}
	w.Header().Set("X-APISIX-Upstream-Status", strconv.Itoa(code))
	WriteError(w, code)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// roundTripper runs the tries of one request.
type roundTripper struct{ p *Proxy }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	st := req.Context().Value(ctxKey{}).(*state)
	up := st.up
	tr := rt.p.transports.get(up.Pool)
	if req.Body != nil {
		req.Body = keepOpen{req.Body}
	}
	start := time.Now()
	tries := max(up.Tries, 1)
	var lastErr error
	for try := 0; try < tries; try++ {
		if try > 0 && up.RetryTimeout > 0 && time.Since(start) > up.RetryTimeout {
			break
		}
		node, err := up.Pick(st.data, try, st.tried)
		if err != nil {
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		st.tried = append(st.tried, node)
		st.lastNode = node
		req.URL.Host = node.addr()
		req.Host = hostFor(up, st.inHost, node)
		began := time.Now()
		resp, err := tr.RoundTrip(req)
		if up.Done != nil {
			up.Done(node, time.Since(began), err != nil)
		}
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retryable(err) || st.bodyRead.Load() {
			break
		}
	}
	return nil, lastErr
}

// retryable is nginx's `proxy_next_upstream error timeout`.
func retryable(err error) bool {
	var de *dialError
	return errors.As(err, &de) || isTimeout(err)
}

// hostFor is the Host header sent upstream (pass_host).
func hostFor(up *Upstream, inHost string, n Node) string {
	switch up.PassHost {
	case "node":
		if n.Port == 80 && up.Pool.Scheme == "http" || n.Port == 443 && up.Pool.Scheme == "https" {
			return n.Host
		}
		return n.addr()
	case "rewrite":
		return up.UpstreamHost
	default:
		return inHost
	}
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func joinComma(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	out := v[0]
	for _, s := range v[1:] {
		out += ", " + s
	}
	return out
}

// trackedBody records whether any of the request body was read, which
// makes the request non-retryable.
type trackedBody struct {
	io.ReadCloser
	read *atomic.Bool
}

// keepOpen hides Close from http.Transport, which closes the body of a
// failed try: the next try needs it. ReverseProxy and the server close the
// real body when the request ends.
type keepOpen struct{ io.ReadCloser }

func (keepOpen) Close() error { return nil }

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.read.Store(true)
	}
	return n, err
}
