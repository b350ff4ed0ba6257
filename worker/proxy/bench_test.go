package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portico-gw/portico/internal/rawupstream"
)

// rawUpstream is a keep-alive upstream answering every request at once.
func rawUpstream(tb testing.TB) Node {
	return nodeOf(tb, rawupstream.Start(tb))
}

// BenchmarkServe is one proxied GET on a kept-alive upstream connection:
// the per-request cost of the proxy alone (no client-side server).
func BenchmarkServe(b *testing.B) {
	n := rawUpstream(b)
	p := New(nil)
	defer p.Close()
	up := basicUpstream(n)
	req := httptest.NewRequest("GET", "http://gw.test/bench?x=1", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.RequestURI = "/bench?x=1" // as a server sets it
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		w.code = 0
		p.Serve(w, req, up, "http", "9080", nil)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// discardWriter is a ResponseWriter that keeps the status only.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = 200
	}
	return len(p), nil
}
func (d *discardWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
