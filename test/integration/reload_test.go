package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReloadChangesWorkerCountWithoutFailures(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	before := g.Status()
	master := before.Master.Pid

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, wait := clientLoop(ctx, g.URL("/"), 1<<40)

	res.waitOK(t, 200)
	g.Workers = 3
	g.WriteConfig()
	out := g.MustRun("reload")
	if !strings.Contains(out, "reloaded") {
		t.Errorf("reload output: %s", out)
	}
	st := g.Status()
	if st.Master.Generation != 2 || len(workers(st, 2)) != 3 {
		t.Fatalf("after reload: generation %d, %d new workers", st.Master.Generation, len(workers(st, 2)))
	}
	for _, c := range before.Children {
		if !waitDead(c.Pid, 15*time.Second) {
			t.Errorf("old %s %d (pid %d) still alive", c.Role, c.Slot, c.Pid)
		}
	}

	// Twenty reloads in a row, shrinking and growing, under the same loop.
	fds := fdCount(master)
	for i := 0; i < 20; i++ {
		g.Workers = 1 + i%3
		g.WriteConfig()
		g.MustRun("reload")
	}
	final := g.Status()
	if final.Master.Generation != 22 {
		t.Errorf("generation %d after 21 reloads", final.Master.Generation)
	}
	cancel()
	wait()
	res.check(t, 2000)

	// Drained generations leave nothing behind: no zombie, no fd.
	eventually(t, 15*time.Second, func() error {
		kids := children(master)
		want := 0
		for _, c := range final.Children {
			if c.Generation == final.Master.Generation {
				want++
			}
		}
		if len(kids) != want {
			return fmt.Errorf("master has %d children, want %d", len(kids), want)
		}
		if z := zombies(master); len(z) > 0 {
			return fmt.Errorf("zombies %v", z)
		}
		if n := fdCount(master); n > fds+2 {
			return fmt.Errorf("master fds %d, before the reloads %d", n, fds)
		}
		return nil
	})
	t.Logf("master fds: %d before 20 reloads, %d after", fds, fdCount(master))
}

func TestReloadWithBrokenConfigKeepsServing(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	pidsBefore := map[int]bool{}
	for _, c := range g.Status().Children {
		pidsBefore[c.Pid] = true
	}
	cfg := filepath.Join(g.Prefix, "conf", "config.yaml")
	good, _ := os.ReadFile(cfg)

	for _, tc := range []struct{ name, config, want string }{
		{"unknown key", strings.Replace(string(good), "  admin_listen:", "  admin_lisen:", 1), "deployment.admin.admin_lisen"},
		{"type mismatch", strings.Replace(string(good), "    admin_listen:\n      ip: 127.0.0.1\n      port: "+strconv.Itoa(g.AdminPort), "    admin_listen: 9180", 1), "deployment->admin->admin_listen"},
		{"yaml syntax", string(good) + "\n  : : [\n", "config.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.WriteRawConfig(tc.config)
			failedBefore := strings.Count(g.Logs(), "reload failed")
			out, code := g.Run("reload")
			if code == 0 {
				t.Fatalf("reload with a broken config succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "config.yaml") {
				t.Errorf("reload error does not name %q and the file:\n%s", tc.want, out)
			}
			if n := strings.Count(g.Logs(), "reload failed") - failedBefore; n != 1 {
				t.Errorf("%d error log lines for one failed reload, want 1", n)
			}
			g.WaitServing(time.Second)
			st := g.Status()
			if st.Master.Generation != 1 {
				t.Errorf("generation %d", st.Master.Generation)
			}
			for _, c := range st.Children {
				if !pidsBefore[c.Pid] {
					t.Errorf("child %d was replaced", c.Pid)
				}
			}
		})
	}
}

func TestReloadToTakenPortKeepsServing(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	g.Extra = ""
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "  node_listen:\n", fmt.Sprintf("  node_listen:\n    - ip: 127.0.0.1\n      port: %d\n", port), 1))
	out, code := g.Run("reload")
	if code == 0 || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("reload onto a taken port: exit %d\n%s", code, out)
	}
	g.WaitServing(time.Second)
	if gen := g.Status().Master.Generation; gen != 1 {
		t.Errorf("generation %d", gen)
	}
}

func readConfig(t *testing.T, g *Gateway) string {
	data, err := os.ReadFile(filepath.Join(g.Prefix, "conf", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestConfigErrorsAtStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name   string
		mutate func(g *Gateway) string
		want   []string
	}{
		{"unknown key", func(g *Gateway) string {
			return strings.Replace(readConfig(t, g), "  enable_ipv6: false\n", "  enable_ipv6: false\n  no_such_key: 1\n", 1)
		}, []string{"apisix.no_such_key", "config.yaml"}},
		{"wrong type", func(g *Gateway) string {
			return strings.Replace(readConfig(t, g), "worker_processes: 1", "worker_processes: [1]", 1)
		}, []string{"worker_processes"}},
		{"missing env var", func(g *Gateway) string {
			return strings.Replace(readConfig(t, g), "error_log_level: info", "error_log_level: ${{PORTICO_TEST_UNSET_VAR}}", 1)
		}, []string{"PORTICO_TEST_UNSET_VAR", "nginx_config.error_log_level"}},
		{"port taken", func(g *Gateway) string {
			return strings.Replace(readConfig(t, g), "port: "+strconv.Itoa(g.NodePort), "port: "+strconv.Itoa(takenPort), 1)
		}, []string{fmt.Sprintf("127.0.0.1:%d", takenPort), "in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, 1)
			g.WriteRawConfig(tc.mutate(g))
			out, code := g.Run("start")
			if code == 0 {
				t.Fatalf("start succeeded:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("start error lacks %q:\n%s", w, out)
				}
			}
			if pid := g.MasterPid(); pid != 0 && alive(pid) {
				t.Errorf("a master (pid %d) is running after a failed start", pid)
			}
			if tc.name != "port taken" {
				if out, code := g.Run("test"); code == 0 || !strings.Contains(out, tc.want[0]) {
					t.Errorf("test: exit %d\n%s", code, out)
				}
			}
		})
	}
}
