package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// slowRequest is how long a request runs before a background read starts
// watching its connection for a client that went away.
const slowRequest = 250 * time.Millisecond

// maxDrain is how much of a request body the handler left unread is read
// and discarded to keep the connection; more closes it (net/http's figure).
const maxDrain = 256 << 10

// aLongTimeAgo is a deadline that makes a blocked read return at once.
var aLongTimeAgo = time.Unix(1, 0)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv      *Server
	nc       net.Conn
	accepted time.Time
	state    atomic.Int32 // http.ConnState
	remote   string
	// headStart is when the current request's first byte arrived.
	headStart time.Time

	// ctx is every request's context: cancelled when the background read
	// finds the client gone, and when the connection ends.
	ctx    context.Context
	cancel context.CancelFunc

	cr connReader
	cw connWriter
	br *bufio.Reader
	bw *bufio.Writer

	res response
	// bodyDone: the current request has no body left to read (the watch
	// timer reads it).
	bodyDone atomic.Bool
	// wmu orders a 100 Continue, which the goroutine reading the body may
	// send, with the response head.
	wmu    sync.Mutex
	header http.Header // reused by every response on the connection
	keys   []string    // scratch for writing header fields in order
	watch  *time.Timer // starts the background read of a slow request
	// rdArmed and wrArmed are when the body-read and send deadlines were
	// last set; re-arming is skipped while they are fresh (see arm).
	rdArmed, wrArmed time.Time
	// linger: the client may still be sending (a refused head, an unread
	// body), so closing at once could reset the connection before it has
	// read our answer.
	linger bool
}

// lingerTime bounds how long a closing connection reads and discards what
// the client still sends (nginx's lingering_close, shorter).
const lingerTime = 500 * time.Millisecond

func (c *conn) lingerClose() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.nc.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	var buf [4096]byte
	for {
		if _, err := c.nc.Read(buf[:]); err != nil {
			return
		}
	}
}

func (c *conn) serve() {
	defer c.close()
	defer func() {
		// A handler's panic ends its connection only. ErrAbortHandler is
		// how a handler asks for exactly that, and is not reported.
		if v := recover(); v != nil && v != http.ErrAbortHandler && c.srv.OnPanic != nil {
			c.srv.OnPanic(v, debug.Stack())
		}
	}()
	c.remote = c.nc.RemoteAddr().String()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.cr = connReader{c: c, limit: -1}
	c.cr.cond.L = &c.cr.mu
	c.cw.c = c
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.cr)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(&c.cw)
	c.header = make(http.Header, 8)
	c.watch = time.AfterFunc(time.Hour, c.slow)
	c.watch.Stop()

	for first := true; ; first = false {
		if !c.awaitRequest(first) {
			return
		}
		req, err := c.readRequest()
		if err != nil {
			c.refuse(req, err)
			return
		}
		if !c.serveRequest(req) || c.srv.shutdown.Load() {
			return
		}
		c.srv.setState(c, http.StateIdle)
	}
}

func (c *conn) close() {
	if c.watch != nil {
		c.watch.Stop()
	}
	if c.cancel != nil {
		c.cancel()
	}
	if http.ConnState(c.state.Load()) == http.StateHijacked {
		return
	}
	c.cr.abortPendingRead()
	if c.linger {
		c.lingerClose()
	}
	c.nc.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.br, c.bw = nil, nil
	}
	c.srv.setState(c, http.StateClosed)
}

// awaitRequest waits for the first byte of a request: for the head's
// timeout on a new connection (nginx's client_header_timeout), for the
// keep-alive timeout between requests. Nothing arriving closes silently.
func (c *conn) awaitRequest(first bool) bool {
	wait := orDefault(c.srv.HeaderTimeout, defaultHeaderTimeout)
	if !first {
		wait = orDefault(c.srv.IdleTimeout, defaultIdleTimeout)
	}
	c.setReadDeadline(time.Now().Add(wait))
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	c.headStart = time.Now()
	if !first {
		c.setReadDeadline(c.headStart.Add(orDefault(c.srv.HeaderTimeout, defaultHeaderTimeout)))
	}
	c.srv.setState(c, http.StateActive)
	return true
}

// Errors readRequest reports for refuse to answer.
var (
	errHeaderTooLarge = errors.New("request head larger than the limit")
	errVersion        = errors.New("unsupported HTTP version")
	errExpect         = errors.New("unsupported Expect")
)

type badRequestError string

func (e badRequestError) Error() string { return string(e) }

