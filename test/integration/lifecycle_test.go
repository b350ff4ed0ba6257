package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartServesAndReportsStatus(t *testing.T) {
	g := newGateway(t, 2)
	// Below the hard limit, so the children's limit shows it was applied.
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "nginx_config:\n", "nginx_config:\n  worker_rlimit_nofile: 4096\n  event:\n    worker_connections: 1024\n", 1))
	begin := time.Now()
	g.MustRun("start")
	g.WaitServing(5 * time.Second)
	t.Logf("serving %s after start", time.Since(begin).Round(time.Millisecond))

	resp, err := http.Get(g.URL("/anything"))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || body != `{"error_msg":"404 Route Not Found"}`+"\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if s := resp.Header.Get("Server"); !strings.HasPrefix(s, "APISIX") {
		t.Errorf("Server %q", s)
	}

	head, err := http.Head("http://127.0.0.1:" + strconv.Itoa(g.AdminPort) + "/apisix/admin")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 {
		t.Errorf("HEAD /apisix/admin: %d", head.StatusCode)
	}

	st := g.Status()
	if st.Master.Pid != g.MasterPid() || st.Master.Pid == 0 {
		t.Errorf("status master pid %d, pid file %d", st.Master.Pid, g.MasterPid())
	}
	// Children inherit nginx_config.worker_rlimit_nofile.
	want := "4096"
	for _, c := range st.Children {
		if lim := openFilesLimit(t, c.Pid); lim != want {
			t.Errorf("%s %d: open files limit %s, want %s", c.Role, c.Slot, lim, want)
		}
	}
	var nWorkers, nAgents int
	slots := map[int]bool{}
	for _, c := range st.Children {
		if c.Pid == 0 || !alive(c.Pid) || c.Generation != 1 {
			t.Errorf("child %+v", c)
		}
		switch c.Role {
		case "worker":
			nWorkers++
			slots[c.Slot] = true
		case "privileged":
			nAgents++
		}
	}
	if nWorkers != 2 || nAgents != 1 || !slots[0] || !slots[1] {
		t.Errorf("want workers in slots 0,1 and one agent, got %+v", st.Children)
	}
	// Workers reach the embedded etcd by themselves.
	eventually(t, 10*time.Second, func() error {
		for _, c := range workers(g.Status(), 0) {
			if c.EtcdReachable == nil || !*c.EtcdReachable {
				return fmt.Errorf("worker %d: etcd not reachable yet", c.Slot)
			}
		}
		return nil
	})
	// The human-readable form names the same processes.
	out := g.MustRun("status")
	if !strings.Contains(out, "privileged") || !strings.Contains(out, strconv.Itoa(st.Master.Pid)) {
		t.Errorf("status:\n%s", out)
	}
	g.MustRun("stop")
	if alive(st.Master.Pid) {
		t.Error("master alive after stop")
	}
	for _, c := range st.Children {
		if alive(c.Pid) {
			t.Errorf("child %d alive after stop", c.Pid)
		}
	}
	if _, err := os.Stat(filepath.Join(g.Prefix, "logs", "portico.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left after stop: %v", err)
	}
	if out, code := g.Run("status"); code != 3 {
		t.Errorf("status of a stopped gateway: exit %d, %s", code, out)
	}
}

