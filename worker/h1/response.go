package h1

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// deferLimit is how much body a response without a Content-Length may
// write before its head is sent: a body that ends within it gets a
// Content-Length, a longer one is chunked (net/http does the same).
const deferLimit = 2048

// response is the http.ResponseWriter of one request; a connection reuses
// one for all its requests.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // WriteHeader ran (the head may still be deferred)
	committed   bool // the head is in the write buffer
	hijacked    bool
	bodyAllowed bool
	cl          int64 // declared Content-Length, -1 when none
	written     int64
	chunked     bool
	closeAfter  bool
	pending     []byte // body held until the head is decided
	err         error  // a write to the client failed
}

func (w *response) reset(c *conn, req *http.Request) {
	clear(c.header)
	pending := w.pending[:0]
	*w = response{c: c, req: req, header: c.header, cl: -1, pending: pending}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.bodyAllowed = code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
	delete(w.header, "Transfer-Encoding")
	if v := w.header["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
	if w.cl < 0 && w.bodyAllowed && w.req.Method != "HEAD" {
		return // framing decided by what the handler writes
	}
	w.commit(false)
}

// writeInformational sends a 1xx head at once (103 Early Hints, ...),
// except to an HTTP/1.0 client, which knows no 1xx (RFC 9110, 15.2).
func (w *response) writeInformational(code int) {
	if !w.req.ProtoAtLeast(1, 1) {
		return
	}
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	w.writeStatusLine(code)
	w.writeFields()
	w.c.bw.WriteString("\r\n")
	w.flushErr(w.c.bw.Flush())
}

// commit puts the head in the write buffer, framing the body: its declared
// length; the length of what was written when the handler is done
// (finishing); chunked otherwise, or a close at its end for HTTP/1.0.
func (w *response) commit(finishing bool) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	w.committed = true
	h := w.header
	switch {
	case !w.bodyAllowed:
		if w.status == http.StatusNoContent || w.status < 200 {
			delete(h, "Content-Length")
		}
	case w.cl >= 0:
	case finishing:
		w.cl = int64(len(w.pending))
		h["Content-Length"] = []string{strconv.Itoa(len(w.pending))}
	case w.req.Method == "HEAD":
	case w.req.ProtoAtLeast(1, 1):
		w.chunked = true
		h["Transfer-Encoding"] = chunkedValue
	default:
		w.closeAfter = true
	}
	askedClose := httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	if w.req.Close || w.c.srv.shutdown.Load() || askedClose {
		w.closeAfter = true
	}
	if w.closeAfter {
		if !askedClose {
			h["Connection"] = closeValue
		}
	} else if !w.req.ProtoAtLeast(1, 1) {
		h["Connection"] = keepAliveValue
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = date()
	}
	w.writeStatusLine(w.status)
	w.writeFields()
	w.c.bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

var (
	chunkedValue   = []string{"chunked"}
	closeValue     = []string{"close"}
	keepAliveValue = []string{"keep-alive"}
)

func (w *response) writeStatusLine(code int) {
	bw := w.c.bw
	bw.WriteString("HTTP/1.1 ")
	var b [3]byte
	bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
}

// writeFields writes the header in name order, leaving out fields with
// invalid names and turning CR and LF in values into spaces, so nothing a
// handler sets can split the response.
func (w *response) writeFields() {
	c := w.c
	c.keys = c.keys[:0]
	for k := range w.header {
		c.keys = append(c.keys, k)
	}
	slices.Sort(c.keys)
	for _, k := range c.keys {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range w.header[k] {
			c.bw.WriteString(k)
			c.bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			c.bw.WriteString(strings.TrimSpace(v))
			c.bw.WriteString("\r\n")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed {
		return 0, http.ErrBodyNotAllowed
	}
	if w.req.Method == "HEAD" {
		return len(p), nil
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.pending)+len(p) <= deferLimit {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

func (w *response) writeBody(p []byte) {
	bw := w.c.bw
	if w.chunked {
		if len(p) == 0 {
			// A chunk of size 0 is the last one: an empty Write must not
			// end the body.
			return
		}
		var b [16]byte
		bw.Write(strconv.AppendInt(b[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		w.flushErr(err)
		return
	}
	_, err := bw.Write(p)
	w.flushErr(err)
}

func (w *response) flushErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.closeAfter = true
	}
}

// Flush sends the head (chunked if no length is known) and what was
// written so far.
func (w *response) Flush() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	w.flushErr(w.c.bw.Flush())
}

// FlushError is Flush reporting a failed write (http.ResponseController
// prefers it).
func (w *response) FlushError() error {
	w.Flush()
	return w.err
}

// Hijack hands the connection to the handler, with what the server
// buffered from it.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	c.watch.Stop()
	c.cr.endRequest()
	if w.committed {
		w.flushErr(c.bw.Flush())
	}
	w.hijacked = true
	c.setReadDeadline(time.Time{})
	c.nc.SetWriteDeadline(time.Time{})
	c.srv.setState(c, http.StateHijacked)
	return c.nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.chunked {
		_, err := w.c.bw.WriteString("0\r\n\r\n")
		w.flushErr(err)
	}
	if w.bodyAllowed && w.req.Method != "HEAD" && w.cl >= 0 && w.written < w.cl {
		// The client would wait for bytes that never come.
		w.closeAfter = true
	}
}

// date is the Date header's value, formatted once a second and shared
// (read-only) by every response of that second.
func date() []string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.vals
	}
	d := &dateText{unix: now, vals: []string{time.Unix(now, 0).UTC().Format(http.TimeFormat)}}
	cachedDate.Store(d)
	return d.vals
}

type dateText struct {
	unix int64
	vals []string
}

var cachedDate atomic.Pointer[dateText]
