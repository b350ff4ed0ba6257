package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The end-to-end ext-plugin tests run the official Go plugin runner SDK
// (github.com/apache/apisix-go-plugin-runner) with Portico's test plugins
// (test/extrunner), managed by the gateway's privileged agent.

var (
	runnerOnce sync.Once
	runnerBin  string
	runnerErr  error
)

// extRunner builds test/extrunner once per test binary.
func extRunner(t *testing.T) string {
	t.Helper()
	runnerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "portico-extrunner")
		if err != nil {
			runnerErr = err
			return
		}
		runnerBin = filepath.Join(dir, "extrunner")
		out, err := exec.Command("go", "build", "-o", runnerBin, "github.com/portico-gw/portico/test/extrunner").CombinedOutput()
		if err != nil {
			runnerErr = fmt.Errorf("build test/extrunner: %v\n%s", err, out)
		}
	})
	if runnerErr != nil {
		t.Fatal(runnerErr)
	}
	return runnerBin
}

// seen is what the inspecting upstream received.
type seen struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// inspectUpstream answers 200 with a JSON description of the request.
func inspectUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string][]string(r.Header.Clone())
		h["Host"] = []string{r.Host}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		json.NewEncoder(w).Encode(seen{Method: r.Method, URI: r.RequestURI, Headers: h, Body: string(body)})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// newRunnerGateway starts a gateway whose agent runs the test runner.
func newRunnerGateway(t *testing.T, workers int, extPlugin string) *Gateway {
	t.Helper()
	if extPlugin == "" {
		extPlugin = fmt.Sprintf("  cmd: [%q, \"run\"]\n", extRunner(t))
	}
	return newAdminGatewayWith(t, workers, "", "ext-plugin:\n"+extPlugin)
}

// extReply is one client request's outcome.
type extReply struct {
	status int
	header http.Header
	body   string
}

func extDo(t *testing.T, g *Gateway, method, path, body string, hdr map[string]string) extReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, g.URL(path), rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return extReply{resp.StatusCode, resp.Header, string(b)}
}

