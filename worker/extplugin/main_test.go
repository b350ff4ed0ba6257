package extplugin

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runnerBin is test/extrunner, built once for the package's tests.
var runnerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "extplugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildRunner(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildRunner(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("not inside a Go module")
	}
	runnerBin = filepath.Join(dir, "runner")
	cmd := exec.Command("go", "build", "-o", runnerBin, "./test/extrunner")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test/extrunner: %w\n%s", err, out)
	}
	return nil
}

// lockedBuffer drains the runner's stdout and stderr: the SDK blocks once
// an undrained pipe is full.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type runnerProc struct {
	cmd  *exec.Cmd
	dir  string
	sock string
	out  lockedBuffer
	once sync.Once
}

// startRunner starts test/extrunner in dir (prod mode: warnings only, to
// dir/logs/runner.log) listening on dir/r.sock, and waits until it accepts.
func startRunner(t testing.TB, dir string, expire int) *runnerProc {
	t.Helper()
	r := &runnerProc{dir: dir, sock: filepath.Join(dir, "r.sock")}
	r.cmd = exec.Command(runnerBin, "run", "-m", "prod")
	r.cmd.Dir = dir
	r.cmd.Env = append(os.Environ(),
		"APISIX_LISTEN_ADDRESS=unix:"+r.sock,
		"APISIX_CONF_EXPIRE_TIME="+strconv.Itoa(expire))
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start runner: %v", err)
	}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(dir, "logs", "runner.log"))
			t.Logf("runner pid %d output:\n%s%s", r.cmd.Process.Pid, r.out.String(), logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", r.sock)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner not listening on %s: %v\n%s", r.sock, err, r.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *runnerProc) kill() {
	r.once.Do(func() {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	})
}

// signal sends sig and waits until /proc shows the process stopped or
// running again: kill returns before the target has changed state.
func (r *runnerProc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	wantStopped := sig == syscall.SIGSTOP
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
		if err != nil {
			t.Fatalf("read runner state: %v", err)
		}
		// The state follows the parenthesised command name.
		i := bytes.LastIndexByte(b, ')')
		state := b[i+2]
		if (state == 'T') == wantStopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner state %c after %v", state, sig)
		}
		time.Sleep(time.Millisecond)
	}
}
