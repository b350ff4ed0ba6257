package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxHeaderBytes bounds a response head (status line and fields), as
// nginx's proxy_buffer_size bounds it; longer is a 502.
const maxHeaderBytes = 64 << 10

// maxChunkLine bounds a chunk-size line (with extensions).
const maxChunkLine = 4 << 10

// maxInterim bounds the 1xx responses before the final one.
const maxInterim = 8

// errBadResponse is an upstream response that is not valid HTTP/1.x.
var errBadResponse = errors.New("upstream sent an invalid response")

// span locates one header field in exchange.hs.
type span struct{ ks, ke, vs, ve int32 }

// bodyKind is how a response body is delimited.
type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyFixed
	bodyChunked
	bodyClose // until the upstream closes the connection
)

// response is the head of an upstream response; the fields are in
// exchange.hs/spans.
type response struct {
	status    int
	kind      bodyKind
	length    int64  // for bodyFixed
	lengthStr string // the Content-Length value, for the client
	keepAlive bool
	connTok   bool // the Connection header names other fields to drop
	upgrade   string
}

// readLine returns the next line without its line ending; it is valid
// until the next read. Lines longer than the read buffer are assembled in
// ex.long. *budget is decremented by the line's length.
func (ex *exchange) readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		ex.long = append(ex.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(ex.long) > *budget {
				return nil, fmt.Errorf("%w: header too large", errBadResponse)
			}
			line, err = br.ReadSlice('\n')
			ex.long = append(ex.long, line...)
		}
		line = ex.long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if *budget -= len(line); *budget < 0 {
		return nil, fmt.Errorf("%w: header too large", errBadResponse)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readHead reads one response head from c into ex.res, ex.hs and ex.spans.
func (ex *exchange) readHead(c *conn) error {
	budget := maxHeaderBytes
	line, err := ex.readLine(c.br, &budget)
	if err != nil {
		return err
	}
	res := &ex.res
	*res = response{}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] != '0' && line[7] != '1' || line[8] != ' ' ||
		len(line) > 12 && line[12] != ' ' {
		return fmt.Errorf("%w: status line %q", errBadResponse, truncate(line))
	}
	http11 := line[7] == '1'
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return fmt.Errorf("%w: status line %q", errBadResponse, truncate(line))
		}
		res.status = res.status*10 + int(d-'0')
	}
	if res.status < 100 {
		return fmt.Errorf("%w: status %d", errBadResponse, res.status)
	}

	// The fields are copied into hbuf, names canonicalised in place, and
	// become one string: one allocation for every name and value.
	ex.hbuf, ex.spans = ex.hbuf[:0], ex.spans[:0]
	for {
		line, err := ex.readLine(c.br, &budget)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			// No name, or an obsolete line folding.
			return fmt.Errorf("%w: header line %q", errBadResponse, truncate(line))
		}
		ks := len(ex.hbuf)
		ex.hbuf = append(ex.hbuf, line[:colon]...)
		if !canonicalize(ex.hbuf[ks:]) {
			return fmt.Errorf("%w: header name %q", errBadResponse, truncate(line[:colon]))
		}
		v := bytes.Trim(line[colon+1:], " \t")
		vs := len(ex.hbuf)
		ex.hbuf = append(ex.hbuf, v...)
		ex.spans = append(ex.spans, span{int32(ks), int32(vs), int32(vs), int32(len(ex.hbuf))})
	}
	ex.hs = string(ex.hbuf)
	noBody := ex.r.Method == http.MethodHead || res.status < 200 || res.status == 204 || res.status == 304
	return ex.frame(http11, noBody)
}