func (c *conn) readRequest() (*http.Request, error) {
	c.cr.startHead(int64(orDefault(c.srv.MaxHeaderBytes, defaultMaxHeaderBytes)), c.buffered())
	req, err := http.ReadRequest(c.br)
	head, hit := c.cr.endHead()
	if req != nil {
		req.RemoteAddr = c.remote
	}
	if hit {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		return nil, err
	}
	if req.ProtoMajor != 1 {
		return req, errVersion
	}
	// The checks net/http's server makes beyond parsing.
	switch {
	case req.Host == "" && req.ProtoAtLeast(1, 1) && req.Method != "CONNECT":
		return req, badRequestError("missing Host header")
	case req.TransferEncoding != nil && lengthAndChunked(head):
		// http.ReadRequest lets Transfer-Encoding override (and delete) a
		// Content-Length. A proxy in front that framed the request by its
		// length would disagree with us about where it ends, so nginx
		// refuses such a request, and so do we (the connection closes).
		return req, badRequestError("both Content-Length and Transfer-Encoding")
	case !httpguts.ValidHostHeader(req.Host):
		return req, badRequestError("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return req, badRequestError("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return req, badRequestError("invalid header value")
			}
		}
	}
	return req.WithContext(c.ctx), nil
}

// buffered is what the reader holds, without reading more.
func (c *conn) buffered() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return b
}

// lengthAndChunked reports whether the request head at the start of b has
// both Content-Length and Transfer-Encoding.
func lengthAndChunked(b []byte) bool {
	end := headEnd(b)
	if end < 0 {
		return false
	}
	cl, te := false, false
	for line := range bytes.SplitSeq(b[:end], []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		cl = cl || isField(line, "content-length")
		te = te || isField(line, "transfer-encoding")
	}
	return cl && te
}

// isField reports whether line is a field named name (in lower case).
func isField(line []byte, name string) bool {
	return len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name))
}

// refuse answers a request that could not be read (req, when its head
// parsed), then the connection closes. A client that sent nothing more, or
// went away, gets nothing.
func (c *conn) refuse(req *http.Request, err error) {
	var code int
	var ne net.Error
	switch {
	case errors.Is(err, errHeaderTooLarge):
		code = http.StatusRequestHeaderFieldsTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		code = http.StatusRequestTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), c.cr.err != nil:
		return
	case errors.Is(err, errVersion):
		code = http.StatusHTTPVersionNotSupported
	default:
		code = http.StatusBadRequest
	}
	c.linger = true
	c.answer(req, code)
}

// answer sends a status of the server's own (400, 408, 417, 431, ...)
// through Refuse and closes. req is the request's parsed head, or nil.
func (c *conn) answer(req *http.Request, code int) {
	if req == nil {
		req = &http.Request{RemoteAddr: c.remote, URL: &url.URL{}, Header: http.Header{}}
	}
	// The response is written as to an HTTP/1.1 GET (a body, then a close),
	// whatever the refused request said.
	c.res.reset(c, &http.Request{Method: "GET", ProtoMajor: 1, ProtoMinor: 1, Close: true})
	if c.srv.Refuse != nil {
		c.srv.Refuse(&c.res, &Refusal{Status: code, Request: req, Start: c.headStart})
	} else {
		c.res.WriteHeader(code)
	}
	c.res.finish()
	c.bw.Flush()
}

// serveRequest runs the handler and completes the response; it reports
// whether the connection may carry another request.
func (c *conn) serveRequest(req *http.Request) bool {
	expect := false
	if e := req.Header.Get("Expect"); e != "" {
		if !strings.EqualFold(e, "100-continue") {
			c.linger = true
			c.answer(req, http.StatusExpectationFailed)
			return false
		}
		// HTTP/1.0 has no 100 (Continue): its client sends the body
		// unprompted, and the expectation is ignored (RFC 9110, 10.1.1).
		expect = req.ProtoAtLeast(1, 1) && req.ContentLength != 0
		delete(req.Header, "Expect")
	}
	c.res.reset(c, req)
	var body *requestBody
	if req.Body != http.NoBody && req.Body != nil {
		// One per request: a goroutine of the handler may still hold it
		// after the handler returned (see close).
		body = &requestBody{c: c, rc: req.Body, expect: expect}
		req.Body = body
		c.bodyDone.Store(false)
	} else {
		c.bodyDone.Store(true)
	}
	c.cr.startRequest()
	c.watch.Reset(slowRequest)

	c.srv.Handler.ServeHTTP(&c.res, req)

	c.watch.Stop()
	c.cr.endRequest()
	if c.res.hijacked {
		return false
	}
	if body != nil && !body.finish(!c.res.closeAfter) {
		c.res.closeAfter = true
		c.linger = true
	}
	c.res.finish()
	if err := c.bw.Flush(); err != nil {
		return false
	}
	return !c.res.closeAfter && c.cr.err == nil
}

