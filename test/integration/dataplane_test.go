package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoUpstream answers with its name and the request it saw.
func echoUpstream(t *testing.T, name string) (hostport string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s host=%s xff=%s", name, r.Method, r.RequestURI, r.Host, r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func putKey(t *testing.T, g *Gateway, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := etcdClient(t, g).Put(ctx, key, value); err != nil {
		t.Fatal(err)
	}
}

// get returns status and body of a request to the gateway.
func get(t *testing.T, g *Gateway, path, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.URL(path), nil)
	if host != "" {
		req.Host = host
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A route put into etcd is served by every worker, each reporting the same
// config hash, and proxied to its upstream.
func TestRouteFromEtcdIsServedByEveryWorker(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	up := echoUpstream(t, "up1")
	before := workers(g.Status(), 0)[0].ConfigHash
	begin := time.Now()
	putKey(t, g, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/hello*","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, up))
	var hash string
	eventually(t, 5*time.Second, func() error {
		ws := workers(g.Status(), 0)
		hash = ws[0].ConfigHash
		for _, w := range ws {
			if w.ConfigHash == "" || w.ConfigHash == before || w.ConfigHash != hash || w.ConfigRevision == 0 {
				return fmt.Errorf("workers not converged: %+v", ws)
			}
		}
		return nil
	})
	t.Logf("route served by every worker %s after the put", time.Since(begin).Round(time.Millisecond))
	// New connections spread over both workers; each must serve the route.
	for i := 0; i < 20; i++ {
		code, body := get(t, g, "/hello/world?x=1", "")
		if code != 200 || !strings.HasPrefix(body, "up1 GET /hello/world?x=1 ") || !strings.Contains(body, "xff=127.0.0.1") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if code, body := get(t, g, "/other", ""); code != 404 || body != `{"error_msg":"404 Route Not Found"}`+"\n" {
		t.Errorf("unmatched path: %d %q", code, body)
	}

	// An invalid item written straight into etcd keeps the old version.
	putKey(t, g, "/apisix/routes/1", `{"uri": 42}`)
	putKey(t, g, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/two","upstream":{"nodes":{"%s":1}}}`, up))
	eventually(t, 5*time.Second, func() error {
		if code, _ := get(t, g, "/two", ""); code != 200 {
			return fmt.Errorf("route 2 not served yet")
		}
		return nil
	})
	if code, _ := get(t, g, "/hello/again", ""); code != 200 {
		t.Errorf("route 1 lost after an invalid update: %d", code)
	}
	if !strings.Contains(g.Logs(), "/apisix/routes/1") {
		t.Error("the invalid item was not logged with its key")
	}

	// Deleting stops serving it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := etcdClient(t, g).Delete(ctx, "/apisix/routes/2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if code, _ := get(t, g, "/two", ""); code != 404 {
			return fmt.Errorf("route 2 still served")
		}
		return nil
	})
}

