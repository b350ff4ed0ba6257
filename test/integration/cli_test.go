package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCLIVerbs(t *testing.T) {
	g := newGateway(t, 1)

	out := g.MustRun("version")
	if strings.TrimSpace(out) == "" {
		t.Error("empty version")
	}
	out = g.MustRun("help")
	for _, v := range []string{"start", "stop", "quit", "reload", "restart", "upgrade", "reopen", "test", "status", "init", "init_etcd", "version"} {
		if !strings.Contains(out, "  "+v+" ") {
			t.Errorf("help lacks %q", v)
		}
	}
	if out, code := g.Run("frobnicate"); code == 0 || !strings.Contains(out, "invalid argument: frobnicate") {
		t.Errorf("unknown verb: exit %d\n%s", code, out)
	}

	out = g.MustRun("test", "-v")
	if !strings.Contains(out, "configuration test is successful") || !strings.Contains(out, "listeners:") {
		t.Errorf("test -v:\n%s", out)
	}
	// test never binds: it succeeds while another process holds the ports.
	g.MustRun("init")
	rt := filepath.Join(g.Prefix, "conf", "portico.runtime.yaml")
	if st, err := os.Stat(rt); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("runtime file after init: %v %v", st, err)
	}

	// init_etcd with nothing running starts the embedded etcd just for itself.
	out = g.MustRun("init_etcd")
	if !strings.Contains(out, "/apisix") {
		t.Errorf("init_etcd: %s", out)
	}
	g.Start()
	cli := etcdClient(t, g)
	if v, err := etcdGet(t, cli, "/apisix/upstreams/"); err != nil || v != "init_dir" {
		t.Errorf("/apisix/upstreams/ = %q, %v", v, err)
	}
	// And against the running gateway's etcd.
	g.MustRun("init_etcd")

	// restart: a new master serves.
	pid := g.MasterPid()
	g.MustRun("restart")
	g.WaitServing(5 * time.Second)
	if g.MasterPid() == pid || alive(pid) {
		t.Errorf("restart kept master %d", pid)
	}

	// -c points every verb at another file.
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("apisix:\n  no_such: 1\n"), 0o644)
	if out, code := g.Run("test", "-c", other); code == 0 || !strings.Contains(out, "apisix.no_such") {
		t.Errorf("test -c: exit %d\n%s", code, out)
	}
}

func TestSecondUpgradeIsRefusedWhileTheFirstDrains(t *testing.T) {
	g := newGateway(t, 1)
	g.Extra = "test_only:\n  slow_path: /slow\n  slow_delay: 4s\n"
	g.WriteConfig()
	g.Start()
	// An in-flight slow request keeps the old master draining.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := httpRequest(ctx, g.URL("/slow"))
		if resp, err := httpClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	g.waitInFlight(1)
	old := g.MasterPid()
	g.MustRun("upgrade")
	begin := time.Now()
	out, code := g.Run("upgrade")
	if code == 0 || !strings.Contains(out, "parent hasn't exited") {
		t.Errorf("second upgrade while the first drains: exit %d\n%s", code, out)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("refusal took %s", took)
	}
	if !waitDead(old, 15*time.Second) {
		t.Fatal("old master never exited")
	}
	// Once the old master is gone, upgrading works again.
	eventually(t, 5*time.Second, func() error {
		if _, code := g.Run("upgrade"); code != 0 {
			return errString("upgrade still refused")
		}
		return nil
	})
}

type errString string

func (e errString) Error() string { return string(e) }