// slow runs on a timer while a request is in flight: once the request body
// has been read, a background read watches for the client going away.
func (c *conn) slow() {
	if !c.bodyDone.Load() {
		c.watch.Reset(slowRequest)
		return
	}
	c.cr.startBackgroundRead()
}

func (c *conn) setReadDeadline(t time.Time) {
	c.rdArmed = time.Time{}
	c.nc.SetReadDeadline(t)
}

// arm sets a deadline of now+d unless one set less than d/8 ago is still
// in force: the timeout then runs between 7/8 and all of d after the last
// operation, and busy connections skip most deadline updates.
func arm(armed *time.Time, d time.Duration, set func(time.Time) error) {
	now := time.Now()
	if !armed.IsZero() && now.Sub(*armed) < d/8 {
		return
	}
	*armed = now
	set(now.Add(d))
}

// connReader reads the client connection for the bufio.Reader: it limits
// the request head and hands over a byte the background read took.
type connReader struct {
	c        *conn
	limit    int64 // bytes left for the head; -1 outside it
	hitLimit bool
	// head records the bytes of the request head being read (and what
	// followed it in the same reads), for the checks http.ReadRequest
	// leaves undone. Reused; dropped when a large head grew it.
	head []byte

	mu       sync.Mutex
	cond     sync.Cond
	inFlight bool // a request is being handled
	bgRead   bool // the background read is running
	aborting bool
	hasByte  bool
	byteBuf  [1]byte
	err      error // the background read found the connection ended
}

// maxKeptHead is the largest head buffer kept for the next request.
const maxKeptHead = 8 << 10

// startHead starts reading a request head of at most limit bytes more,
// recording it from what the buffer already holds.
func (cr *connReader) startHead(limit int64, buffered []byte) {
	cr.head = append(cr.head[:0], buffered...)
	cr.limit, cr.hitLimit = limit, false
	if end := headEnd(buffered); end >= 0 {
		// The whole head was read with the first bytes: only its size
		// can be over.
		cr.hitLimit = int64(end) > limit
	} else {
		// Everything buffered belongs to the head; 0 refuses the next read.
		cr.limit = max(limit-int64(len(buffered)), 0)
	}
}

// headEnd is the length of the request head at the start of b (through its
// empty line, which http.ReadRequest also accepts as a bare LF), or -1 when
// b does not hold all of it.
func headEnd(b []byte) int {
	end := -1
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		end = i + 4
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 && (end < 0 || i+2 < end) {
		end = i + 2
	}
	return end
}

// endHead ends the head: it returns the bytes recorded (valid until the
// next startHead) and whether the head hit its limit.
func (cr *connReader) endHead() (head []byte, hitLimit bool) {
	head, hitLimit = cr.head, cr.hitLimit
	cr.limit, cr.hitLimit = -1, false
	if cap(cr.head) > maxKeptHead {
		cr.head = nil
	}
	return head, hitLimit
}

func (cr *connReader) Read(p []byte) (int, error) {
	cr.abortPendingRead()
	if cr.limit == 0 {
		cr.hitLimit = true
		return 0, io.EOF
	}
	if cr.limit > 0 && int64(len(p)) > cr.limit {
		p = p[:cr.limit]
	}
	cr.mu.Lock()
	if cr.hasByte {
		cr.hasByte = false
		p[0] = cr.byteBuf[0]
		cr.mu.Unlock()
		cr.count(p[:1])
		return 1, nil
	}
	if err := cr.err; err != nil {
		cr.mu.Unlock()
		return 0, err
	}
	cr.mu.Unlock()
	n, err := cr.c.nc.Read(p)
	cr.count(p[:n])
	return n, err
}

// count charges what was read to the head, if one is being read.
func (cr *connReader) count(b []byte) {
	if cr.limit > 0 {
		cr.limit -= int64(len(b))
		cr.head = append(cr.head, b...)
	}
}

func (cr *connReader) startRequest() {
	cr.mu.Lock()
	cr.inFlight = true
	cr.mu.Unlock()
}

func (cr *connReader) endRequest() {
	cr.mu.Lock()
	cr.inFlight = false
	cr.mu.Unlock()
	cr.abortPendingRead()
}