// confValue is a runner plugin's conf: a JSON document as a string.
func confValue(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func extRoute(uri, upstream, plugin string, conf []map[string]string, extra string) string {
	pc := map[string]any{"conf": conf}
	if extra != "" {
		pc["allow_degradation"] = extra == "degrade"
	}
	plugins, _ := json.Marshal(map[string]any{plugin: pc})
	return fmt.Sprintf(`{"uri":%q,"plugins":%s,"upstream":{"nodes":{%q:1}}}`, uri, plugins, upstream)
}

func putRouteOK(t *testing.T, g *Gateway, id, body string) {
	t.Helper()
	if r := g.call(t, "PUT", "/apisix/admin/routes/"+id, body); r.status != 200 && r.status != 201 {
		t.Fatalf("PUT route %s: %d %s", id, r.status, r.body)
	}
}

// runnerPid is the managed runner's pid (0 while none runs).
func runnerPid(g *Gateway) (int, string) {
	for _, c := range g.Status().Children {
		if c.Runner != nil {
			return c.Runner.Pid, c.Runner.Socket
		}
	}
	return 0, ""
}

// Each kind of runner answer, observed by a client and by the upstream:
// stop, rewrite, extra info (a variable and the request body), post-resp.
func TestExtPluginBehaviours(t *testing.T) {
	g := newRunnerGateway(t, 2, "")
	up := inspectUpstream(t)
	putRouteOK(t, g, "stop", extRoute("/stop", up, "ext-plugin-pre-req", []map[string]string{
		{"name": "stop", "value": confValue(map[string]any{"status": 403, "headers": map[string][]string{"X-Stop": {"a", "b"}}, "body": "stopped"})},
	}, ""))
	putRouteOK(t, g, "rewrite", extRoute("/rewrite", up, "ext-plugin-pre-req", []map[string]string{
		{"name": "rewrite", "value": confValue(map[string]any{"path": "/new path", "set_headers": map[string]string{"X-A": "1"}, "del_headers": []string{"X-Del"},
			"set_args": map[string]string{"a": "1"}, "del_args": []string{"d"}, "resp_headers": map[string]string{"X-Resp": "r"}})},
	}, ""))
	putRouteOK(t, g, "extra", extRoute("/extra", up, "ext-plugin-post-req", []map[string]string{
		{"name": "extra", "value": confValue(map[string]string{"var": "remote_addr", "header": "X-Var", "body_header": "X-Body"})},
	}, ""))
	putRouteOK(t, g, "post", extRoute("/post", up, "ext-plugin-post-resp", []map[string]string{
		{"name": "postresp", "value": confValue(map[string]any{"status": 201, "header": "X-Post", "value": "v", "body": "replaced", "read_body": true})},
	}, ""))
	eventually(t, 10*time.Second, func() error {
		for i := 0; i < 6; i++ { // every worker has every route
			for _, p := range []string{"/stop", "/rewrite", "/extra", "/post"} {
				if r := extDo(t, g, "GET", p, "", nil); r.status == 404 || r.status == 503 {
					return fmt.Errorf("%s: %d %q", p, r.status, r.body)
				}
			}
		}
		return nil
	})

	// Stop: status, both values of a repeated header, body; no upstream.
	r := extDo(t, g, "GET", "/stop", "", nil)
	if r.status != 403 || r.body != "stopped" || strings.Join(r.header.Values("X-Stop"), ",") != "a,b" || r.header.Get("X-Upstream") != "" {
		t.Errorf("stop: %d %v %q", r.status, r.header, r.body)
	}

	// Rewrite: path (escaped), headers set and deleted, args set and
	// deleted, a response header.
	r = extDo(t, g, "GET", "/rewrite?d=1&keep=x", "", map[string]string{"X-Del": "gone", "X-Keep": "k"})
	var s seen
	if r.status != 200 || json.Unmarshal([]byte(r.body), &s) != nil {
		t.Fatalf("rewrite: %d %q", r.status, r.body)
	}
	if s.URI != "/new%20path?keep=x&a=1" {
		t.Errorf("rewrite: upstream URI %q", s.URI)
	}
	if got := s.Headers["X-A"]; len(got) != 1 || got[0] != "1" || s.Headers["X-Del"] != nil || s.Headers["X-Keep"] == nil {
		t.Errorf("rewrite: upstream headers %v", s.Headers)
	}
	if r.header.Get("X-Resp") != "r" {
		t.Errorf("rewrite: response headers %v", r.header)
	}

	// ExtraInfo: the runner read $remote_addr and the request body, and
	// the upstream still got the body.
	r = extDo(t, g, "POST", "/extra", "hello body", nil)
	if r.status != 200 || json.Unmarshal([]byte(r.body), &s) != nil {
		t.Fatalf("extra: %d %q", r.status, r.body)
	}
	if v := s.Headers["X-Var"]; len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("extra: X-Var %v", v)
	}
	if v := s.Headers["X-Body"]; len(v) != 1 || v[0] != "hello body" || s.Body != "hello body" {
		t.Errorf("extra: X-Body %v, upstream body %q", v, s.Body)
	}

	// Post-resp: the runner read the upstream body, then changed status,
	// a header and the body.
	r = extDo(t, g, "GET", "/post", "", nil)
	if r.status != 201 || r.body != "replaced" || r.header.Get("X-Post") != "v" || r.header.Get("X-Upstream") != "yes" || r.header.Get("X-Upstream-Len") == "" || r.header.Get("X-Upstream-Len") == "0" {
		t.Errorf("post-resp: %d %v %q", r.status, r.header, r.body)
	}

	// The socket is private to the gateway's user.
	pid, sock := runnerPid(g)
	if pid == 0 || sock == "" {
		t.Fatalf("no runner in status")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s: %v %v", sock, fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir: %v %v", fi.Mode(), err)
	}

	// Stop leaves no runner and no socket.
	g.MustRun("stop")
	if !waitDead(pid, 5*time.Second) {
		t.Errorf("runner %d outlived stop", pid)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket %s left behind: %v", sock, err)
	}
}