// frame works out how the body is delimited and whether the connection
// stays open (RFC 9112 section 6.3).
func (ex *exchange) frame(http11, noBody bool) error {
	res := &ex.res
	res.keepAlive = http11
	var te, cl bool
	for _, sp := range ex.spans {
		k, v := ex.hs[sp.ks:sp.ke], ex.hs[sp.vs:sp.ve]
		switch k {
		case "Connection":
			for v != "" {
				var tok string
				tok, v, _ = strings.Cut(v, ",")
				switch tok = strings.TrimSpace(tok); {
				case strings.EqualFold(tok, "close"):
					res.keepAlive = false
				case strings.EqualFold(tok, "keep-alive"):
					res.keepAlive = res.keepAlive || !http11
				case strings.EqualFold(tok, "upgrade"):
				default:
					res.connTok = true
				}
			}
		case "Transfer-Encoding":
			te = true
			// Only a final chunked coding delimits the body; any other
			// coding runs until the connection closes.
			last := v
			if i := strings.LastIndexByte(v, ','); i >= 0 {
				last = v[i+1:]
			}
			res.kind = bodyClose
			if strings.EqualFold(strings.TrimSpace(last), "chunked") {
				res.kind = bodyChunked
			}
		case "Content-Length":
			n, ok := parseLength(v)
			if !ok || cl && n != res.length {
				return fmt.Errorf("%w: Content-Length %q", errBadResponse, v)
			}
			cl, res.length, res.lengthStr = true, n, strings.TrimSpace(v)
			if i := strings.IndexByte(res.lengthStr, ','); i >= 0 {
				res.lengthStr = strings.TrimSpace(res.lengthStr[:i])
			}
		case "Upgrade":
			res.upgrade = v
		}
	}
	switch {
	case te:
		// A length next to a transfer coding is ignored, and such a
		// message may be an attempt at smuggling: do not reuse.
		if cl {
			res.keepAlive = false
			cl = false
		}
	case cl:
		res.kind = bodyFixed
	default:
		res.kind = bodyClose
	}
	switch {
	case noBody:
		// HEAD, 1xx, 204, 304: no body whatever the fields say.
		res.kind = bodyNone
	case res.kind == bodyClose:
		res.keepAlive = false
	}
	if !cl || res.status == 204 {
		res.lengthStr = ""
	}
	return nil
}

// parseLength parses a Content-Length value; a list of equal values (a
// repeated field folded into one) is accepted.
func parseLength(v string) (int64, bool) {
	var first int64 = -1
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		part = strings.TrimSpace(part)
		if part == "" || len(part) > 18 {
			return 0, false
		}
		var n int64
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
			n = n*10 + int64(part[i]-'0')
		}
		if first >= 0 && n != first {
			return 0, false
		}
		first = n
	}
	return first, first >= 0
}

