package integration

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/control"
)

// fakeRunnerReport is what testdata/fakerunner writes once listening.
type fakeRunnerReport struct {
	Pid  int      `json:"pid"`
	Ppid int      `json:"ppid"`
	Uid  int      `json:"uid"`
	Cwd  string   `json:"cwd"`
	Env  []string `json:"env"`
}

// fakeRunnerGateway is a gateway whose ext-plugin.cmd is testdata/fakerunner
// (built for the test) with flags, reporting into the returned directory.
func fakeRunnerGateway(t *testing.T, flags ...string) (*Gateway, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fakerunner")
	build := exec.Command("go", "build", "-o", bin, "./testdata/fakerunner")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fakerunner: %v\n%s", err, out)
	}
	reports := filepath.Join(dir, "reports")
	if err := os.Mkdir(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, _ := json.Marshal(append([]string{bin, "-report", reports}, flags...))
	g := newGateway(t, 1)
	cfg := strings.Replace(configFor(g), "nginx_config:\n", "nginx_config:\n  envs: [RUNNER_FROM_CONFIG=declared]\n", 1)
	g.WriteRawConfig(cfg + fmt.Sprintf("ext-plugin:\n  cmd: %s\n", cmd))
	return g, reports
}

// agentRunner is the serving agent of generation gen (0: any) and its
// runner, from `portico status --json`.
func agentRunner(g *Gateway, gen int) (control.ChildStatus, *control.RunnerStatus) {
	for _, c := range g.Status().Children {
		if c.Role == "privileged" && c.State == "serving" && (gen == 0 || c.Generation == gen) && c.Runner != nil {
			return c, c.Runner
		}
	}
	return control.ChildStatus{}, nil
}

// waitRunner waits until generation gen's agent runs a runner that is not
// notPid, listening on a 0600 socket, and returns it with its report.
func waitRunner(t *testing.T, g *Gateway, reports string, gen, notPid int, timeout time.Duration) (control.ChildStatus, control.RunnerStatus, *fakeRunnerReport) {
	t.Helper()
	var agent control.ChildStatus
	var run control.RunnerStatus
	var rep *fakeRunnerReport
	eventually(t, timeout, func() error {
		a, r := agentRunner(g, gen)
		if r == nil || r.Pid == 0 || r.Pid == notPid {
			return fmt.Errorf("no new runner in generation %d yet: %+v", gen, r)
		}
		data, err := os.ReadFile(filepath.Join(reports, fmt.Sprintf("%d.json", r.Pid)))
		if err != nil {
			return err
		}
		var fr fakeRunnerReport
		if err := json.Unmarshal(data, &fr); err != nil {
			return err
		}
		fi, err := os.Lstat(r.Socket)
		if err != nil {
			return err
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			return fmt.Errorf("socket %s: mode %s, want a 0600 socket", r.Socket, fi.Mode())
		}
		agent, run, rep = a, *r, &fr
		return nil
	})
	return agent, run, rep
}

// sockets lists the socket files in dir.
func sockets(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if e.Type() == fs.ModeSocket {
			out = append(out, e.Name())
		}
	}
	return out
}

func ownerUID(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}
