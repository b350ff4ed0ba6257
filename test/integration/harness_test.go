package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/portico-gw/portico/internal/control"
)

var portico string // path of the binary under test

func TestMain(m *testing.M) {
	portico = os.Getenv("PORTICO_BIN")
	if portico == "" {
		dir, err := os.MkdirTemp("", "portico-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		portico = filepath.Join(dir, "portico")
		build := exec.Command("go", "build", "-o", portico, "github.com/portico-gw/portico/cmd/portico")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build portico:", err)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// freePort returns a loopback port that was free a moment ago. It is
// drawn below the kernel's ephemeral range (ip_local_port_range, 32768 and
// up by default): a port from that range (what listening on :0 gives) can be
// taken by any outgoing connection before the gateway binds it, and the
// tests open tens of thousands of them.
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// Gateway is one Portico home under a temp dir, with its own copy of the binary.
type Gateway struct {
	t         *testing.T
	Prefix    string
	Bin       string
	NodePort  int
	AdminPort int
	EtcdPort  int
	Workers   int
	Extra     string // appended to config.yaml
}

const configTemplate = `apisix:
  node_listen:
    - ip: 127.0.0.1
      port: {{.NodePort}}
  enable_ipv6: false
nginx_config:
  worker_processes: {{.Workers}}
  error_log_level: info
  worker_shutdown_timeout: 10s
deployment:
  admin:
    admin_listen:
      ip: 127.0.0.1
      port: {{.AdminPort}}
  etcd:
    embedded: true
    host:
      - "http://127.0.0.1:{{.EtcdPort}}"
{{.Extra}}`

func newGateway(t *testing.T, workers int) *Gateway {
	t.Helper()
	g := &Gateway{t: t, Prefix: t.TempDir(), NodePort: freePort(t), AdminPort: freePort(t), EtcdPort: freePort(t), Workers: workers}
	for _, d := range []string{"bin", "conf", "logs"} {
		if err := os.MkdirAll(filepath.Join(g.Prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	g.Bin = filepath.Join(g.Prefix, "bin", "portico")
	copyFile(t, portico, g.Bin)
	g.WriteConfig()
	t.Cleanup(g.cleanup)
	return g
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write to a new inode, as a package upgrade does, so a running binary is never modified.
	tmp := to + ".new"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// WriteConfig renders config.yaml from the gateway's fields.
func (g *Gateway) WriteConfig() {
	var buf bytes.Buffer
	template.Must(template.New("c").Parse(configTemplate)).Execute(&buf, g)
	g.WriteRawConfig(buf.String())
}

func (g *Gateway) WriteRawConfig(s string) {
	if err := os.WriteFile(filepath.Join(g.Prefix, "conf", "config.yaml"), []byte(s), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// Run runs a CLI verb and returns its combined output and exit code.
func (g *Gateway) Run(args ...string) (string, int) {
	g.t.Helper()
	cmd := exec.Command(g.Bin, append(args, "-p", g.Prefix)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !asExit(err, &ee) {
			g.t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

// MustRun runs a verb that must succeed.
func (g *Gateway) MustRun(args ...string) string {
	g.t.Helper()
	out, code := g.Run(args...)
	if code != 0 {
		g.t.Fatalf("portico %v: exit %d\n%s\n%s", args, code, out, g.logTail())
	}
	return out
}

// Start starts the gateway and waits until it serves.
func (g *Gateway) Start() {
	g.t.Helper()
	g.MustRun("start")
	g.WaitServing(5 * time.Second)
}

func (g *Gateway) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", g.NodePort, path)
}

func (g *Gateway) WaitServing(timeout time.Duration) {
	g.t.Helper()
	eventually(g.t, timeout, func() error {
		resp, err := http.Get(g.URL("/"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func (g *Gateway) Status() *control.Status {
	g.t.Helper()
	out := g.MustRun("status", "--json")
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		g.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return &st
}

func (g *Gateway) MasterPid() int {
	data, err := os.ReadFile(filepath.Join(g.Prefix, "logs", "portico.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// Logs is the whole error log.
func (g *Gateway) Logs() string {
	data, _ := os.ReadFile(filepath.Join(g.Prefix, "logs", "error.log"))
	return string(data)
}

// logTail is the end of the error log, for failure messages.
func (g *Gateway) logTail() string {
	data := g.Logs()
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return data
}

// cleanup stops whatever this test started, by pid, and shows the error log
// when the test failed.
func (g *Gateway) cleanup() {
	// Whatever the test asserted, a process that panicked or (in a -race
	// build) raced has failed it.
	if logs, _ := os.ReadFile(filepath.Join(g.Prefix, "logs", "error.log")); bytes.Contains(logs, []byte("WARNING: DATA RACE")) || bytes.Contains(logs, []byte("panic:")) {
		g.t.Errorf("a Portico process panicked or raced; see the error log")
	}
	if g.t.Failed() {
		g.t.Logf("error.log tail:\n%s", g.logTail())
		if d := os.Getenv("PORTICO_KEEP_LOGS"); d != "" {
			data, _ := os.ReadFile(filepath.Join(g.Prefix, "logs", "error.log"))
			os.WriteFile(filepath.Join(d, strings.ReplaceAll(g.t.Name(), "/", "_")+".error.log"), data, 0o644)
		}
	}
	pids := descendants(g.MasterPid())
	if pid := g.MasterPid(); pid > 0 && alive(pid) {
		syscall.Kill(pid, syscall.SIGTERM)
		waitDead(pid, 10*time.Second)
	}
	for _, p := range pids {
		if alive(p) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has exited; only its parent has not reaped it yet.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func waitDead(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// children lists the direct children of pid, from /proc.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, p)
			}
		}
	}
	return out
}

func descendants(pid int) []int {
	if pid <= 0 {
		return nil
	}
	var out []int
	for _, c := range children(pid) {
		out = append(out, c)
		out = append(out, descendants(c)...)
	}
	return out
}

func zombies(pid int) []int {
	var out []int
	for _, c := range children(pid) {
		if !alive(c) {
			out = append(out, c)
		}
	}
	return out
}

func fdCount(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// eventually polls f until it succeeds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func workers(st *control.Status, gen int) []control.ChildStatus {
	var out []control.ChildStatus
	for _, c := range st.Children {
		if c.Role == "worker" && (gen == 0 || c.Generation == gen) {
			out = append(out, c)
		}
	}
	return out
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func httpRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, "GET", url, nil)
}

// waitInFlight waits until the node listener has at least n established
// connections: the requests a test started are on the wire.
func (g *Gateway) waitInFlight(n int) {
	g.t.Helper()
	eventually(g.t, 5*time.Second, func() error {
		for _, l := range g.Status().Listeners {
			if l.Role == "node" && l.Established >= n {
				return nil
			}
		}
		return fmt.Errorf("fewer than %d connections established", n)
	})
}

func syscallKill(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// stopProcess sends SIGSTOP and waits until every thread of pid is stopped:
// kill returns before the stop takes effect, and a thread still running
// could accept a connection the test means to leave queued.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	syscallSignal(t, pid, syscall.SIGSTOP)
	eventually(t, 5*time.Second, func() error {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		for _, task := range tasks {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread exited
			}
			f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
			if len(f) == 0 || f[0] != "T" && f[0] != "t" {
				return fmt.Errorf("thread %s of %d not stopped yet", task.Name(), pid)
			}
		}
		return nil
	})
}
