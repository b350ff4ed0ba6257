package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Node is one upstream address.
type Node struct {
	Host string
	Port int
}

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
	// to Serve for this request. Done reports a try's outcome: status is
	// the upstream's status, or 0 when the try failed with err (a
	// connect error, a timeout: see IsTimeout, or an invalid response).
	Pick func(data any, try int, tried []Node) (Node, error)
	Done func(data any, n Node, took time.Duration, status int, err error)
	// EnableWebsocket passes Upgrade requests through.
	EnableWebsocket bool
	// ShowStatus adds X-APISIX-Upstream-Status to every response, not only 5xx.
	ShowStatus bool
}

// Resolver turns a node's host into an address to dial. IP literals come
// back as they are; a stale answer comes back with an error, and is used.
type Resolver interface {
	Resolve(ctx context.Context, host string) (netip.Addr, error)
	// Current reports whether addr is still one of host's addresses.
	Current(ctx context.Context, host string, addr netip.Addr) bool
}

// Proxy forwards requests. It is safe for concurrent use; one per worker.
type Proxy struct {
	pools    sync.Map // poolKey -> *nodePool
	resolver Resolver
}

// New returns a Proxy that resolves domain nodes with r (nil: the system
// resolver, at every new connection).
func New(r Resolver) *Proxy { return &Proxy{resolver: r} }

// Close drops idle upstream connections; connections in use are closed
// when their request ends.
func (px *Proxy) Close() {
	px.pools.Range(func(_, np any) bool {
		np.(*nodePool).closeIdle()
		return true
	})
}

// exchange is one request's proxying state. Exchanges are pooled: their
// buffers (request head, response head) are reused by later requests.
type exchange struct {
	px     *Proxy
	w      http.ResponseWriter
	r      *http.Request
	up     *Upstream
	scheme string // the client's scheme, for X-Forwarded-Proto
	port   string // the gateway port the client connected to
	data   any

	upgrade   string // protocol the client asks to switch to, if allowed
	streaming bool   // the body follows the head from a goroutine
	sent      bool   // the streamed body started: no retry any more
	tried     []Node
	head      []byte // request head (and inline body) of the current try
	body      []byte // inline body

	hbuf  []byte // response head fields, names canonicalised
	long  []byte // a line longer than the read buffer
	spans []span
	hs    string // hbuf as a string: every name and value is a substring
	res   response

	unflushed bool // client output written since the last flush

	sendErr  atomic.Pointer[error] // the streamed body's failure
	sendDone chan struct{}         // closed when the streamed body is done
}

var exchanges = sync.Pool{New: func() any { return &exchange{head: make([]byte, 0, 1024)} }}

// Serve proxies r to up. scheme and port describe the client side
// ("http", "9080") for the X-Forwarded headers; data is handed to up.Pick.
func (px *Proxy) Serve(w http.ResponseWriter, r *http.Request, up *Upstream, scheme, port string, data any) {
	ex := exchanges.Get().(*exchange)
	ex.px, ex.w, ex.r, ex.up, ex.scheme, ex.port, ex.data = px, w, r, up, scheme, port, data
	if ex.serve() {
		ex.reset()
		exchanges.Put(ex)
	}
}

// serve runs the request; it reports whether ex may be reused (no
// goroutine can still touch it).
func (ex *exchange) serve() (reusable bool) {
	r := ex.r
	if ex.up.EnableWebsocket {
		ex.upgrade = upgradeType(r.Header)
	}
	switch {
	case r.ContentLength > 0 && r.ContentLength <= inlineMax:
		if err := ex.readInline(); err != nil {
			ex.fail(err)
			return true
		}
	case r.ContentLength != 0:
		ex.streaming = true
	}
	if err := ex.proxy(); err != nil {
		ex.fail(err)
	}
	if ex.sendDone != nil {
		select {
		case <-ex.sendDone:
		default:
			return false // the body sender still reads the request
		}
	}
	return true
}

func (ex *exchange) reset() {
	ex.px, ex.w, ex.r, ex.up, ex.data = nil, nil, nil, nil, nil
	ex.upgrade, ex.streaming, ex.sent, ex.unflushed = "", false, false, false
	ex.tried = ex.tried[:0]
	ex.hs = ""
	ex.sendErr.Store(nil)
	ex.sendDone = nil
	ex.body = ex.body[:0]
	// Keep ordinary buffers, not the rare huge ones.
	if cap(ex.hbuf) > 8<<10 {
		ex.hbuf = nil
	}
	if cap(ex.long) > 8<<10 {
		ex.long = nil
	}
	if cap(ex.head) > 16<<10 {
		ex.head = make([]byte, 0, 1024)
	}
}

