package h1_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portico-gw/portico/worker/h1"
)

var (
	benchBody          = []byte("hello")
	benchContentLength = []string{"5"}
	benchContentType   = []string{"text/plain"}
)

// benchHandler writes a short body with its length, allocating nothing
// itself, so that allocs/op are the server's.
func benchHandler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Length"] = benchContentLength
	h["Content-Type"] = benchContentType
	w.Write(benchBody)
}

// BenchmarkServeKeepAlive drives b.N requests over one kept-alive loopback
// connection, through h1 and through net/http's server for comparison.
// The client allocates nothing per request: responses are all the same
// length (Date's value changes, not its length), so it reads that many
// bytes.
func BenchmarkServeKeepAlive(b *testing.B) {
	type server interface {
		Serve(net.Listener) error
		Close() error
	}
	// A server is not reused once closed, and b.Run may run its function
	// several times: each run gets its own.
	servers := []struct {
		name string
		new  func() server
	}{
		{"h1", func() server { return &h1.Server{Handler: http.HandlerFunc(benchHandler)} }},
		{"net-http", func() server { return &http.Server{Handler: http.HandlerFunc(benchHandler)} }},
	}
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n")
	for _, sv := range servers {
		b.Run(sv.name, func(b *testing.B) {
			srv := sv.new()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			defer func() {
				srv.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					b.Errorf("Serve: %v", err)
				}
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(time.Minute))

			// The first response tells the length of all of them.
			if _, err := nc.Write(req); err != nil {
				b.Fatal(err)
			}
			first := make([]byte, 4096)
			n := 0
			for !bytes.HasSuffix(first[:n], []byte("\r\n\r\nhello")) {
				if n == len(first) {
					b.Fatalf("response longer than %d bytes: %q", len(first), first)
				}
				m, err := nc.Read(first[n:])
				if err != nil {
					b.Fatalf("after %q: %v", first[:n], err)
				}
				n += m
			}
			if !bytes.HasPrefix(first, []byte("HTTP/1.1 200 OK\r\n")) {
				b.Fatalf("response %q", first[:n])
			}
			res := make([]byte, n)

			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(nc, res); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !bytes.HasPrefix(res, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(res, benchBody) {
				b.Fatalf("last response %q", res)
			}
		})
	}
}
