package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The privileged agent runs ext-plugin.cmd as the gateway's user with the
// documented environment on a private socket, respawns it when it dies (and
// with the agent when the agent dies), replaces it on reload and upgrade, and
// leaves nothing behind on quit (RELIABILITY P1, P2, R8).
func TestRunnerSupervisedByAgent(t *testing.T) {
	g, reports := fakeRunnerGateway(t)
	g.Start()

	agent, run, rep := waitRunner(t, g, reports, 0, 0, 10*time.Second)
	dir := filepath.Dir(run.Socket)
	t.Logf("runner %d on %s", run.Pid, run.Socket)
	if want := fmt.Sprintf("%d-%d.sock", g.MasterPid(), agent.Generation); filepath.Base(run.Socket) != want {
		t.Errorf("socket %s, want one named %s (master pid, generation)", run.Socket, want)
	}
	for _, want := range []string{"APISIX_LISTEN_ADDRESS=unix:" + run.Socket, "APISIX_CONF_EXPIRE_TIME=3600", "RUNNER_FROM_CONFIG=declared"} {
		if !slices.Contains(rep.Env, want) {
			t.Errorf("runner env lacks %s: %v", want, rep.Env)
		}
	}
	for _, kv := range rep.Env {
		if k, _, _ := strings.Cut(kv, "="); k == "PORTICO_CHILD" || k == "GOMAXPROCS" || strings.HasPrefix(k, "PORTICO_") {
			t.Errorf("runner got Portico's own %s", kv)
		}
	}
	if me := os.Getuid(); rep.Uid != me || procUID(t, run.Pid) != strconv.Itoa(me) || ownerUID(t, run.Socket) != me || ownerUID(t, dir) != me {
		t.Errorf("runner uid %d, socket owner %d, dir owner %d: want the gateway's uid %d", rep.Uid, ownerUID(t, run.Socket), ownerUID(t, dir), me)
	}
	if rep.Ppid != agent.Pid {
		t.Errorf("runner's parent %d, want the agent %d", rep.Ppid, agent.Pid)
	}
	if rep.Cwd != g.Prefix {
		t.Errorf("runner cwd %s, want the prefix %s", rep.Cwd, g.Prefix)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir %s: %v %v, want a 0700 directory", dir, fi.Mode(), err)
	}
	if !strings.Contains(g.Logs(), "fakerunner listening on "+run.Socket) {
		t.Error("runner output not in the error log")
	}
	gen0 := g.Status().RunnerGeneration
	if gen0 < 1 {
		t.Errorf("runner_generation %d after the first spawn", gen0)
	}

	// SIGKILL: a new runner within 3 s (P1), counted, the stale socket
	// replaced.
	killed := time.Now()
	syscallKill(t, run.Pid)
	_, run2, _ := waitRunner(t, g, reports, agent.Generation, run.Pid, 3*time.Second)
	t.Logf("runner respawned and listening %s after SIGKILL", time.Since(killed))
	if run2.Restarts != 1 || run2.Socket != run.Socket {
		t.Errorf("after one kill: %+v, want 1 restart on %s", run2, run.Socket)
	}
	if got := g.Status().RunnerGeneration; got != gen0+1 {
		t.Errorf("runner_generation %d after a respawn, want %d", got, gen0+1)
	}

	// The agent killed outright takes its runner along (Pdeathsig); the
	// respawned agent starts another.
	syscallKill(t, agent.Pid)
	if !waitDead(run2.Pid, 2*time.Second) {
		t.Errorf("runner %d outlived its agent", run2.Pid)
	}
	agent3, run3, _ := waitRunner(t, g, reports, agent.Generation, run2.Pid, 10*time.Second)
	if agent3.Pid == agent.Pid {
		t.Fatalf("agent %d not respawned", agent.Pid)
	}

	// Reload: the new generation's runner on its own socket, the old one
	// stopped and its socket removed.
	g.MustRun("reload")
	agent4, run4, _ := waitRunner(t, g, reports, agent.Generation+1, run3.Pid, 10*time.Second)
	if run4.Socket == run3.Socket {
		t.Errorf("both generations' runners on %s", run4.Socket)
	}
	eventually(t, 5*time.Second, func() error {
		if alive(run3.Pid) {
			return fmt.Errorf("old generation's runner %d alive", run3.Pid)
		}
		if _, err := os.Lstat(run3.Socket); err == nil {
			return fmt.Errorf("old socket %s left behind", run3.Socket)
		}
		return nil
	})

	// Upgrade: the new master's runner, named after the new master.
	oldMaster := g.MasterPid()
	g.MustRun("upgrade")
	eventually(t, 15*time.Second, func() error {
		if g.MasterPid() == oldMaster || alive(oldMaster) {
			return fmt.Errorf("old master %d still there", oldMaster)
		}
		return nil
	})
	_, run5, _ := waitRunner(t, g, reports, 0, run4.Pid, 10*time.Second)
	if !strings.HasPrefix(filepath.Base(run5.Socket), strconv.Itoa(g.MasterPid())+"-") {
		t.Errorf("socket %s not named after the new master %d", run5.Socket, g.MasterPid())
	}
	if alive(run4.Pid) || alive(agent4.Pid) {
		t.Errorf("old master's agent %d or runner %d alive", agent4.Pid, run4.Pid)
	}

	// Quit: no runner and no socket once the command returned.
	master := g.MasterPid()
	g.MustRun("quit")
	if alive(master) || alive(run5.Pid) {
		t.Errorf("master %d or runner %d alive after quit", master, run5.Pid)
	}
	if left := sockets(dir); len(left) > 0 {
		t.Errorf("sockets left in %s after quit: %v", dir, left)
	}
}

// `portico stop` leaves no runner and no socket, even when the runner
// ignores SIGTERM (it gets SIGKILL after 1 s, and the master waits for the
// agent to have done so).
func TestRunnerGoneAfterStop(t *testing.T) {
	g, reports := fakeRunnerGateway(t, "-ignore-term")
	// Left by an earlier life: a socket directory too open, and the socket
	// of a runner whose master was killed (pid_max is at most 2^22).
	dir := filepath.Join(g.Prefix, "logs", "runner")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, "4194305-1.sock")
	ln, err := net.Listen("unix", orphan)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()

	g.Start()
	_, run, _ := waitRunner(t, g, reports, 0, 0, 10*time.Second)
	if filepath.Dir(run.Socket) != dir {
		t.Fatalf("socket %s not in %s (the prefix is too long for sun_path here)", run.Socket, dir)
	}
	if fi, err := os.Lstat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir %s not made 0700: %v %v", dir, fi.Mode(), err)
	}
	if _, err := os.Lstat(orphan); err == nil {
		t.Errorf("orphan socket %s not removed", orphan)
	}
	master := g.MasterPid()
	began := time.Now()
	g.MustRun("stop")
	t.Logf("stop with a runner ignoring SIGTERM took %s", time.Since(began))
	if alive(master) || alive(run.Pid) {
		t.Errorf("master %d or runner %d alive after stop", master, run.Pid)
	}
	if _, err := os.Lstat(run.Socket); err == nil {
		t.Errorf("socket %s left behind", run.Socket)
	}
	if !strings.Contains(g.Logs(), "sending SIGKILL") {
		t.Error("the runner ignoring SIGTERM was not killed by the agent")
	}
}
