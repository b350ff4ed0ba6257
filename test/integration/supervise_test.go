package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitHook makes workers that start while the file exists exit with code.
func exitHook(t *testing.T, g *Gateway) (set func(code int), clear func()) {
	path := filepath.Join(g.Prefix, "worker-exit")
	g.Extra = "test_only:\n  worker_exit_file: " + path + "\n"
	g.WriteConfig()
	return func(code int) {
			if err := os.WriteFile(path, []byte(fmt.Sprint(code)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, func() {
			os.Remove(path)
		}
}

func TestFatalExitIsNotRespawned(t *testing.T) {
	g := newGateway(t, 2)
	set, _ := exitHook(t, g)
	g.Start()
	victim := workers(g.Status(), 0)[0]
	set(2) // proc.ExitFatalConfig
	syscall.Kill(victim.Pid, syscall.SIGKILL)
	eventually(t, 5*time.Second, func() error {
		if !strings.Contains(g.Logs(), "fatal configuration code; not respawning") {
			return fmt.Errorf("no fatal-exit log line yet")
		}
		return nil
	})
	// Give a wrongly scheduled respawn time to show up, then check none did.
	time.Sleep(1500 * time.Millisecond)
	ws := workers(g.Status(), 0)
	if len(ws) != 1 || ws[0].Slot == victim.Slot {
		t.Errorf("after a fatal exit of slot %d: workers %+v", victim.Slot, ws)
	}
	g.WaitServing(time.Second) // the other worker serves on
}

func TestCrashLoopBacksOff(t *testing.T) {
	g := newGateway(t, 2)
	set, clear := exitHook(t, g)
	g.Start()
	victim := workers(g.Status(), 0)[0]
	set(1)
	start := time.Now()
	syscall.Kill(victim.Pid, syscall.SIGKILL)
	// Respawns at 0, 0.1, 0.2, 0.4, 0.8, 1.6 s...: within 2.5 s about six.
	time.Sleep(2500 * time.Millisecond)
	n := strings.Count(g.Logs(), "test_only.worker_exit_file present")
	t.Logf("crash loop: %d failed starts in %s", n, time.Since(start).Round(time.Millisecond))
	if n < 3 || n > 8 {
		t.Errorf("%d respawns in 2.5 s; want back-off between 3 and 8", n)
	}
	if !strings.Contains(g.Logs(), "backing off") {
		t.Error("no back-off logged")
	}
	g.WaitServing(time.Second) // the master and the other worker are unaffected
	clear()
	eventually(t, 15*time.Second, func() error {
		for _, c := range workers(g.Status(), 0) {
			if c.Slot == victim.Slot && c.State == "serving" {
				return nil
			}
		}
		return fmt.Errorf("slot %d not back", victim.Slot)
	})
}

func TestPrivilegedAgentIsRespawned(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	var agent int
	for _, c := range g.Status().Children {
		if c.Role == "privileged" {
			agent = c.Pid
		}
	}
	syscall.Kill(agent, syscall.SIGKILL)
	eventually(t, time.Second, func() error {
		for _, c := range g.Status().Children {
			if c.Role == "privileged" && c.Pid != agent && c.State == "serving" {
				return nil
			}
		}
		return fmt.Errorf("agent not respawned")
	})
}

func TestWorkersDropToConfiguredUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("PORTICO_CI") != "" {
			t.Fatal("CI must run as root: this test drops worker privileges")
		}
		t.Skip("dropping privileges needs root (CI runs as root and fails here otherwise)")
	}
	g := newGateway(t, 1)
	// The prefix must be reachable by the unprivileged user only for what
	// it opens itself: sockets, logs and the runtime file are inherited.
	// t.TempDir makes 0700 directories; the workers' user must be able to
	// reach the binary it is re-executed from.
	for dir := g.Prefix; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		os.Chmod(dir, 0o755)
	}
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "nginx_config:\n", "nginx_config:\n  user: nobody\n", 1))
	g.Start()
	for _, c := range g.Status().Children {
		uid := procUID(t, c.Pid)
		if uid != "65534" {
			t.Errorf("%s %d runs as uid %s, want nobody (65534)", c.Role, c.Slot, uid)
		}
	}
	if uid := procUID(t, g.MasterPid()); uid != "0" {
		t.Errorf("master uid %s", uid)
	}
	// Reopen still works: the master opens the files and hands them over.
	g.MustRun("reopen")
	g.WaitServing(time.Second)
	// The unprivileged workers keep their last good snapshot in the one
	// directory they own.
	cache := filepath.Join(g.Prefix, "data", "cache", "config-snapshot.json")
	eventually(t, 5*time.Second, func() error {
		_, err := os.Stat(cache)
		return err
	})
	if st, err := os.Stat(filepath.Dir(cache)); err != nil || st.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("cache dir not owned by nobody: %v", err)
	}
	if strings.Contains(g.Logs(), "permission denied") {
		t.Error("a child hit permission denied")
	}
}

func procUID(t *testing.T, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			return f[2] // effective
		}
	}
	return ""
}
