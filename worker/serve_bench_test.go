package worker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/internal/child"
	"github.com/portico-gw/portico/internal/rawupstream"
	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/tmpl"
	"github.com/portico-gw/portico/worker/proxy"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/store"
)

// discardWriter is a ResponseWriter that costs nothing, so the benchmark
// measures the handler chain alone.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func benchWorker(accessLog io.Writer) *Worker {
	rt := &tmpl.Runtime{HTTP: tmpl.HTTP{ServerTokens: true}}
	w := &Worker{env: &child.Env{Runtime: rt, Log: zerolog.Nop(), AccessLog: accessLog}, proxy: proxy.New(nil)}
	empty, err := router.Build(router.HostURI, nil)
	if err != nil {
		panic(err)
	}
	w.dp.Store(&dataPlane{router: empty})
	return w
}

// BenchmarkNodeHandler404 is the data plane's per-request cost today
// (routing arrives next): the 404 answer, with and without the access log.
func BenchmarkNodeHandler404(b *testing.B) {
	for _, tc := range []struct {
		name string
		log  io.Writer
	}{{"no-access-log", nil}, {"access-log", io.Discard}} {
		b.Run(tc.name, func(b *testing.B) {
			w := benchWorker(tc.log)
			h := newConnTracker().wrap(w.logged(w.nodeHandler("9080")))
			req := httptest.NewRequest("GET", "http://gw.test/some/path?x=1", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			rw := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				clear(rw.h)
				h.ServeHTTP(rw, req)
			}
		})
	}
}

// BenchmarkNodeHandlerProxy is one proxied request through the whole
// handler chain (route match, balancer, proxy) to a real upstream on
// loopback, over a kept-alive connection: the gateway's per-request cost
// without the client-side server.
func BenchmarkNodeHandlerProxy(b *testing.B) {
	addr := rawupstream.Start(b)
	raw := `{"uri":"/bench","upstream":{"type":"roundrobin","nodes":{"` + addr + `":1}}}`
	v, err := resource.Validate(resource.Routes, []byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	items := map[string]map[string]*store.Item{"routes": {"1": {Kind: "routes", ID: "1", Key: "/apisix/routes/1", Value: v, Raw: []byte(raw)}}}
	w := benchWorker(nil)
	defer w.proxy.Close()
	dp, err := buildDataPlane(store.NewSnapshot(items, 1), router.HostURI, &builder{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	w.dp.Store(dp)
	h := newConnTracker().wrap(w.logged(w.nodeHandler("9080")))
	req := httptest.NewRequest("GET", "http://gw.test/bench?x=1", nil)
	req.RequestURI = "/bench?x=1" // as the server sets it
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("User-Agent", "wrk")
	rw := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(rw.h)
		h.ServeHTTP(rw, req)
	}
}
