package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// rawUpstream is a minimal keep-alive HTTP/1.1 server on loopback that
// answers every request head with the same small response, so a benchmark
// measures the proxy rather than an upstream built on net/http.
func rawUpstream(tb testing.TB) Node {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nhello from upstream\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// A request head ends with an empty line; the
					// benchmark sends no bodies.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return nodeOf(tb, ln.Addr().String())
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
