package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The master obeys nginx's signals directly, as systemd's ExecReload or an
// operator's kill would send them.
func TestSignalsReloadAndUpgrade(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	pid := g.MasterPid()

	g.Workers = 2
	g.WriteConfig()
	syscall.Kill(pid, syscall.SIGHUP)
	eventually(t, 10*time.Second, func() error {
		st := g.Status()
		if st.Master.Generation != 2 || len(workers(st, 2)) != 2 {
			return fmt.Errorf("generation %d, %d workers", st.Master.Generation, len(workers(st, 2)))
		}
		return nil
	})

	syscall.Kill(pid, syscall.SIGUSR2)
	eventually(t, 15*time.Second, func() error {
		if p := g.MasterPid(); p == pid || !alive(p) {
			return fmt.Errorf("pid file still names %d", p)
		}
		if alive(pid) {
			return fmt.Errorf("old master %d alive", pid)
		}
		return nil
	})
	g.WaitServing(time.Second)

	// A broken config on HUP: logged, and the generation stays.
	g.WriteRawConfig(readConfig(t, g) + "bogus_top_level: 1\n")
	gen := g.Status().Master.Generation
	syscall.Kill(g.MasterPid(), syscall.SIGHUP)
	eventually(t, 5*time.Second, func() error {
		if !strings.Contains(g.Logs(), "bogus_top_level") {
			return fmt.Errorf("reload failure not logged")
		}
		return nil
	})
	if st := g.Status(); st.Master.Generation != gen {
		t.Errorf("generation %d after a failed HUP, want %d", st.Master.Generation, gen)
	}
	g.WaitServing(time.Second)
}

func TestUpgradeToBinaryThatNeverGetsReady(t *testing.T) {
	g := newGateway(t, 1)
	g.Extra = "test_only:\n  upgrade_timeout: 2s\n"
	g.WriteConfig()
	g.Start()
	pid := g.MasterPid()
	pidFile := filepath.Join(g.Prefix, "hung.pid")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s\nexec sleep 300\n", pidFile)
	if err := os.WriteFile(g.Bin+".new", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(g.Bin+".new", g.Bin); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	out, code := (&Gateway{t: t, Prefix: g.Prefix, Bin: portico}).Run("upgrade")
	took := time.Since(begin)
	if code == 0 || !strings.Contains(out, "timed out") {
		t.Fatalf("upgrade to a binary that never gets ready: exit %d\n%s", code, out)
	}
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("upgrade gave up after %s, want the 2s timeout", took)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	hung, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if !waitDead(hung, 2*time.Second) {
		t.Errorf("the hung new master (pid %d) was not killed", hung)
	}
	if g.MasterPid() != pid || !alive(pid) {
		t.Fatal("the old master is gone")
	}
	g.WaitServing(time.Second)
}

// With deployment.etcd.host set (and no embedded: true), Portico starts no
// etcd of its own and its workers use the named cluster.
func TestExternalEtcdStartsNone(t *testing.T) {
	owner := newGateway(t, 1) // provides an etcd on owner.EtcdPort
	owner.Start()
	g := newGateway(t, 1)
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "    embedded: true\n", "", 1))
	g.WriteRawConfig(strings.Replace(readConfig(t, g), strconv.Itoa(g.EtcdPort), strconv.Itoa(owner.EtcdPort), 1))
	g.Start()
	st := g.Status()
	if st.Etcd.Embedded || st.Etcd.Running {
		t.Errorf("etcd status %+v: an external cluster was configured", st.Etcd)
	}
	if _, err := os.Stat(filepath.Join(g.Prefix, "data", "etcd")); !os.IsNotExist(err) {
		t.Errorf("data/etcd exists: %v", err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, c := range workers(g.Status(), 0) {
			if c.EtcdReachable == nil || !*c.EtcdReachable {
				return fmt.Errorf("worker does not reach the external etcd")
			}
		}
		return nil
	})
}
