package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// inlineMax is the largest request body read before the upstream is
// contacted and sent in the same write as the head (nginx's default
// client_body_buffer_size is 16k on 64-bit). Such a body can be sent again
// on a retry; a larger one, or one of unknown length, streams.
const inlineMax = 16 << 10

// appendHead appends the request head sent upstream for host.
func (ex *exchange) appendHead(b []byte, host string) []byte {
	r := ex.r
	b = append(b, r.Method...)
	b = append(b, ' ')
	if uri := r.RequestURI; len(uri) > 0 && uri[0] == '/' {
		// The path and query exactly as the client sent them.
		b = append(b, uri...)
	} else {
		// Absolute form (or "*"): the origin form of the same target.
		b = append(b, r.URL.RequestURI()...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)

	named := r.Header["Connection"]
	for k, vs := range r.Header {
		if skipRequestHeader(k) || len(named) > 0 && listsToken(named, k) {
			continue
		}
		for _, v := range vs {
			b = appendField(b, k, v)
		}
	}

	clientIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		clientIP = r.RemoteAddr
	}
	b = append(b, "X-Forwarded-For: "...)
	for _, v := range r.Header["X-Forwarded-For"] {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	b = append(b, clientIP...)
	b = append(b, "\r\n"...)
	b = appendField(b, "X-Real-IP", clientIP)
	b = appendField(b, "X-Forwarded-Proto", ex.scheme)
	b = appendField(b, "X-Forwarded-Host", hostOnly(r.Host))
	b = appendField(b, "X-Forwarded-Port", ex.port)

	switch {
	case r.ContentLength > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case r.ContentLength < 0:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case len(r.Header["Content-Length"]) > 0 || r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH":
		b = append(b, "Content-Length: 0\r\n"...)
	}
	switch {
	case ex.upgrade != "":
		b = append(b, "Connection: upgrade\r\n"...)
		b = appendField(b, "Upgrade", ex.upgrade)
	case ex.up.Pool.Size <= 0:
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// skipRequestHeader names the client headers not passed on as they are:
// hop-by-hop ones, those the proxy sets itself, and Expect (the gateway
// answers 100-continue itself when it reads the body, as nginx does).
func skipRequestHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "Content-Length", "Expect",
		"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "Forwarded":
		return true
	}
	return false
}

// listsToken reports whether a Connection header lists name (a header the
// client declared hop-by-hop).
func listsToken(values []string, name string) bool {
	for _, v := range values {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// upgradeType is the protocol a WebSocket-style request asks to switch to,
// or "" when it asks for none.
func upgradeType(h http.Header) string {
	if !listsToken(h["Connection"], "upgrade") {
		return ""
	}
	up := h.Get("Upgrade")
	for i := 0; i < len(up); i++ {
		if up[i] <= ' ' || up[i] >= 0x7f {
			return ""
		}
	}
	return up
}

// readInline reads a body small enough to go with the head.
func (ex *exchange) readInline() error {
	n := int(ex.r.ContentLength)
	if cap(ex.body) < n {
		ex.body = make([]byte, n)
	}
	ex.body = ex.body[:n]
	if _, err := io.ReadFull(ex.r.Body, ex.body); err != nil {
		return &clientBodyError{err}
	}
	return nil
}

// sendBody streams the request body to c after the head: exactly
// ContentLength bytes, or chunked when the length is unknown. It runs on
// its own goroutine, so an upstream that answers before reading the whole
// body is heard. The error goes to ex.sendErr. When the client side fails,
// or the send timeout expires before any of the response arrived, it
// aborts c so the wait for the response ends (with that error) at once.
func (ex *exchange) sendBody(c *conn, done chan<- struct{}) {
	defer close(done)
	err := ex.writeBody(c)
	if err != nil {
		ex.sendErr.Store(&err)
		var cbe *clientBodyError
		if errors.As(err, &cbe) || isTimeout(err) && c.nread.Load() == 0 {
			c.abort()
		}
	}
	// The read timeout runs from the end of the request, as nginx's.
	c.armRead()
}

func (ex *exchange) writeBody(c *conn) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	body := ex.r.Body
	if n := ex.r.ContentLength; n > 0 {
		for n > 0 {
			m, err := body.Read(buf[:min(int64(len(buf)), n)])
			if m > 0 {
				n -= int64(m)
				if _, werr := c.Write(buf[:m]); werr != nil {
					return werr
				}
			}
			if err == io.EOF && n > 0 {
				err = io.ErrUnexpectedEOF
			}
			if err != nil && n > 0 {
				return &clientBodyError{err}
			}
		}
		return nil
	}
	// Chunked: room for the size line before the data and CRLF after it.
	const head = 10
	for {
		m, err := body.Read(buf[head : len(buf)-2])
		if m > 0 {
			size := strconv.AppendInt(buf[:0:head], int64(m), 16)
			start := head - len(size) - 2
			copy(buf[start:], size)
			buf[head-2], buf[head-1] = '\r', '\n'
			buf[head+m], buf[head+m+1] = '\r', '\n'
			if _, werr := c.Write(buf[start : head+m+2]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, werr := c.Write(lastChunk)
			return werr
		}
		if err != nil {
			return &clientBodyError{err}
		}
	}
}

// clientBodyError is a failure reading the request body from the client.
type clientBodyError struct{ error }

func (e *clientBodyError) Unwrap() error { return e.error }

// lastChunk ends a chunked body without trailers.
var lastChunk = []byte("0\r\n\r\n")