// Updating a route's plugin conf changes what the runner does at once, and
// with a short conf_expire_time the gateway re-prepares transparently.
func TestExtPluginConfChangeAndExpiry(t *testing.T) {
	g := newRunnerGateway(t, 2, fmt.Sprintf("  cmd: [%q, \"run\"]\n  conf_expire_time: 1\n", extRunner(t)))
	up := inspectUpstream(t)
	tag := func(v string) string {
		return extRoute("/tag", up, "ext-plugin-pre-req", []map[string]string{{"name": "tag", "value": confValue(map[string]string{"tag": v})}}, "")
	}
	expectTag := func(want string) {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			for i := 0; i < 6; i++ {
				if r := extDo(t, g, "GET", "/tag", "", nil); r.status != 200 || r.header.Get("X-Tag") != want {
					return fmt.Errorf("/tag: %d X-Tag %q, want %q", r.status, r.header.Get("X-Tag"), want)
				}
			}
			return nil
		})
	}
	putRouteOK(t, g, "tag", tag("A"))
	expectTag("A")
	putRouteOK(t, g, "tag", tag("B"))
	expectTag("B")

	// Outlive the tokens on both sides (the runner keeps them 1.2 x the
	// expire time), then every request must still see B.
	time.Sleep(2500 * time.Millisecond)
	for i := 0; i < 10; i++ {
		if r := extDo(t, g, "GET", "/tag", "", nil); r.status != 200 || r.header.Get("X-Tag") != "B" {
			t.Fatalf("after expiry: %d X-Tag %q", r.status, r.header.Get("X-Tag"))
		}
	}
}

