package worker

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/worker/extplugin"
	"github.com/portico-gw/portico/worker/proxy"
	"github.com/portico-gw/portico/worker/router"
)

// maxRecorded bounds the upstream response an ext-plugin-post-resp route
// holds in memory: the runner may ask for the whole body, and one RPC
// frame carries at most 2^24-1 bytes. A larger response answers 502.
const maxRecorded = 1<<24 - 1

// extRequest is one request going through ext-plugin calls: what the
// runner's rewrites changed so far, and the answers to its questions.
type extRequest struct {
	w      *Worker
	rw     http.ResponseWriter
	r      *http.Request
	vars   *reqVars
	t      *target
	uri    string // $uri: the normalized path
	port   string
	filter *router.Request

	upstreamPath string // set by a rewrite: the upstream path (decoded)
	respHeaders  []extplugin.Entry
	body         []byte // the request body, once read or replaced
	bodyRead     bool
	bodyErr      error
	respBody     []byte // the upstream response, during post-resp calls
}

// serveWithPlugins runs the global rules' and the route's ext-plugin calls
// around proxying (spec 8): request calls in order, each able to stop the
// request or rewrite it; then, for post-resp, the upstream response is
// read whole and handed to the runner before the client sees it.
func (w *Worker) serveWithPlugins(rw http.ResponseWriter, r *http.Request, t *target, global *chain, req *router.Request, port string, vars *reqVars) {
	x := &extRequest{w: w, rw: rw, r: r, vars: vars, t: t, uri: req.Path, port: port, filter: req}
	for _, ch := range [2]*chain{global, t.plugins} {
		if ch == nil {
			continue
		}
		for _, c := range ch.req {
			if !x.applies(c) {
				continue
			}
			res, err := w.ext.CallRequest(r.Context(), c.key, c.entries, x.request(), x)
			if err != nil {
				if x.fail(c, err) {
					return
				}
				continue
			}
			if res.Stop != nil {
				x.stop(res.Stop)
				return
			}
			if res.Rewrite != nil {
				x.rewrite(res.Rewrite)
			}
		}
	}
	out := rw
	if len(x.respHeaders) > 0 {
		out = &respHeaderWriter{ResponseWriter: rw, set: x.respHeaders}
	}
	var resp []*extCall
	for _, ch := range [2]*chain{global, t.plugins} {
		if ch != nil {
			for _, c := range ch.resp {
				if x.applies(c) {
					resp = append(resp, c)
				}
			}
		}
	}
	if len(resp) == 0 {
		w.proxy.Serve(out, r, t.upstream, "http", port, vars)
		return
	}
	rec := &respRecorder{header: rw.Header().Clone()}
	w.proxy.Serve(rec, r, t.upstream, "http", port, vars)
	if rec.overflow {
		w.logExtFailure(t, extPostResp, errors.New("upstream response larger than an RPC frame"))
		proxy.WriteError(rw, http.StatusBadGateway)
		return
	}
	// A response the gateway made itself (no upstream answered) is not
	// the upstream's: APISIX answers it without calling the runner.
	if vars.upstreamStatus != 0 {
		x.respBody = rec.body.Bytes()
		for _, c := range resp {
			res, err := w.ext.CallResponse(r.Context(), c.key, c.entries, &extplugin.Response{Status: rec.status, Headers: appendEntries(nil, rec.header)}, x)
			if err != nil {
				if x.fail(c, err) {
					return
				}
				continue
			}
			rec.apply(res)
			x.respBody = rec.body.Bytes()
		}
	}
	rec.writeTo(out, r.Method == http.MethodHead)
}

// applies evaluates c's _meta.filter.
func (x *extRequest) applies(c *extCall) bool { return c.filter == nil || c.filter.Eval(x.filter) }

// fail handles a failed call: with allow_degradation the request goes on
// as if the plugin were absent; otherwise it is answered 503 (413 when the
// runner asked for a body over client_max_body_size) and fail reports true.
func (x *extRequest) fail(c *extCall, err error) (answered bool) {
	x.w.logExtFailure(x.t, c.plugin, err)
	if c.allowDegradation {
		return false
	}
	var tooBig *http.MaxBytesError
	if errors.As(x.bodyErr, &tooBig) {
		proxy.WriteError(x.rw, http.StatusRequestEntityTooLarge)
		return true
	}
	proxy.WriteError(x.rw, http.StatusServiceUnavailable)
	return true
}

