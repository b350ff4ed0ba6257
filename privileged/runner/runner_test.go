package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/internal/proc"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is one supervisor of the fake runner.
type fixture struct {
	sup    *Supervisor
	dir    string // the managed socket directory
	socket string
	report string
	log    *syncBuffer

	mu     sync.Mutex
	spawns []time.Time // BeforeSpawn calls
}

func (f *fixture) spawned() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.spawns)
}

func start(t *testing.T, env []string, timing Timing) *fixture {
	t.Helper()
	base := shortTempDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: filepath.Join(base, "run"), log: &syncBuffer{}, report: filepath.Join(base, "report.json")}
	f.socket = filepath.Join(f.dir, "1-1.sock")
	sup, err := Start(Config{
		Cmd:         []string{self, "-test.run=^$"},
		Socket:      f.socket,
		Dir:         f.dir,
		ExpireTime:  3600 * time.Second,
		WorkDir:     base,
		Env:         append([]string{"FAKE_RUNNER=1", "FAKE_REPORT=" + f.report}, env...),
		Log:         zerolog.New(f.log),
		BeforeSpawn: func() { f.mu.Lock(); f.spawns = append(f.spawns, time.Now()); f.mu.Unlock() },
		Timing:      timing,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sup = sup
	t.Cleanup(func() {
		sup.Stop()
		if t.Failed() {
			t.Logf("supervisor log:\n%s", f.log.String())
		}
	})
	return f
}

func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listening waits for a runner other than notPid to have written its report
// and for its socket to be 0600, and returns the report.
func (f *fixture) listening(t *testing.T, timeout time.Duration, notPid int) *fakeReport {
	t.Helper()
	var rep *fakeReport
	eventually(t, timeout, func() error {
		r, err := readReport(f.report)
		if err != nil {
			return err
		}
		if r.Pid == notPid {
			return fmt.Errorf("still the report of pid %d", notPid)
		}
		fi, err := os.Lstat(f.socket)
		if err != nil {
			return err
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			return fmt.Errorf("socket mode %s, want a 0600 socket", fi.Mode())
		}
		if st := f.sup.Status(); st.Pid != r.Pid {
			return fmt.Errorf("status pid %d, runner %d", st.Pid, r.Pid)
		}
		rep = r
		return nil
	})
	return rep
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestRunnerEnvironmentSocketAndStop(t *testing.T) {
	// A descriptor without close-on-exec, as the agent's inherited ones are.
	leak := filepath.Join(shortTempDir(t), "inherited")
	if err := os.WriteFile(leak, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Open(leak)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	fd, err := syscall.Dup(int(lf.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)

	f := start(t, []string{"FAKE_LEAK=" + leak, "KEPT=yes", EnvListenAddress + "=unix:/elsewhere"}, Timing{})
	select {
	case <-f.sup.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("Started not closed")
	}
	rep := f.listening(t, 5*time.Second, 0)
	for _, want := range []string{EnvListenAddress + "=unix:" + f.socket, EnvExpireTime + "=3600", "KEPT=yes"} {
		if !slices.Contains(rep.Env, want) {
			t.Errorf("runner env lacks %s: %v", want, rep.Env)
		}
	}
	if slices.Contains(rep.Env, EnvListenAddress+"=unix:/elsewhere") {
		t.Errorf("the caller's %s survived: %v", EnvListenAddress, rep.Env)
	}
	if rep.Cwd != filepath.Dir(f.dir) {
		t.Errorf("runner cwd %s, want %s", rep.Cwd, filepath.Dir(f.dir))
	}
	if rep.Leaked {
		t.Error("the runner inherited a descriptor of the agent")
	}
	if rep.Pgid != rep.Pid {
		t.Errorf("runner pgid %d: not its own group", rep.Pgid)
	}
	if fi, err := os.Lstat(f.dir); err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Errorf("socket dir: %v %v, want a 0700 directory", fi.Mode(), err)
	}
	if n := len(f.spawned()); n != 1 {
		t.Errorf("BeforeSpawn ran %d times, want 1", n)
	}
	if !strings.Contains(f.log.String(), `"message":"fake runner listening on `+f.socket+`"`) {
		t.Error("runner output not in the log")
	}

	f.sup.Stop()
	if alive(rep.Pid) {
		t.Errorf("runner %d alive after Stop", rep.Pid)
	}
	if _, err := os.Lstat(f.socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := os.Lstat(f.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the directory the supervisor created is left behind: %v", err)
	}
	if st := f.sup.Status(); st.Pid != 0 {
		t.Errorf("status after Stop: %+v", st)
	}
	f.sup.Stop() // idempotent
}

func TestRunnerOutputIsDrained(t *testing.T) {
	// 1 MiB is 16 pipe buffers: without a reader the runner would block
	// long before listening.
	f := start(t, []string{"FAKE_OUTPUT=1048576"}, Timing{})
	began := time.Now()
	f.listening(t, 10*time.Second, 0)
	t.Logf("1 MiB of output drained and listening after %s", time.Since(began))
	if n := strings.Count(f.log.String(), strings.Repeat("x", 99)); n < 1048576/100 {
		t.Errorf("%d lines of output logged, want %d", n, 1048576/100)
	}
	if !strings.Contains(f.log.String(), `"level":"warn","runner_pid"`) {
		t.Error("output not logged at warn with the runner's pid")
	}
}

func TestDrainSplitsLongLines(t *testing.T) {
	var buf syncBuffer
	drain(strings.NewReader(strings.Repeat("y", 2*MaxChunk+10)+"\nshort\n"), zerolog.New(&buf))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []int{MaxChunk, MaxChunk, 10, 5}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		if got := strings.Count(l, "y") + strings.Count(l, "short")*5; got != want[i] {
			t.Errorf("line %d carries %d bytes, want %d", i, got, want[i])
		}
	}
}

func TestRunnerRespawnsAfterKill(t *testing.T) {
	f := start(t, nil, Timing{})
	first := f.listening(t, 5*time.Second, 0)
	killed := time.Now()
	if err := syscall.Kill(first.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A SIGKILLed runner leaves its socket; the next one only listens if
	// the supervisor removed it.
	second := f.listening(t, 3*time.Second, first.Pid)
	t.Logf("respawned and listening %s after SIGKILL", time.Since(killed))
	if st := f.sup.Status(); st.Restarts != 1 || st.Pid != second.Pid {
		t.Errorf("status %+v, want 1 restart and pid %d", st, second.Pid)
	}
	if n := len(f.spawned()); n != 2 {
		t.Errorf("BeforeSpawn ran %d times, want 2", n)
	}
	if !strings.Contains(f.log.String(), `"status":"signal: killed"`) {
		t.Errorf("exit not logged with its signal:\n%s", f.log.String())
	}
}

func TestRunnerCrashLoopBacksOff(t *testing.T) {
	timing := Timing{FirstDelay: 40 * time.Millisecond, MaxDelay: 300 * time.Millisecond, Stable: time.Minute}
	f := start(t, []string{"FAKE_EXIT=3"}, timing)
	eventually(t, 10*time.Second, func() error {
		if n := len(f.spawned()); n < 7 {
			return fmt.Errorf("%d spawns", n)
		}
		return nil
	})
	f.sup.Stop()
	spawns := f.spawned()
	want := []time.Duration{40, 80, 160, 300, 300, 300}
	for i, w := range want {
		gap := spawns[i+1].Sub(spawns[i])
		w *= time.Millisecond
		// At least the delay; at most the delay plus a generous start time.
		if gap < w || gap > w+250*time.Millisecond {
			t.Errorf("gap %d: %s, want %s (+ start time)", i, gap, w)
		}
	}
	if !strings.Contains(f.log.String(), `"status":"exit status 3"`) {
		t.Errorf("exit status not logged:\n%s", f.log.String())
	}
	if st := f.sup.Status(); st.Restarts != len(spawns)-1 {
		t.Errorf("restarts %d, spawns %d", st.Restarts, len(spawns))
	}
}

func TestNextDelay(t *testing.T) {
	tm := DefaultTiming
	steps := []struct {
		prev, uptime, want time.Duration
	}{
		{0, 0, 250 * time.Millisecond},                                // first exit
		{250 * time.Millisecond, time.Second, 500 * time.Millisecond}, // crashing again soon
		{2 * time.Second, time.Second, 3 * time.Second},               // capped at APISIX's 3 s
		{3 * time.Second, time.Second, 3 * time.Second},               //
		{3 * time.Second, 10 * time.Second, 250 * time.Millisecond},   // it ran a while: fast again
	}
	for _, s := range steps {
		if got := tm.nextDelay(s.prev, s.uptime); got != s.want {
			t.Errorf("nextDelay(%s, %s) = %s, want %s", s.prev, s.uptime, got, s.want)
		}
	}
}

func TestRunnerStopKillsAfterGrace(t *testing.T) {
	marker := filepath.Join(shortTempDir(t), "got-sigterm")
	f := start(t, []string{"FAKE_TERM=" + marker}, Timing{})
	rep := f.listening(t, 5*time.Second, 0)
	began := time.Now()
	f.sup.Stop()
	took := time.Since(began)
	t.Logf("a runner ignoring SIGTERM stopped after %s", took)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the runner never saw SIGTERM: %v", err)
	}
	if took < time.Second || took > 2*time.Second {
		t.Errorf("stop took %s, want SIGKILL 1 s after SIGTERM", took)
	}
	if alive(rep.Pid) {
		t.Errorf("runner %d alive after Stop", rep.Pid)
	}
	if _, err := os.Lstat(f.socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket of the killed runner left behind: %v", err)
	}
	if !strings.Contains(f.log.String(), "sending SIGKILL") {
		t.Error("SIGKILL not logged")
	}
}

func TestRunnerNotStartable(t *testing.T) {
	dir := shortTempDir(t)
	sup, err := Start(Config{Cmd: []string{filepath.Join(dir, "missing")}, Socket: filepath.Join(dir, "s.sock"), WorkDir: dir,
		Log: zerolog.Nop(), Timing: Timing{FirstDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sup.Started():
	case <-time.After(5 * time.Second):
		t.Fatal("Started not closed after a failed start")
	}
	eventually(t, 5*time.Second, func() error {
		if st := sup.Status(); st.Restarts < 2 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	sup.Stop()
	if _, err := Start(Config{Socket: "/x"}); err == nil {
		t.Error("Start without a command succeeded")
	}
}

func TestSecureDir(t *testing.T) {
	base := shortTempDir(t)
	loose := filepath.Join(base, "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if created, err := SecureDir(loose); err != nil || created {
		t.Fatalf("existing dir: created %v, %v", created, err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %s not repaired to 0700", fi.Mode())
	}
	fresh := filepath.Join(base, "fresh")
	if created, err := SecureDir(fresh); err != nil || !created {
		t.Fatalf("new dir: created %v, %v", created, err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(loose, link); err != nil {
		t.Fatal(err)
	}
	if _, err := SecureDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlink accepted: %v", err)
	}
	if _, err := SecureDir(filepath.Join(base, "no", "parent")); err == nil {
		t.Error("a directory without its parent was created")
	}
}

func TestRemoveSocketLeavesOtherFiles(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "not-a-socket")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := removeSocket(path); err == nil {
		t.Error("a regular file at the socket path was accepted")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the file was removed: %v", err)
	}
	if err := removeSocket(path + ".missing"); err != nil {
		t.Errorf("missing path: %v", err)
	}
}

func TestEnviron(t *testing.T) {
	agent := []string{"GOMAXPROCS=1", "PATH=/bin", proc.EnvSpec + "={}", "TZ=UTC", "MINE=1"}
	got := Environ(agent, []string{"MINE"})
	if want := []string{"PATH=/bin", "TZ=UTC", "MINE=1"}; !slices.Equal(got, want) {
		t.Errorf("Environ = %v, want %v", got, want)
	}
	// GOMAXPROCS declared in nginx_config.envs is the user's: kept (exec
	// keeps the last duplicate, the user's value).
	got = Environ([]string{"GOMAXPROCS=1", "GOMAXPROCS=4"}, []string{"GOMAXPROCS"})
	if want := []string{"GOMAXPROCS=1", "GOMAXPROCS=4"}; !slices.Equal(got, want) {
		t.Errorf("declared GOMAXPROCS: %v, want %v", got, want)
	}
}

func TestRemoveOrphans(t *testing.T) {
	dir := shortTempDir(t)
	// pid_max is at most 2^22, so 4194305 never names a process.
	dead, live := "4194305-3.sock", fmt.Sprintf("%d-1.sock", os.Getpid())
	for _, name := range []string{dead, live, "4194305-x.sock"} {
		ln, err := net.Listen("unix", filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
	if err := os.WriteFile(filepath.Join(dir, "4194305-4.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveOrphans(dir)
	if err != nil || !slices.Equal(removed, []string{dead}) {
		t.Errorf("removed %v, %v; want only %s", removed, err, dead)
	}
	for _, kept := range []string{live, "4194305-x.sock", "4194305-4.sock"} {
		if _, err := os.Lstat(filepath.Join(dir, kept)); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
}