// canonicalize validates a field name and rewrites it in place to the
// canonical form net/http uses as map key (Content-Type).
func canonicalize(k []byte) bool {
	upper := true
	for i, c := range k {
		if !isTokenChar(c) {
			return false
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			k[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			k[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return true
}

func isTokenChar(c byte) bool {
	return c < 0x80 && tokenChars[c]
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// skipResponseHeader names the upstream headers the client does not get:
// hop-by-hop ones, the framing (set by the server for the client), and
// those nginx's proxy_hide_header hides by default (Date and Server are
// the gateway's own).
func skipResponseHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
		"Date", "Server", "X-Pad", "X-Accel-Expires", "X-Accel-Redirect", "X-Accel-Limit-Rate",
		"X-Accel-Buffering", "X-Accel-Charset":
		return true
	}
	return false
}

// copyHeader adds the upstream's end-to-end fields to h, and the
// Content-Length the client gets.
func (ex *exchange) copyHeader(h http.Header) {
	var named []string
	if ex.res.connTok {
		for _, sp := range ex.spans {
			if ex.hs[sp.ks:sp.ke] == "Connection" {
				named = append(named, ex.hs[sp.vs:sp.ve])
			}
		}
	}
	// One backing array for the values; each field gets a full slice of
	// one element, so adding a value later never overwrites its neighbour.
	vals := make([]string, len(ex.spans)+1)
	if res := &ex.res; res.lengthStr != "" && res.kind != bodyChunked {
		vals[len(ex.spans)] = res.lengthStr
		h["Content-Length"] = vals[len(ex.spans):]
	}
	for i, sp := range ex.spans {
		k := ex.hs[sp.ks:sp.ke]
		if skipResponseHeader(k) || named != nil && listsToken(named, k) {
			continue
		}
		v := ex.hs[sp.vs:sp.ve]
		if old, ok := h[k]; ok {
			h[k] = append(old, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
}

// copyBody streams the response body to the client. A body of known length
// goes through the server's write buffer; one of unknown length is flushed
// whenever the upstream has nothing more buffered, so events reach the
// client as they are sent.
func (ex *exchange) copyBody(c *conn) error {
	switch ex.res.kind {
	case bodyFixed:
		return ex.copyFixed(c, ex.res.length, false)
	case bodyChunked:
		return ex.copyChunked(c)
	case bodyClose:
		return ex.copyUntilEOF(c)
	}
	return nil
}

// copyFixed copies n bytes; with flush, pending output is flushed before
// each read that has to wait for the upstream.
func (ex *exchange) copyFixed(c *conn, n int64, flush bool) error {
	br := c.br
	var buf []byte
	for n > 0 {
		if b := br.Buffered(); b > 0 {
			p, _ := br.Peek(int(min(int64(b), n)))
			if _, err := ex.w.Write(p); err != nil {
				return err
			}
			br.Discard(len(p))
			n -= int64(len(p))
			ex.unflushed = true
			continue
		}
		if flush {
			if err := ex.flush(); err != nil {
				return err
			}
		}
		if buf == nil {
			bp := buffers.Get().(*[]byte)
			defer buffers.Put(bp)
			buf = *bp
		}
		m, err := br.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			if _, werr := ex.w.Write(buf[:m]); werr != nil {
				return werr
			}
			n -= int64(m)
			ex.unflushed = true
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (ex *exchange) copyChunked(c *conn) error {
	br := c.br
	for {
		if err := ex.flushBeforeLine(br); err != nil {
			return err
		}
		budget := maxChunkLine
		line, err := ex.readLine(br, &budget)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return fmt.Errorf("%w: chunk size line %q", errBadResponse, truncate(line))
		}
		if size == 0 {
			break
		}
		if err := ex.copyFixed(c, size, true); err != nil {
			return err
		}
		if err := ex.flushBeforeLine(br); err != nil {
			return err
		}
		if line, err := ex.readLine(br, &budget); err != nil || len(line) != 0 {
			if err == nil {
				err = fmt.Errorf("%w: no CRLF after chunk data", errBadResponse)
			}
			return err
		}
	}
	// Trailer fields are read and dropped, as nginx drops them.
	budget := maxHeaderBytes
	for {
		line, err := ex.readLine(br, &budget)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
}

func (ex *exchange) copyUntilEOF(c *conn) error {
	br := c.br
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for {
		if br.Buffered() == 0 {
			if err := ex.flush(); err != nil {
				return err
			}
		}
		m, err := br.Read(buf)
		if m > 0 {
			if _, werr := ex.w.Write(buf[:m]); werr != nil {
				return werr
			}
			ex.unflushed = true
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// flushBeforeLine flushes pending output when the next line is not
// entirely buffered yet.
func (ex *exchange) flushBeforeLine(br *bufio.Reader) error {
	if !ex.unflushed {
		return nil
	}
	if b := br.Buffered(); b > 0 {
		if p, _ := br.Peek(b); bytes.IndexByte(p, '\n') >= 0 {
			return nil
		}
	}
	return ex.flush()
}

// flush sends what the client has been written so far.
func (ex *exchange) flush() error {
	if !ex.unflushed {
		return nil
	}
	ex.unflushed = false
	if f, ok := ex.w.(http.Flusher); ok {
		f.Flush()
		return nil
	}
	return http.NewResponseController(ex.w).Flush()
}

// parseChunkSize parses a chunk-size line, ignoring extensions.
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