// SIGKILL the runner under traffic: it is respawned; plain routes never
// fail, ext-plugin routes get 503 only while it is down (200 with
// allow_degradation), and no request is answered with another route's conf
// (a new runner numbers its tokens from 1 again).
func TestExtPluginRunnerKilledUnderTraffic(t *testing.T) {
	g := newRunnerGateway(t, 2, "")
	up := inspectUpstream(t)
	tags := []string{"A", "B", "C", "D"}
	putRouteOK(t, g, "plain", fmt.Sprintf(`{"uri":"/plain","upstream":{"nodes":{%q:1}}}`, up))
	for _, tg := range tags {
		putRouteOK(t, g, "tag"+tg, extRoute("/tag/"+tg, up, "ext-plugin-pre-req", []map[string]string{{"name": "tag", "value": confValue(map[string]string{"tag": tg})}}, ""))
	}
	putRouteOK(t, g, "degrade", extRoute("/degrade", up, "ext-plugin-pre-req", []map[string]string{{"name": "tag", "value": confValue(map[string]string{"tag": "G"})}}, "degrade"))
	for _, tg := range tags {
		eventually(t, 10*time.Second, func() error {
			if r := extDo(t, g, "GET", "/tag/"+tg, "", nil); r.header.Get("X-Tag") != tg {
				return fmt.Errorf("/tag/%s: %d %q", tg, r.status, r.header.Get("X-Tag"))
			}
			return nil
		})
	}
	pid, _ := runnerPid(g)
	if pid == 0 {
		t.Fatal("no runner pid in status")
	}

	var plainFail, wrongConf, degradeFail, ext503, extOK atomic.Int64
	var firstWrong atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	loop := func(path string, check func(status int, h http.Header)) {
		defer wg.Done()
		for n := 0; ctx.Err() == nil && n < 20000; n++ {
			resp, err := client.Get(g.URL(path))
			if err != nil {
				check(0, nil)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			check(resp.StatusCode, resp.Header)
		}
	}
	wg.Add(2 + len(tags))
	go loop("/plain", func(st int, _ http.Header) {
		if st != 200 {
			plainFail.Add(1)
		}
	})
	go loop("/degrade", func(st int, _ http.Header) {
		if st != 200 {
			degradeFail.Add(1)
		}
	})
	for _, tg := range tags {
		go loop("/tag/"+tg, func(st int, h http.Header) {
			switch {
			case st == 503:
				ext503.Add(1)
			case st != 200:
				wrongConf.Add(1)
				firstWrong.CompareAndSwap(nil, fmt.Sprintf("/tag/%s: status %d", tg, st))
			case h.Get("X-Tag") != tg:
				wrongConf.Add(1)
				firstWrong.CompareAndSwap(nil, fmt.Sprintf("/tag/%s answered with X-Tag %q", tg, h.Get("X-Tag")))
			default:
				extOK.Add(1)
			}
		})
	}

	time.Sleep(300 * time.Millisecond) // traffic before the kill
	killed := time.Now()
	syscallSignal(t, pid, syscall.SIGKILL)
	var respawned time.Duration
	eventually(t, 10*time.Second, func() error {
		if p, _ := runnerPid(g); p == 0 || p == pid {
			return fmt.Errorf("runner not respawned (pid %d)", p)
		}
		respawned = time.Since(killed)
		return nil
	})
	// Served again by the new runner.
	eventually(t, 10*time.Second, func() error {
		for _, tg := range tags {
			if r := extDo(t, g, "GET", "/tag/"+tg, "", nil); r.status != 200 {
				return fmt.Errorf("/tag/%s: %d after respawn", tg, r.status)
			}
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // traffic after recovery
	cancel()
	wg.Wait()
	t.Logf("runner respawned after %v; ext requests: %d ok, %d answered 503", respawned.Round(time.Millisecond), extOK.Load(), ext503.Load())
	if respawned > 3*time.Second {
		t.Errorf("respawn took %v, want <= 3s", respawned)
	}
	if n := plainFail.Load(); n != 0 {
		t.Errorf("%d plain requests failed", n)
	}
	if n := degradeFail.Load(); n != 0 {
		t.Errorf("%d allow_degradation requests failed", n)
	}
	if n := wrongConf.Load(); n != 0 {
		t.Errorf("%d ext requests answered wrongly; first: %v", n, firstWrong.Load())
	}
}

// SIGSTOP the runner: requests fail at the RPC timeout instead of hanging,
// and after SIGCONT the same runner serves again.
func TestExtPluginRunnerHung(t *testing.T) {
	g := newRunnerGateway(t, 1, fmt.Sprintf("  cmd: [%q, \"run\"]\n  timeout: 1\n", extRunner(t)))
	up := inspectUpstream(t)
	putRouteOK(t, g, "tag", extRoute("/tag", up, "ext-plugin-pre-req", []map[string]string{{"name": "tag", "value": confValue(map[string]string{"tag": "A"})}}, ""))
	putRouteOK(t, g, "plain", fmt.Sprintf(`{"uri":"/plain","upstream":{"nodes":{%q:1}}}`, up))
	eventually(t, 10*time.Second, func() error {
		if r := extDo(t, g, "GET", "/tag", "", nil); r.status != 200 {
			return fmt.Errorf("/tag: %d", r.status)
		}
		return nil
	})
	pid, _ := runnerPid(g)
	syscallSignal(t, pid, syscall.SIGSTOP)
	cont := sync.OnceFunc(func() { syscall.Kill(pid, syscall.SIGCONT) })
	t.Cleanup(cont)

	start := time.Now()
	r := extDo(t, g, "GET", "/tag", "", nil)
	took := time.Since(start)
	if r.status != 503 || took < 900*time.Millisecond || took > 4*time.Second {
		t.Errorf("hung runner: %d after %v, want 503 after about 1s", r.status, took)
	}
	if r := extDo(t, g, "GET", "/plain", "", nil); r.status != 200 {
		t.Errorf("plain route while the runner hangs: %d", r.status)
	}
	cont()
	eventually(t, 5*time.Second, func() error {
		if r := extDo(t, g, "GET", "/tag", "", nil); r.status != 200 || r.header.Get("X-Tag") != "A" {
			return fmt.Errorf("after SIGCONT: %d %q", r.status, r.header.Get("X-Tag"))
		}
		return nil
	})
	if p, _ := runnerPid(g); p != pid {
		t.Errorf("runner restarted (%d -> %d); SIGCONT should have been enough", pid, p)
	}
}

// path_for_test: the developer starts the runner by hand; the gateway
// connects to that path and spawns nothing.
func TestExtPluginPathForTest(t *testing.T) {
	dir, err := os.MkdirTemp("", "pft")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "r.sock")
	cmd := exec.Command(extRunner(t), "run")
	cmd.Env = append(os.Environ(), "APISIX_LISTEN_ADDRESS=unix:"+sock, "APISIX_CONF_EXPIRE_TIME=3600")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	g := newRunnerGateway(t, 1, fmt.Sprintf("  path_for_test: %s\n", sock))
	up := inspectUpstream(t)
	putRouteOK(t, g, "tag", extRoute("/tag", up, "ext-plugin-pre-req", []map[string]string{{"name": "tag", "value": confValue(map[string]string{"tag": "H"})}}, ""))
	eventually(t, 10*time.Second, func() error {
		if r := extDo(t, g, "GET", "/tag", "", nil); r.status != 200 || r.header.Get("X-Tag") != "H" {
			return fmt.Errorf("/tag: %d %q", r.status, r.header.Get("X-Tag"))
		}
		return nil
	})
	if pid, _ := runnerPid(g); pid != 0 {
		t.Errorf("the gateway spawned a runner (%d) with path_for_test and no cmd", pid)
	}
}