// A worker killed while etcd is down comes back serving the same snapshot
// as its siblings (from the cached last-good snapshot).
func TestWorkerRespawnedWhileEtcdIsDownServesSameSnapshot(t *testing.T) {
	owner := newGateway(t, 1) // an etcd this test can stop: another gateway's embedded one
	owner.Start()
	g := newGateway(t, 2)
	g.WriteRawConfig(strings.Replace(strings.Replace(readConfig(t, g), "    embedded: true\n", "", 1), fmt.Sprint(g.EtcdPort), fmt.Sprint(owner.EtcdPort), 1))
	g.EtcdPort = owner.EtcdPort
	g.Start()
	up := echoUpstream(t, "cached")
	putKey(t, g, "/apisix/routes/c", fmt.Sprintf(`{"uri":"/cached","upstream":{"nodes":{"%s":1}}}`, up))
	var hash string
	eventually(t, 5*time.Second, func() error {
		ws := workers(g.Status(), 0)
		for _, w := range ws {
			if code, _ := get(t, g, "/cached", ""); code != 200 || w.ConfigHash == "" || w.ConfigHash != ws[0].ConfigHash {
				return fmt.Errorf("not converged")
			}
		}
		hash = ws[0].ConfigHash
		return nil
	})
	// The last-good snapshot reaches the disk (written at most once a second).
	eventually(t, 5*time.Second, func() error {
		data, err := os.ReadFile(filepath.Join(g.Prefix, "data", "cache", "config-snapshot.json"))
		if err != nil || !strings.Contains(string(data), `"hash":"`+hash+`"`) {
			return fmt.Errorf("cache file not at hash %s yet: %v", hash, err)
		}
		return nil
	})
	owner.MustRun("stop") // etcd gone
	victim := workers(g.Status(), 0)[0]
	syscallKill(t, victim.Pid)
	eventually(t, 5*time.Second, func() error {
		for _, w := range workers(g.Status(), 0) {
			if w.Slot == victim.Slot && w.Pid != victim.Pid && w.State == "serving" {
				if w.ConfigHash != hash {
					return fmt.Errorf("respawned worker serves hash %q, siblings %q", w.ConfigHash, hash)
				}
				return nil
			}
		}
		return fmt.Errorf("not respawned yet")
	})
	for i := 0; i < 10; i++ {
		if code, body := get(t, g, "/cached", ""); code != 200 {
			t.Fatalf("with etcd down: %d %q", code, body)
		}
	}
}

// Weighted round-robin across two real upstreams, and 413 for an oversized
// body before any upstream connection is made.
func TestBalancingAndBodyLimit(t *testing.T) {
	g := newGateway(t, 1)
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "nginx_config:\n", "nginx_config:\n  http:\n    client_max_body_size: 1k\n", 1))
	g.Start()
	var conns atomic.Int64
	counting := func(name string) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, name)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	a, b := counting("a"), counting("b")
	putKey(t, g, "/apisix/routes/w", fmt.Sprintf(`{"uri":"/w","upstream":{"type":"roundrobin","nodes":[{"host":"%s","port":%s,"weight":3},{"host":"%s","port":%s,"weight":1}]}}`,
		strings.Split(a, ":")[0], strings.Split(a, ":")[1], strings.Split(b, ":")[0], strings.Split(b, ":")[1]))
	eventually(t, 5*time.Second, func() error {
		if code, _ := get(t, g, "/w", ""); code != 200 {
			return fmt.Errorf("route not served yet")
		}
		return nil
	})
	counts := map[string]int{}
	for i := 0; i < 400; i++ {
		_, body := get(t, g, "/w", "")
		counts[body]++
	}
	// Smooth weighted round-robin is exact over whole cycles of 4.
	if counts["a"] != 300 || counts["b"] != 100 {
		t.Errorf("weights 3:1 over 400 requests: %v", counts)
	}

	before := conns.Load()
	resp, err := http.Post(g.URL("/w"), "application/octet-stream", strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("4 KiB body with a 1k limit: %d", resp.StatusCode)
	}
	if n := conns.Load() - before; n != 0 {
		t.Errorf("%d upstream connections for a refused body", n)
	}
}