// proxy runs the tries; nil means a response (or a tunnel) was served.
func (ex *exchange) proxy() error {
	up := ex.up
	var start time.Time
	if up.RetryTimeout > 0 {
		start = time.Now()
	}
	tries := max(up.Tries, 1)
	var lastErr error
	for try := 0; try < tries; try++ {
		if try > 0 && up.RetryTimeout > 0 && time.Since(start) > up.RetryTimeout {
			break
		}
		node, err := up.Pick(ex.data, try, ex.tried)
		if err != nil {
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		ex.tried = append(ex.tried, node)
		np := ex.px.pool(&up.Pool, node)
		ex.head = ex.appendHead(ex.head[:0], hostFor(up, ex.r.Host, np))
		ex.head = append(ex.head, ex.body...)
		began := time.Now()
		c, err := ex.attempt(np)
		ex.report(node, began, err)
		if err == nil {
			if ex.res.status == http.StatusSwitchingProtocols {
				ex.tunnel(c)
				return nil
			}
			ex.respond(c, np)
			return nil
		}
		lastErr = err
		if !ex.retryable(err) {
			break
		}
	}
	return lastErr
}

// report hands the outcome of one try to the balancer: the one place where
// it is known. On success ex.res.status is the upstream's status; a failed
// try is a connect error, a timeout (isTimeout) or an invalid response.
func (ex *exchange) report(n Node, began time.Time, err error) {
	if ex.up.Done != nil {
		status := 0
		if err == nil {
			status = ex.res.status
		}
		ex.up.Done(ex.data, n, time.Since(began), status, err)
	}
}

// attempt gets a connection to the node and runs the request on it up to
// the response head. A kept-alive connection the upstream closed while it
// was idle is replaced by a new one and the request sent again, when that
// is safe: nothing of the response arrived and nothing of the body
// streamed (nginx does not count this against the tries either).
func (ex *exchange) attempt(np *nodePool) (*conn, error) {
	pool := &ex.up.Pool
	c := np.get()
	if c != nil {
		c.reused = true
	} else {
		var err error
		if c, err = np.dial(pool.Connect); err != nil {
			return nil, err
		}
	}
	for {
		err := ex.roundTrip(c)
		if err == nil {
			return c, nil
		}
		stale := c.reused && c.nread.Load() == 0 && !ex.sent && lostConn(err)
		c.close()
		if !stale {
			return nil, err
		}
		if c, err = np.dial(pool.Connect); err != nil {
			return nil, err
		}
	}
}

// lostConn reports an error from a connection closed or reset under the
// request, as opposed to a timeout, an abort or a malformed response.
func lostConn(err error) bool {
	return !isTimeout(err) && !errors.Is(err, errAborted) && !errors.Is(err, errClientGone) && !errors.Is(err, errBadResponse)
}

// roundTrip sends the request on c and reads the response head, passing
// on interim (1xx) responses.
func (ex *exchange) roundTrip(c *conn) error {
	pool := &ex.up.Pool
	c.use(ex.r.Context(), pool.Read, pool.Send)
	if ex.streaming {
		c.waitForBody()
	}
	if _, err := c.Write(ex.head); err != nil {
		return fmt.Errorf("send request head: %w", err)
	}
	// The upstream cannot have answered in the microsecond since the write:
	// reading now fails with EAGAIN and parks on the poller. Other requests
	// run first instead, and the read then usually finds the response: one
	// read(2) and one poller round trip less per request (8% of the CPU per
	// proxied request under load; a no-op when nothing else is runnable).
	runtime.Gosched()
	if ex.streaming {
		ex.sent = true
		ex.sendDone = make(chan struct{})
		go ex.sendBody(c, ex.sendDone)
	}
	for interim := 0; ; interim++ {
		if err := ex.readHead(c); err != nil {
			if p := ex.sendErr.Load(); p != nil && errors.Is(err, errAborted) {
				return *p // the body sender gave up first
			}
			return fmt.Errorf("read response head: %w", err)
		}
		status := ex.res.status
		switch {
		case status == http.StatusSwitchingProtocols:
			if ex.upgrade == "" || !strings.EqualFold(ex.res.upgrade, ex.upgrade) {
				return fmt.Errorf("%w: switch to %q when %q was asked for", errBadResponse, ex.res.upgrade, ex.upgrade)
			}
			return nil
		case status >= 200:
			return nil
		case interim == maxInterim:
			return fmt.Errorf("%w: too many 1xx responses", errBadResponse)
		case status != http.StatusContinue:
			// 100 answers an Expect the gateway does not send; others
			// (103 Early Hints) go to the client.
			ex.forwardInterim()
		}
	}
}

// respond sends the upstream's response to the client and then keeps the
// connection for reuse or closes it.
func (ex *exchange) respond(c *conn, np *nodePool) {
	res := &ex.res
	h := ex.w.Header()
	ex.copyHeader(h)
	if res.status >= 500 || ex.up.ShowStatus {
		h["X-Apisix-Upstream-Status"] = statusValue(res.status)
	}
	ex.w.WriteHeader(res.status)
	if err := ex.copyBody(c); err != nil {
		// The response is cut short: closing the client connection is the
		// only way to tell the client (net/http does it on this panic
		// without logging).
		c.close()
		panic(http.ErrAbortHandler)
	}
	keep := res.keepAlive && c.br.Buffered() == 0 && !c.aborted.Load()
	if ex.sendDone != nil {
		select {
		case <-ex.sendDone:
			keep = keep && ex.sendErr.Load() == nil
		default:
			// The upstream answered before the body was sent: the
			// connection is in an unknown state, and closing it stops the
			// sender.
			keep = false
		}
	}
	if keep {
		np.put(c, ex.up.Pool.Size, ex.up.Pool.IdleTimeout)
	} else {
		c.close()
	}
}

// forwardInterim sends a 1xx response with its own fields, which do not
// stay for the final response.
func (ex *exchange) forwardInterim() {
	h := ex.w.Header()
	var added []string
	for _, sp := range ex.spans {
		k := ex.hs[sp.ks:sp.ke]
		if skipResponseHeader(k) {
			continue
		}
		if _, ok := h[k]; !ok {
			added = append(added, k)
		}
		h[k] = append(h[k], ex.hs[sp.vs:sp.ve])
	}
	ex.w.WriteHeader(ex.res.status)
	for _, k := range added {
		delete(h, k)
	}
}

// retryable is nginx's `proxy_next_upstream error timeout`: a connection
// error or a timeout, and only while the request can still be sent again
// whole.
func (ex *exchange) retryable(err error) bool {
	var clientErr *clientBodyError
	if ex.sent || errors.Is(err, errAborted) || errors.Is(err, errClientGone) || errors.As(err, &clientErr) {
		return false
	}
	var de *dialError
	return errors.As(err, &de) || isTimeout(err)
}

// fail answers the error of the last try, as nginx would.
func (ex *exchange) fail(err error) {
	if ex.r.Context().Err() != nil || errors.Is(err, errClientGone) {
		return // the client went away: nginx logs 499 and answers nothing
	}
	var tooBig *http.MaxBytesError
	var clientErr *clientBodyError
	switch {
	case errors.As(err, &tooBig):
		// A chunked body outgrew client_max_body_size on the way.
		WriteError(ex.w, http.StatusRequestEntityTooLarge)
		return
	case errors.As(err, &clientErr) && isTimeout(clientErr.error):
		// client_body_timeout: nginx's 408.
		WriteError(ex.w, http.StatusRequestTimeout)
		return
	case errors.As(err, &clientErr):
		WriteError(ex.w, http.StatusBadRequest)
		return
	}
	code := http.StatusBadGateway
	if isTimeout(err) {
		code = http.StatusGatewayTimeout
	}
	ex.w.Header()["X-Apisix-Upstream-Status"] = statusValue(code)
	WriteError(ex.w, code)
}

// IsTimeout reports whether a try failed by a connect, send or read
// timeout (a 504), as opposed to another failure (a 502).
func IsTimeout(err error) bool { return isTimeout(err) }

// IsResolveError reports whether a try failed before any connection: the
// node's name did not resolve. The node itself is not at fault.
func IsResolveError(err error) bool {
	var re *resolveError
	return errors.As(err, &re)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// hostFor is the Host header sent upstream (pass_host).
func hostFor(up *Upstream, inHost string, np *nodePool) string {
	switch up.PassHost {
	case "node":
		n := np.key.node
		if n.Port == 80 && up.Pool.Scheme == "http" || n.Port == 443 && up.Pool.Scheme == "https" {
			return n.Host
		}
		return np.hostport
	case "rewrite":
		return up.UpstreamHost
	default:
		return inHost
	}
}

// hostOnly strips the port from a Host header value (and the brackets of
// an IPv6 literal), without net.SplitHostPort's error allocation for a
// value without port.
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		return h[:i]
	}
	return h
}

// statusValues are the header values of X-APISIX-Upstream-Status, shared
// (net/http only reads them).
var statusValues = func() (v [600][]string) {
	for code := 100; code < 600; code++ {
		v[code] = []string{strconv.Itoa(code)}
	}
	return v
}()

func statusValue(code int) []string {
	if code < len(statusValues) {
		return statusValues[code]
	}
	return []string{strconv.Itoa(code)}
}