// lastExtLog rate-limits failure lines: a dead runner fails every request.
var lastExtLog atomic.Int64

func (w *Worker) logExtFailure(t *target, plugin string, err error) {
	now := time.Now().UnixNano()
	last := lastExtLog.Load()
	if now-last < int64(time.Second) || !lastExtLog.CompareAndSwap(last, now) {
		return
	}
	w.env.Log.Error().Err(err).Str("route", t.routeID).Str("plugin", plugin).Msg("ext-plugin call failed (at most one such line per second)")
}

// request describes r to the runner as HTTPReqCall (spec 8.2).
func (x *extRequest) request() *extplugin.Request {
	r := x.r
	req := &extplugin.Request{Method: r.Method, Path: x.uri, Args: queryEntries(r.URL.RawQuery)}
	if x.upstreamPath != "" {
		req.Path = x.upstreamPath
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		req.SrcIP = ap.Addr().Unmap()
	}
	host := extplugin.Entry{Name: "host", Value: r.Host, HasValue: true}
	req.Headers = appendEntries(append(make([]extplugin.Entry, 0, len(r.Header)+1), host), r.Header)
	return req
}

// queryEntries is the decoded query, one entry per occurrence; `?flag`
// has no value, `?y=` an empty one.
func queryEntries(raw string) []extplugin.Entry {
	out := []extplugin.Entry{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, hasValue := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out = append(out, extplugin.Entry{Name: k, Value: v, HasValue: hasValue})
	}
	return out
}

// stop answers the request with the runner's response: the first header of
// a name sets it, later ones add.
func (x *extRequest) stop(s *extplugin.Stop) {
	h := x.rw.Header()
	setHeaders(h, s.Headers)
	if len(s.Body) > 0 {
		h["Content-Length"] = []string{strconv.Itoa(len(s.Body))}
	}
	x.rw.WriteHeader(s.Status)
	x.rw.Write(s.Body)
}

// rewrite applies a Rewrite action to the request sent upstream.
func (x *extRequest) rewrite(rw *extplugin.Rewrite) {
	r := x.r
	uriChanged := false
	if rw.Path != "" {
		x.upstreamPath = rw.Path
		uriChanged = true
	}
	for _, e := range rw.Headers {
		if strings.EqualFold(e.Name, "host") {
			if e.HasValue {
				r.Host = e.Value
			}
			continue
		}
		if e.HasValue {
			r.Header.Set(e.Name, e.Value)
		} else {
			r.Header.Del(e.Name)
		}
	}
	if len(rw.Args) > 0 {
		r.URL.RawQuery = encodeQuery(applyArgs(queryEntries(r.URL.RawQuery), rw.Args))
		uriChanged = true
	}
	if uriChanged {
		path := x.upstreamPath
		var escaped string
		if path != "" {
			// The runner cannot add a query through the path: a `?` is
			// escaped, as APISIX does.
			escaped = (&url.URL{Path: path}).EscapedPath()
		} else if uri := r.RequestURI; strings.HasPrefix(uri, "/") {
			escaped, _, _ = strings.Cut(uri, "?")
		} else {
			escaped = r.URL.EscapedPath()
		}
		if r.URL.RawQuery != "" {
			escaped += "?" + r.URL.RawQuery
		}
		r.RequestURI = escaped
	}
	x.respHeaders = append(x.respHeaders, rw.RespHeaders...)
	if rw.HasBody {
		x.setBody(rw.Body)
	}
}

// applyArgs applies a Rewrite's args in order (spec 8.2): no value deletes
// the name; the first valued entry of a name replaces every existing value,
// later ones append.
func applyArgs(cur, ops []extplugin.Entry) []extplugin.Entry {
	replaced := map[string]bool{}
	for _, op := range ops {
		if !op.HasValue || !replaced[op.Name] {
			kept := cur[:0:0]
			for _, e := range cur {
				if e.Name != op.Name {
					kept = append(kept, e)
				}
			}
			cur = kept
		}
		if op.HasValue {
			replaced[op.Name] = true
			cur = append(cur, op)
		}
	}
	return cur
}

func encodeQuery(args []extplugin.Entry) string {
	var b strings.Builder
	for i, e := range args {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(e.Name))
		if e.HasValue {
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(e.Value))
		}
	}
	return b.String()
}