// etcd stopped under traffic: no request fails, status shows etcd
// unreachable, and a change made after etcd returns is served within 5 s.
func TestEtcdOutageUnderTraffic(t *testing.T) {
	owner := newGateway(t, 1) // its embedded etcd is the one this test stops
	owner.Start()
	g := newGateway(t, 2)
	g.WriteRawConfig(strings.Replace(strings.Replace(readConfig(t, g), "    embedded: true\n", "", 1), fmt.Sprint(g.EtcdPort), fmt.Sprint(owner.EtcdPort), 1))
	g.EtcdPort = owner.EtcdPort
	g.Start()
	up := echoUpstream(t, "steady")
	putKey(t, g, "/apisix/routes/s", fmt.Sprintf(`{"uri":"/steady","upstream":{"nodes":{"%s":1}}}`, up))
	waitServed(t, g, "/steady")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := &loadResult{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				resp, err := client.Get(g.URL("/steady"))
				if err != nil {
					res.fail(start, "%v", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					res.fail(start, "status %d", resp.StatusCode)
					continue
				}
				res.ok.Add(1)
			}
		}()
	}
	res.waitOK(t, 200)
	owner.MustRun("stop")
	eventually(t, 15*time.Second, func() error {
		for _, w := range workers(g.Status(), 0) {
			if w.EtcdReachable == nil || *w.EtcdReachable {
				return fmt.Errorf("worker %d still reports etcd reachable", w.Slot)
			}
		}
		return nil
	})
	served := res.ok.Load()
	res.waitOK(t, served+500) // traffic keeps flowing with etcd down

	owner.Start() // etcd back, same data
	putKey(t, g, "/apisix/routes/late", fmt.Sprintf(`{"uri":"/late","upstream":{"nodes":{"%s":1}}}`, up))
	back := time.Now()
	eventually(t, 5*time.Second, func() error {
		for i := 0; i < 10; i++ { // fresh connections reach both workers
			if code, _ := get(t, g, "/late", ""); code != 200 {
				return fmt.Errorf("route made after etcd returned not served yet")
			}
		}
		return nil
	})
	t.Logf("change after etcd returned served by both workers in %s", time.Since(back).Round(time.Millisecond))
	cancel()
	wg.Wait()
	res.check(t, 1000)
}

// A worker stopped (SIGSTOP) while etcd moves on and compacts its history
// re-reads everything when it resumes: it converges on its siblings' hash
// and deleted routes do not come back.
func TestCompactionWhileAWorkerIsPaused(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	up := echoUpstream(t, "compact")
	cli := etcdClient(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < 10; i++ {
		putKey(t, g, fmt.Sprintf("/apisix/routes/doomed%d", i), fmt.Sprintf(`{"uri":"/doomed/%d","upstream":{"nodes":{"%s":1}}}`, i, up))
	}
	eventually(t, 5*time.Second, func() error {
		ws := workers(g.Status(), 0)
		if ws[0].ConfigHash != ws[1].ConfigHash {
			return fmt.Errorf("not converged")
		}
		return nil
	})
	paused := workers(g.Status(), 0)[0]
	stopProcess(t, paused.Pid)
	resumed := false
	defer func() {
		if !resumed {
			syscallSignal(t, paused.Pid, syscall.SIGCONT)
		}
	}()
	for i := 0; i < 10; i++ {
		if _, err := cli.Delete(ctx, fmt.Sprintf("/apisix/routes/doomed%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var rev int64
	for i := 0; i < 1000; i++ {
		resp, err := cli.Put(ctx, "/apisix/routes/churn", fmt.Sprintf(`{"uri":"/churn","desc":"%d","upstream":{"nodes":{"%s":1}}}`, i, up))
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	syscallSignal(t, paused.Pid, syscall.SIGCONT)
	resumed = true
	begin := time.Now()
	eventually(t, 10*time.Second, func() error {
		ws := workers(g.Status(), 0)
		for _, w := range ws {
			if w.ConfigRevision < rev || w.ConfigHash != ws[0].ConfigHash {
				return fmt.Errorf("workers at %d/%d, hashes differ or behind %d", ws[0].ConfigRevision, ws[1].ConfigRevision, rev)
			}
		}
		return nil
	})
	t.Logf("paused worker converged %s after SIGCONT", time.Since(begin).Round(time.Millisecond))
	for i := 0; i < 20; i++ { // fresh connections reach both workers
		if code, _ := get(t, g, fmt.Sprintf("/doomed/%d", i%10), ""); code != 404 {
			t.Fatalf("deleted route /doomed/%d answered %d", i%10, code)
		}
		if code, _ := get(t, g, "/churn", ""); code != 200 {
			t.Fatalf("/churn answered %d", code)
		}
	}
}

func syscallSignal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
}

// waitServed waits until path answers 200 on ten fresh connections in a row:
// new connections spread over every worker's socket, so one 200 alone could
// come from a worker that got the route a moment before its siblings.
func waitServed(t *testing.T, g *Gateway, path string) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		for i := 0; i < 10; i++ {
			if code, _ := get(t, g, path, ""); code != 200 {
				return fmt.Errorf("%s not served by every worker yet", path)
			}
		}
		return nil
	})
}
