package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Active checks run in the privileged agent; every worker stops sending
// traffic to a node they mark unhealthy, and resumes when it recovers.
func TestActiveHealthChecks(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	var bBroken atomic.Bool
	var aProbes, bProbes atomic.Int64
	mk := func(name string, broken *atomic.Bool, probes *atomic.Int64) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				probes.Add(1)
				if broken != nil && broken.Load() {
					w.WriteHeader(500)
					return
				}
			}
			fmt.Fprint(w, name)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	a, b := mk("a", nil, &aProbes), mk("b", &bBroken, &bProbes)
	bBroken.Store(true)
	putKey(t, g, "/apisix/routes/hc", fmt.Sprintf(`{"uri":"/hc","upstream":{"nodes":{"%s":1,"%s":1},
		"checks":{"active":{"http_path":"/health","healthy":{"interval":1,"successes":1},"unhealthy":{"interval":1,"http_failures":2}}}}}`, a, b))
	spread := func(n int) map[string]int {
		counts := map[string]int{}
		for i := 0; i < n; i++ {
			_, body := get(t, g, "/hc", "")
			counts[body]++
		}
		return counts
	}
	// b fails its probes: after two (unhealthy.http_failures) it gets no traffic.
	eventually(t, 10*time.Second, func() error {
		if c := spread(20); c["b"] != 0 || c["a"] != 20 {
			return fmt.Errorf("spread %v", c)
		}
		return nil
	})
	// Probes come from the agent only, once per interval: not per worker.
	begin, probesBefore := time.Now(), bProbes.Load()
	time.Sleep(3 * time.Second)
	perSecond := float64(bProbes.Load()-probesBefore) / time.Since(begin).Seconds()
	t.Logf("node b probed %.1f times a second with 2 workers", perSecond)
	if perSecond > 1.5 {
		t.Errorf("node probed %.1f times a second; want once per interval, node-wide", perSecond)
	}
	// b recovers: traffic comes back.
	bBroken.Store(false)
	eventually(t, 10*time.Second, func() error {
		if c := spread(20); c["b"] == 0 {
			return fmt.Errorf("spread %v", c)
		}
		return nil
	})
}

// Passive checks: real traffic that fails marks a node unhealthy for every
// worker, though its health endpoint still answers (it takes 254 good
// probes to come back, longer than this test).
func TestPassiveHealthChecks(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	var bHits atomic.Int64
	mk := func(name string, hits *atomic.Int64) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				return
			}
			if hits != nil {
				hits.Add(1)
				w.WriteHeader(500)
			}
			fmt.Fprint(w, name)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	a, b := mk("a", nil), mk("b", &bHits)
	putKey(t, g, "/apisix/routes/pc", fmt.Sprintf(`{"uri":"/pc","upstream":{"nodes":{"%s":1,"%s":1},"retries":0,
		"checks":{"active":{"http_path":"/health","healthy":{"interval":1,"successes":254}},
		"passive":{"unhealthy":{"http_statuses":[500],"http_failures":3}}}}}`, a, b))
	waitServed(t, g, "/pc")
	// 3 failures (http_failures) across both workers: b is out.
	eventually(t, 5*time.Second, func() error {
		before := bHits.Load()
		for i := 0; i < 20; i++ {
			get(t, g, "/pc", "")
		}
		if n := bHits.Load() - before; n != 0 {
			return fmt.Errorf("b still got %d of 20 requests", n)
		}
		return nil
	})
	if n := bHits.Load(); n > 20 {
		t.Logf("b served %d failing requests before it was taken out", n)
	}
}