// setBody makes body what the upstream receives and ReqBody answers.
func (x *extRequest) setBody(body []byte) {
	x.r.Body = io.NopCloser(bytes.NewReader(body))
	x.r.ContentLength = int64(len(body))
	x.r.TransferEncoding = nil
	x.body, x.bodyRead = body, true
}

// Var answers ExtraInfo Var: nginx/APISIX variables.
func (x *extRequest) Var(name string) (string, bool) {
	switch name {
	case "uri":
		return x.uri, true
	case "route_id":
		return x.t.routeID, true
	case "server_port":
		return x.port, true
	case "upstream_uri":
		if x.upstreamPath != "" {
			return x.upstreamPath, true
		}
		return x.r.RequestURI, true
	}
	return x.vars.lookup(name)
}

// ReqBody answers ExtraInfo ReqBody: the whole request body, read once and
// kept for the upstream.
func (x *extRequest) ReqBody() ([]byte, error) {
	if x.bodyRead || x.bodyErr != nil {
		return x.body, x.bodyErr
	}
	if x.r.Body == nil || x.r.Body == http.NoBody {
		x.bodyRead = true
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(x.r.Body, maxRecorded+1))
	if err == nil && len(body) > maxRecorded {
		err = errors.New("request body larger than an RPC frame")
	}
	if err != nil {
		x.bodyErr = err
		return nil, err
	}
	x.setBody(body)
	return body, nil
}

// RespBody answers ExtraInfo RespBody during post-resp calls.
func (x *extRequest) RespBody() ([]byte, error) { return x.respBody, nil }

// appendEntries appends h as TextEntries, names lower-cased, one per value.
func appendEntries(out []extplugin.Entry, h http.Header) []extplugin.Entry {
	for k, vs := range h {
		lk := strings.ToLower(k)
		for _, v := range vs {
			out = append(out, extplugin.Entry{Name: lk, Value: v, HasValue: true})
		}
	}
	return out
}

// setHeaders applies runner headers to h: the first valued entry of a name
// replaces what h has, later ones add; an entry without a value deletes
// the name.
func setHeaders(h http.Header, es []extplugin.Entry) {
	seen := map[string]bool{}
	for _, e := range es {
		k := http.CanonicalHeaderKey(e.Name)
		if !e.HasValue {
			delete(h, k)
			continue
		}
		if seen[k] {
			h[k] = append(h[k], e.Value)
			continue
		}
		seen[k] = true
		h[k] = []string{e.Value}
	}
}

// respHeaderWriter puts a Rewrite's resp_headers on the client response
// once the upstream's headers are in place.
type respHeaderWriter struct {
	http.ResponseWriter
	set     []extplugin.Entry
	written bool
}

func (w *respHeaderWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		setHeaders(w.ResponseWriter.Header(), w.set)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respHeaderWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush and Unwrap keep streaming and WebSocket upgrades working through
// the wrapper.
func (w *respHeaderWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *respHeaderWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// respRecorder holds the upstream response of a post-resp route.
type respRecorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (rec *respRecorder) Header() http.Header { return rec.header }

func (rec *respRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *respRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.body.Len()+len(b) > maxRecorded {
		rec.overflow = true
		return 0, errors.New("response too large to hand to the plugin runner")
	}
	return rec.body.Write(b)
}

// Flush is a no-op: the client gets the response once the runner is done.
func (rec *respRecorder) Flush() {}

// apply puts the runner's answer on the recorded response: a status, the
// changed headers on top of the upstream's, a new body.
func (rec *respRecorder) apply(res *extplugin.RespResult) {
	if res.Status != 0 {
		rec.status = res.Status
	}
	setHeaders(rec.header, res.Headers)
	if res.HasBody {
		rec.body.Reset()
		rec.body.Write(res.Body)
	}
}

// writeTo sends the response; head: the request was HEAD, whose
// Content-Length is the upstream's.
func (rec *respRecorder) writeTo(w http.ResponseWriter, head bool) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	for k, vs := range rec.header {
		h[k] = vs
	}
	delete(h, "Transfer-Encoding")
	if !head || rec.body.Len() > 0 {
		h["Content-Length"] = []string{strconv.Itoa(rec.body.Len())}
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(rec.body.Bytes())
}
