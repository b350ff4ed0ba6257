package extplugin

import (
	"context"
	"testing"
)

// BenchmarkCallRequest: one HTTPReqCall with a cached token on a pooled
// connection to the real runner, whose plugin does nothing.
func BenchmarkCallRequest(b *testing.B) {
	r := startRunner(b, b.TempDir(), 3600)
	c := newClient(b, r.sock, Options{})
	key := Key("route", "1", "ext-plugin-pre-req", "1")
	cf := conf("noop", "{}")
	req := get("/anything")
	req.Args = []Entry{kv("q", "1")}
	req.Headers = append(req.Headers, kv("user-agent", "bench"), kv("accept", "*/*"))
	if _, err := c.CallRequest(context.Background(), key, cf, req, nil); err != nil {
		b.Fatal(err)
	}
	// A request's context can be cancelled: the client then arms a
	// context.AfterFunc per exchange.
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"cancelable", cancelable}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.CallRequest(bc.ctx, key, cf, req, nil)
				if err != nil || res.Stop != nil || res.Rewrite != nil {
					b.Fatalf("%+v, %v", res, err)
				}
			}
		})
	}
}
