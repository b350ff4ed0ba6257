package worker

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAccessLogFormat is APISIX's default access log line, nginx-style:
//
//	$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent
//	$request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status
//	$upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri"
//
// Variables that have no value yet (the upstream ones, until proxying exists)
// render as "-", as nginx renders unset variables.
const DefaultAccessLogFormat = `$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri"`

// logEntry is what one finished request offers to the access log.
type logEntry struct {
	r      *http.Request
	status int
	bytes  int64
	start  time.Time
	end    time.Time
}

type logSegment func(b []byte, e *logEntry) []byte

// compileFormat turns an nginx log_format string into segments once, so a
// request only appends bytes.
func compileFormat(format string) []logSegment {
	if format == "" {
		format = DefaultAccessLogFormat
	}
	var segs []logSegment
	lit := func(s string) logSegment { return func(b []byte, _ *logEntry) []byte { return append(b, s...) } }
	for len(format) > 0 {
		i := strings.IndexByte(format, '$')
		if i < 0 {
			segs = append(segs, lit(format))
			break
		}
		if i > 0 {
			segs = append(segs, lit(format[:i]))
		}
		format = format[i+1:]
		if strings.HasPrefix(format, "{") {
			if end := strings.IndexByte(format, '}'); end > 1 {
				segs = append(segs, variable(format[1:end]))
				format = format[end+1:]
				continue
			}
		}
		n := 0
		for n < len(format) && (format[n] == '_' || format[n] >= 'a' && format[n] <= 'z' || format[n] >= '0' && format[n] <= '9') {
			n++
		}
		if n == 0 {
			segs = append(segs, lit("$"))
			continue
		}
		segs = append(segs, variable(format[:n]))
		format = format[n:]
	}
	return segs
}

func dash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

func variable(name string) logSegment {
	switch name {
	case "remote_addr":
		return func(b []byte, e *logEntry) []byte {
			host, _, err := net.SplitHostPort(e.r.RemoteAddr)
			if err != nil {
				host = e.r.RemoteAddr
			}
			return dash(b, host)
		}
	case "remote_user":
		return func(b []byte, e *logEntry) []byte {
			// Only the name: the password never reaches a log.
			u, _, _ := e.r.BasicAuth()
			return dash(b, u)
		}
	case "time_local":
		return func(b []byte, e *logEntry) []byte { return e.end.AppendFormat(b, "02/Jan/2006:15:04:05 -0700") }
	case "time_iso8601":
		return func(b []byte, e *logEntry) []byte { return e.end.AppendFormat(b, time.RFC3339) }
	case "host", "http_host":
		return func(b []byte, e *logEntry) []byte { return dash(b, e.r.Host) }
	case "request":
		return func(b []byte, e *logEntry) []byte {
			if e.r.Method == "" {
				return append(b, '-') // a refused head that did not parse
			}
			b = append(b, e.r.Method...)
			b = append(b, ' ')
			b = append(b, e.r.RequestURI...)
			b = append(b, ' ')
			return append(b, e.r.Proto...)
		}
	case "request_method":
		return func(b []byte, e *logEntry) []byte { return dash(b, e.r.Method) }
	case "request_uri":
		return func(b []byte, e *logEntry) []byte { return dash(b, e.r.RequestURI) }
	case "uri":
		return func(b []byte, e *logEntry) []byte { return dash(b, e.r.URL.Path) }
	case "server_protocol":
		return func(b []byte, e *logEntry) []byte { return dash(b, e.r.Proto) }
	case "status":
		return func(b []byte, e *logEntry) []byte { return strconv.AppendInt(b, int64(e.status), 10) }
	case "body_bytes_sent", "bytes_sent":
		return func(b []byte, e *logEntry) []byte { return strconv.AppendInt(b, e.bytes, 10) }
	case "request_time":
		return func(b []byte, e *logEntry) []byte {
			return strconv.AppendFloat(b, e.end.Sub(e.start).Seconds(), 'f', 3, 64)
		}
	}
	if h, ok := strings.CutPrefix(name, "http_"); ok {
		header := http.CanonicalHeaderKey(strings.ReplaceAll(h, "_", "-"))
		if isSecretHeader(header) {
			return func(b []byte, _ *logEntry) []byte { return append(b, "[redacted]"...) }
		}
		return func(b []byte, e *logEntry) []byte { return dash(b, e.r.Header.Get(header)) }
	}
	// Upstream variables and the rest: unset until the data plane fills them.
	return func(b []byte, _ *logEntry) []byte { return append(b, '-') }
}

// isSecretHeader names headers whose values never reach an access log.
func isSecretHeader(h string) bool {
	switch h {
	case "Authorization", "Proxy-Authorization", "X-Api-Key", "Cookie", "Apikey":
		return true
	}
	return false
}

// accessLogger writes one line per request with a single write(2), so lines
// from several workers appending to one file never interleave.
type accessLogger struct {
	w    io.Writer
	segs []logSegment
	pool sync.Pool
}

func newAccessLogger(w io.Writer, format string) *accessLogger {
	return &accessLogger{w: w, segs: compileFormat(format), pool: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

func (l *accessLogger) write(e *logEntry) {
	bp := l.pool.Get().(*[]byte)
	b := (*bp)[:0]
	for _, s := range l.segs {
		b = s(b, e)
	}
	b = append(b, '\n')
	l.w.Write(b)
	*bp = b
	l.pool.Put(bp)
}

// statusWriter records what the handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's writer through
// the log wrapper: flushing streamed responses and hijacking for WebSocket
// need it.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// logged wraps h with the access log, when it is on.
func (w *Worker) logged(h http.Handler) http.Handler {
	if w.accessLog == nil {
		return h
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: rw}
		start := time.Now()
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		w.accessLog.write(&logEntry{r: r, status: sw.status, bytes: sw.bytes, start: start, end: time.Now()})
	})
}