func (cr *connReader) startBackgroundRead() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.inFlight || cr.bgRead || cr.hasByte || cr.err != nil {
		return
	}
	cr.bgRead = true
	cr.c.nc.SetReadDeadline(time.Time{})
	go cr.backgroundRead()
}

func (cr *connReader) backgroundRead() {
	n, err := cr.c.nc.Read(cr.byteBuf[:])
	cr.mu.Lock()
	if n == 1 {
		cr.hasByte = true
	}
	var ne net.Error
	if err != nil && !(cr.aborting && errors.As(err, &ne) && ne.Timeout()) {
		// EOF, reset: the client is gone, and so is any use of its request.
		cr.err = err
		cr.c.cancel()
	}
	cr.bgRead = false
	cr.aborting = false
	cr.mu.Unlock()
	cr.cond.Broadcast()
}

// abortPendingRead stops the background read, if any, and waits for it.
func (cr *connReader) abortPendingRead() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.bgRead {
		return
	}
	cr.aborting = true
	cr.c.nc.SetReadDeadline(aLongTimeAgo)
	for cr.bgRead {
		cr.cond.Wait()
	}
	cr.c.setReadDeadline(time.Time{})
}

// connWriter writes the response to the client under send_timeout.
type connWriter struct{ c *conn }

func (cw *connWriter) Write(p []byte) (int, error) {
	c := cw.c
	if c.res.hijacked {
		// The bufio.Writer Hijack returned: the connection is the
		// handler's, and so are its deadlines.
		return c.nc.Write(p)
	}
	// nginx's send_timeout runs between two writes, not over a whole
	// response: a large Write goes out in pieces, each of which may move
	// the deadline, so a client that keeps reading is never cut off.
	d := orDefault(c.srv.SendTimeout, defaultSendTimeout)
	n := 0
	for {
		piece := p[n:]
		if len(piece) > sendPiece {
			piece = piece[:sendPiece]
		}
		arm(&c.wrArmed, d, c.nc.SetWriteDeadline)
		m, err := c.nc.Write(piece)
		n += m
		if err != nil || n == len(p) {
			return n, err
		}
	}
}

// sendPiece is the most one write to the client carries, so a client must
// take at least this much per send_timeout to stay connected.
const sendPiece = 64 << 10

// requestBody is the request's body as the handler reads it: 100 Continue
// on the first read, client_body_timeout between reads. Reads are
// serialised, and once the server has finished the body (finish) they fail:
// a goroutine the handler left behind (the proxy's body sender when the
// upstream answered early) can never read the connection's next request.
type requestBody struct {
	c         *conn
	rc        io.ReadCloser
	expect    bool
	mu        sync.Mutex
	continued bool
	eof       bool
	timedOut  bool
	closed    bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.read(p)
}

func (b *requestBody) read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	c := b.c
	if b.expect && !b.continued {
		b.continued = true
		if err := c.sendContinue(); err != nil {
			return 0, err
		}
	}
	arm(&c.rdArmed, orDefault(c.srv.BodyTimeout, defaultBodyTimeout), c.nc.SetReadDeadline)
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		c.bodyDone.Store(true)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		b.timedOut = true
		return n, ErrBodyTimeout
	}
	return n, err
}

func (b *requestBody) Close() error { return nil }

// finish ends the body's use by the handler once it returned, after any
// read still in flight. What the handler left unread is drained when keep
// says the connection may go on; finish reports whether the next request
// can be read (the body was consumed and the client kept to its timeout).
func (b *requestBody) finish(keep bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.timedOut {
		return false
	}
	if b.eof || !keep {
		return b.eof
	}
	if b.expect && !b.continued {
		// The client still waits for 100 Continue before it sends the
		// body; whether it sends it anyway is unknown: close.
		return false
	}
	var buf [4096]byte
	for drained := 0; drained <= maxDrain; {
		n, err := b.read(buf[:])
		drained += n
		if err != nil {
			return err == io.EOF
		}
	}
	return false
}

// sendContinue writes 100 Continue unless the response head went out
// first.
func (c *conn) sendContinue() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.res.committed {
		return nil
	}
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

// ErrBodyTimeout is what a body read returns when the client sent nothing
// for client_body_timeout. It is a net.Error whose Timeout is true.
var ErrBodyTimeout error = bodyTimeoutError{}

type bodyTimeoutError struct{}

func (bodyTimeoutError) Error() string {
	return "client_body_timeout: the client stopped sending the request body"
}
func (bodyTimeoutError) Timeout() bool   { return true }
func (bodyTimeoutError) Temporary() bool { return false }