func TestWorkerKilledIsRespawnedOnSameSocket(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	victim := workers(g.Status(), 0)[0]

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, wait := clientLoop(ctx, g.URL("/"), 200000)
	res.waitOK(t, 200) // the loop runs before the fault
	killed := time.Now()
	if err := syscall.Kill(victim.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var replacement int
	eventually(t, time.Second, func() error {
		for _, c := range workers(g.Status(), 0) {
			if c.Slot == victim.Slot && c.Pid != victim.Pid && c.State == "serving" {
				replacement = c.Pid
				return nil
			}
		}
		return fmt.Errorf("slot %d not respawned yet", victim.Slot)
	})
	t.Logf("slot %d respawned as pid %d within %s", victim.Slot, replacement, time.Since(killed).Round(time.Millisecond))
	wait()
	// SIGKILL loses only what the victim had already accepted: requests
	// sent before the kill, at most one per client. Connections opened
	// afterwards, including those queued on the victim's socket until its
	// replacement took it over, all succeed: none refused, none reset.
	t.Logf("client loop: %d ok, %d failed (%v)", res.ok.Load(), res.failures.Load(), res.samples)
	if n := res.failedAfter(killed); n > 0 {
		t.Errorf("%d requests sent after the kill failed: %v", n, res.samples)
	}
	if f := res.failures.Load(); f > 8 {
		t.Errorf("%d failures, more than the 8 clients could have had in flight", f)
	}
	if res.ok.Load() < 1000 {
		t.Errorf("only %d requests succeeded", res.ok.Load())
	}
}

func TestStartTwiceAndStalePidFile(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	pid := g.MasterPid()
	out, code := g.Run("start")
	if code == 0 || !strings.Contains(out, "already running") {
		t.Fatalf("second start: exit %d\n%s", code, out)
	}
	if g.MasterPid() != pid || !alive(pid) {
		t.Fatal("the running master was disturbed")
	}
	g.WaitServing(time.Second)

	// A master killed outright leaves its pid file behind.
	syscall.Kill(pid, syscall.SIGKILL)
	waitDead(pid, 5*time.Second)
	out = g.MustRun("start")
	if !strings.Contains(out, "will be overwritten") {
		t.Errorf("no stale pid message:\n%s", out)
	}
	g.WaitServing(5 * time.Second)
	if g.MasterPid() == pid {
		t.Error("pid file not overwritten")
	}
}

func TestMasterKilledTakesChildrenAlong(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	st := g.Status()
	syscall.Kill(st.Master.Pid, syscall.SIGKILL)
	start := time.Now()
	for _, c := range st.Children {
		if !waitDead(c.Pid, 2*time.Second) {
			t.Errorf("%s %d (pid %d) outlived the master by 2s", c.Role, c.Slot, c.Pid)
		}
	}
	t.Logf("children gone %s after the master", time.Since(start).Round(time.Millisecond))
}

func TestQuitDrainsStopDoesNot(t *testing.T) {
	for _, tc := range []struct {
		verb     string
		wantDone bool
	}{{"quit", true}, {"stop", false}} {
		t.Run(tc.verb, func(t *testing.T) {
			g := newGateway(t, 1)
			g.Extra = "test_only:\n  slow_path: /slow\n  slow_delay: 1500ms\n"
			g.WriteConfig()
			g.Start()
			type result struct {
				status int
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.Get(g.URL("/slow"))
				if err != nil {
					done <- result{err: err}
					return
				}
				readAll(resp.Body)
				resp.Body.Close()
				done <- result{status: resp.StatusCode}
			}()
			g.waitInFlight(1)
			begin := time.Now()
			g.MustRun(tc.verb)
			took := time.Since(begin)
			r := <-done
			if tc.wantDone {
				if r.err != nil || r.status != 200 {
					t.Errorf("in-flight request during quit: %d %v", r.status, r.err)
				}
				if took < time.Second {
					t.Errorf("quit returned after %s, before the in-flight request finished", took)
				}
			} else {
				if r.err == nil {
					t.Errorf("in-flight request survived stop with status %d", r.status)
				}
				if took > time.Second {
					t.Errorf("stop took %s", took)
				}
			}
			t.Logf("%s returned after %s", tc.verb, took.Round(time.Millisecond))
		})
	}
}

func TestStatusJSONShape(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	out := g.MustRun("status", "--json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	master := raw["master"].(map[string]any)
	if master["pid"].(float64) != float64(g.MasterPid()) {
		t.Errorf("master: %v", master)
	}
	for _, c := range raw["children"].([]any) {
		m := c.(map[string]any)
		for _, k := range []string{"pid", "role", "slot", "generation"} {
			if _, ok := m[k]; !ok {
				t.Errorf("child lacks %q: %v", k, m)
			}
		}
	}
}

// A request longer than worker_shutdown_timeout does not hold quit forever:
// the worker is forced out at the deadline.
func TestQuitForcesOutAtShutdownTimeout(t *testing.T) {
	g := newGateway(t, 1)
	g.Extra = "test_only:\n  slow_path: /slow\n  slow_delay: 30s\n"
	g.WriteConfig()
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "worker_shutdown_timeout: 10s", "worker_shutdown_timeout: 1s", 1))
	g.Start()
	done := make(chan error, 1)
	go func() {
		resp, err := httpClient.Get(g.URL("/slow"))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	eventually(t, 5*time.Second, func() error {
		for _, l := range g.Status().Listeners {
			if l.Role == "node" && l.Established > 0 {
				return nil
			}
		}
		return fmt.Errorf("slow request not connected yet")
	})
	begin := time.Now()
	g.MustRun("quit")
	took := time.Since(begin)
	t.Logf("quit with a 30 s request in flight and a 1 s shutdown timeout: %s", took.Round(time.Millisecond))
	if took < time.Second || took > 3*time.Second {
		t.Errorf("quit took %s, want the 1 s deadline (+ at most the 1 s kill grace)", took)
	}
	if err := <-done; err == nil {
		t.Error("the 30 s request completed")
	}
}

// openFilesLimit is the soft "Max open files" of pid.
func openFilesLimit(t *testing.T, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			return strings.Fields(line)[3]
		}
	}
	return ""
}
