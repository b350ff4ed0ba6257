package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUpgradeUnderLoad(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	old := g.Status()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, wait := clientLoop(ctx, g.URL("/"), 1<<40)
	res.waitOK(t, 200)

	// A new binary on disk, as a package upgrade installs it.
	copyFile(t, portico, g.Bin)
	begin := time.Now()
	out := g.MustRun("upgrade")
	t.Logf("upgrade: %s(%s)", out, time.Since(begin).Round(time.Millisecond))
	newPid := g.MasterPid()
	if newPid == old.Master.Pid || !alive(newPid) {
		t.Fatalf("pid file names %d after upgrade (old %d)", newPid, old.Master.Pid)
	}
	if !waitDead(old.Master.Pid, 15*time.Second) {
		t.Error("old master still alive 15s after the upgrade")
	}
	for _, c := range old.Children {
		if alive(c.Pid) {
			t.Errorf("old %s %d (pid %d) alive", c.Role, c.Slot, c.Pid)
		}
	}
	st := g.Status()
	if st.Master.Pid != newPid || st.Master.Generation <= old.Master.Generation || len(workers(st, 0)) != 2 {
		t.Errorf("status after upgrade: %+v", st.Master)
	}
	// Keep the loop on the new master a moment.
	served := res.ok.Load()
	res.waitOK(t, served+500)
	cancel()
	wait()
	res.check(t, 1000)
}

func TestUpgradeToBrokenBinaryKeepsServing(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	pid := g.MasterPid()
	broken := filepath.Join(g.Prefix, "bin", "portico.new")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho broken build >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(broken, g.Bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, wait := clientLoop(ctx, g.URL("/"), 1<<40)
	res.waitOK(t, 100)

	// The CLI itself is the broken file now: drive the master with the good one.
	cmd := append([]string{}, "upgrade")
	out, code := (&Gateway{t: t, Prefix: g.Prefix, Bin: portico}).Run(cmd...)
	cancel()
	wait()
	if code == 0 {
		t.Fatalf("upgrade to a failing binary succeeded:\n%s", out)
	}
	if !strings.Contains(out, "exited") {
		t.Errorf("upgrade error does not say the new master exited:\n%s", out)
	}
	if g.MasterPid() != pid || !alive(pid) {
		t.Fatal("the old master is gone")
	}
	g.WaitServing(time.Second)
	res.check(t, 100)
}

// `start --foreground` (systemd Type=simple, containers, `make run`) becomes
// the master in place, so an upgrade re-executes the master, not `start`.
func TestForegroundStartCanUpgrade(t *testing.T) {
	g := newGateway(t, 1)
	fg := exec.Command(g.Bin, "start", "--foreground", "-p", g.Prefix)
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fg.Wait() }()
	eventually(t, 5*time.Second, func() error {
		if p := g.MasterPid(); p != fg.Process.Pid {
			return fmt.Errorf("pid file %d, foreground process %d", p, fg.Process.Pid)
		}
		return nil
	})
	g.MustRun("upgrade")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("old foreground master exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("old foreground master did not exit after the upgrade")
	}
	if p := g.MasterPid(); p == fg.Process.Pid || !alive(p) {
		t.Fatalf("pid file names %d after the upgrade", p)
	}
	g.WaitServing(time.Second)
}

// A route put a moment before an upgrade is served throughout it: the new
// master's workers read etcd (still the old master's) before they serve,
// instead of answering from a cache written up to a second earlier and
// then waiting out the embedded etcd's hand-over.
func TestUpgradeRightAfterAPut(t *testing.T) {
	g := newAdminGateway(t, 2, "")
	up := echoUpstream(t, "up")
	if r := g.call(t, "PUT", "/apisix/admin/routes/fresh", fmt.Sprintf(`{"uri":"/fresh","upstream":{"nodes":{%q:1}}}`, up)); r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	waitServed(t, g, "/fresh")
	old := g.MasterPid()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, wait := clientLoopWant(ctx, g.URL("/fresh"), 1<<40, 200)
	copyFile(t, portico, g.Bin)
	g.MustRun("upgrade")
	if !waitDead(old, 15*time.Second) {
		t.Error("old master still alive 15s after the upgrade")
	}
	served := res.ok.Load()
	res.waitOK(t, served+200)
	cancel()
	wait()
	res.check(t, 200)
}
