package worker

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps every Write call separately (copied: the logger reuses its
// buffer once Write returns).
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.mu.Unlock()
	return len(p), nil
}

func (r *recorder) lines(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, w := range r.writes {
		if bytes.Count(w, []byte("\n")) != 1 || w[len(w)-1] != '\n' {
			t.Errorf("write %d is not exactly one line: %q", i, w)
		}
		out = append(out, strings.TrimSuffix(string(w), "\n"))
	}
	return out
}

var (
	logZone  = time.FixedZone("", 2*3600)
	logStart = time.Date(2024, time.March, 5, 7, 8, 9, 0, logZone)
	logEnd   = logStart.Add(1234567 * time.Microsecond)
)

func entry(r *http.Request) *logEntry {
	return &logEntry{r: r, status: http.StatusNotFound, bytes: 36, start: logStart, end: logEnd}
}

func render(t *testing.T, format string, e *logEntry) string {
	t.Helper()
	rec := &recorder{}
	newAccessLogger(rec, format).write(e)
	lines := rec.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d writes for one entry, want 1", len(lines))
	}
	return lines[0]
}

func TestAccessLogDefaultFormat(t *testing.T) {
	r := httptest.NewRequest("GET", "/anything/x?a=1&b=2", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	r.Host = "api.example.com"
	r.Header.Set("Referer", "https://ref.example/")
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.SetBasicAuth("alice", "s3cr3t-pass")

	want := `192.0.2.7 - alice [05/Mar/2024:07:08:10 +0200] api.example.com "GET /anything/x?a=1&b=2 HTTP/1.1" 404 36 1.235 "https://ref.example/" "curl/8.5.0" - - - "-://--"`
	for _, format := range []string{"", DefaultAccessLogFormat} {
		if got := render(t, format, entry(r)); got != want {
			t.Errorf("format %q:\n got %s\nwant %s", format, got, want)
		}
	}
}

// Every unset value renders as nginx's "-".
func TestAccessLogUnsetValues(t *testing.T) {
	r := httptest.NewRequest("POST", "/p", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	r.Host = ""
	want := `2001:db8::1 - - [05/Mar/2024:07:08:10 +0200] - "POST /p HTTP/1.1" 404 36 1.235 "-" "-" - - - "-://--"`
	if got := render(t, "", entry(r)); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	// A RemoteAddr without a port is logged as it is.
	r.RemoteAddr = "@unix"
	if got := render(t, "$remote_addr", entry(r)); got != "@unix" {
		t.Errorf("$remote_addr = %q", got)
	}
}

func TestAccessLogCredentialsNeverLogged(t *testing.T) {
	const secret = "TOPSECRET"
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("bob", secret)
	auth := r.Header.Get("Authorization")
	r.Header.Set("X-Api-Key", secret+"1")
	r.Header.Set("Cookie", "session="+secret+"2")
	r.Header.Set("Proxy-Authorization", "Basic "+secret+"3")
	r.Header.Set("Apikey", secret+"4")

	got := render(t, `$remote_user|$http_authorization|$http_x_api_key|$http_cookie|$http_proxy_authorization|$http_apikey`, entry(r))
	if want := "bob|[redacted]|[redacted]|[redacted]|[redacted]|[redacted]"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if strings.Contains(got, secret) || strings.Contains(got, strings.TrimPrefix(auth, "Basic ")) {
		t.Errorf("a credential reached the log: %s", got)
	}

	// Redacted even when absent: the log does not tell whether one was sent.
	bare := httptest.NewRequest("GET", "/", nil)
	if got := render(t, `$remote_user $http_authorization`, entry(bare)); got != "- [redacted]" {
		t.Errorf("without credentials: %q", got)
	}
	// A bearer token is not a user name.
	bare.Header.Set("Authorization", "Bearer "+secret)
	if got := render(t, `$remote_user $http_authorization`, entry(bare)); got != "- [redacted]" {
		t.Errorf("bearer token: %q", got)
	}
}

func TestAccessLogHeaderVariables(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Foo", "bar baz")
	r.Header.Set("X-Request-Id", "abc-123")
	got := render(t, `$http_x_foo $http_x_request_id $http_x_missing`, entry(r))
	if want := "bar baz abc-123 -"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAccessLogVariables(t *testing.T) {
	r := httptest.NewRequest("PUT", "/a%20b/c?q=1", nil)
	r.Host = "h.example:8080"
	got := render(t, `$request_method $request_uri $uri $server_protocol $host $status $bytes_sent $body_bytes_sent $time_iso8601 $upstream_addr $no_such_var`, entry(r))
	want := "PUT /a%20b/c?q=1 /a b/c HTTP/1.1 h.example:8080 404 36 36 2024-03-05T07:08:10+02:00 - -"
	if got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

func TestAccessLogLiteralDollar(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for format, want := range map[string]string{
		"cost: 5$":           "cost: 5$",
		"$":                  "$",
		"$$status":           "$404",
		"a $ b":              "a $ b",
		"$-$status-":         "$-404-",
		"no variables":       "no variables",
		"[$status]":          "[404]",
		"$statusx":           "-", // one unknown variable, as nginx reads the longest name
		"$status.$status":    "404.404",
		`"$http_x_none"`:     `"-"`,
		"trailing dollar $$": "trailing dollar $$",
	} {
		if got := render(t, format, entry(r)); got != want {
			t.Errorf("format %q: got %q, want %q", format, got, want)
		}
	}
}

// One write(2) per line, also under concurrency: lines from several
// goroutines (and several workers on one file) never interleave.
func TestAccessLogOneWritePerLine(t *testing.T) {
	rec := &recorder{}
	l := newAccessLogger(rec, "")
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := httptest.NewRequest("GET", fmt.Sprintf("/g%d/i%d", g, i), nil)
				r.Header.Set("User-Agent", strings.Repeat("u", i))
				l.write(entry(r))
			}
		}()
	}
	wg.Wait()
	lines := rec.lines(t)
	if len(lines) != goroutines*each {
		t.Fatalf("%d writes, want %d", len(lines), goroutines*each)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		var g, i int
		var ua string
		// The request and the user agent of one line belong together.
		start := strings.Index(line, `"GET /g`)
		if start < 0 {
			t.Fatalf("malformed line %q", line)
		}
		if _, err := fmt.Sscanf(line[start:], `"GET /g%d/i%d HTTP/1.1"`, &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		parts := strings.Split(line, `"`)
		ua = parts[5]
		if i == 0 && ua != "-" || i > 0 && ua != strings.Repeat("u", i) {
			t.Fatalf("line %q: user agent of another request", line)
		}
		key := fmt.Sprint(g, "/", i)
		if seen[key] {
			t.Fatalf("line for %s logged twice", key)
		}
		seen[key] = true
	}
}

func TestStatusWriter(t *testing.T) {
	rr := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rr}
	sw.Write([]byte("hello"))
	sw.WriteHeader(http.StatusTeapot) // too late: 200 was sent
	sw.Write([]byte(" world"))
	if sw.status != http.StatusOK || sw.bytes != 11 {
		t.Errorf("status %d bytes %d, want 200 11", sw.status, sw.bytes)
	}

	rr = httptest.NewRecorder()
	sw = &statusWriter{ResponseWriter: rr}
	sw.WriteHeader(http.StatusNotFound)
	sw.WriteHeader(http.StatusOK)
	if sw.status != http.StatusNotFound || rr.Code != http.StatusNotFound {
		t.Errorf("status %d recorder %d, want 404", sw.status, rr.Code)
	}
}

func BenchmarkAccessLogLine(b *testing.B) {
	r := httptest.NewRequest("GET", "/anything/x?a=1&b=2", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	r.Host = "api.example.com"
	r.Header.Set("Referer", "https://ref.example/")
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.Header.Set("Authorization", "Bearer xyz")
	l := newAccessLogger(io.Discard, "")
	e := entry(r)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.write(e)
	}
}

// The log wrapper passes flushes (streamed responses) through to the server.
func TestStatusWriterFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	sw.Write([]byte("event"))
	if err := http.NewResponseController(sw).Flush(); err != nil || !rec.Flushed {
		t.Errorf("flush through the log wrapper: %v, flushed %v", err, rec.Flushed)
	}
}

// A request refused before its head parsed (h1's stand-in: only the
// address) logs "-" for its request line, as nginx does for a 408 on the
// head, and every variable renders without one.
func TestAccessLogRefusedHead(t *testing.T) {
	r := &http.Request{RemoteAddr: "192.0.2.7:51234", URL: &url.URL{}, Header: http.Header{}}
	e := &logEntry{r: r, status: http.StatusRequestTimeout, bytes: 0, start: logStart, end: logEnd}
	want := `192.0.2.7 - - [05/Mar/2024:07:08:10 +0200] - "-" 408 0 1.235 "-" "-" - - - "-://--"`
	if got := render(t, "", e); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	all := "$request_method|$request_uri|$uri|$server_protocol|$http_x_any|$time_iso8601"
	if got := render(t, all, e); got != "-|-|-|-|-|2024-03-05T07:08:10+02:00" {
		t.Errorf("%s = %q", all, got)
	}
}
