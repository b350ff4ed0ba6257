//go:build packagetest

package pkgtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portico-gw/portico/internal/control"
)

const (
	envInner = "PORTICO_PKGTEST_INNER" // set in the re-executed test: the work dir
	envPids  = "PORTICO_PKGTEST_PIDS"  // file where the inner test lists the pids it saw

	home    = "/usr/local/portico"
	bin     = "/usr/bin/portico"
	pidFile = home + "/logs/portico.pid"
	unit    = "/usr/lib/systemd/system/portico.service"
	dataURL = "http://127.0.0.1:9080"
	admURL  = "http://127.0.0.1:9180"
)

// Package names and versions come from `make package-test`.
type pkgs struct {
	v1, v2     string
	deb1, deb2 string
	rpm1       string
	dist       string
}

func loadPkgs(t *testing.T) pkgs {
	t.Helper()
	p := pkgs{v1: os.Getenv("PORTICO_PKG_V1"), v2: os.Getenv("PORTICO_PKG_V2"), dist: os.Getenv("PORTICO_PKG_DIST")}
	if p.v1 == "" || p.v2 == "" || p.dist == "" {
		t.Fatal("run through `make package-test` (PORTICO_PKG_V1, PORTICO_PKG_V2 and PORTICO_PKG_DIST unset)")
	}
	p.deb1 = filepath.Join(p.dist, "portico_"+p.v1+"_amd64.deb")
	p.deb2 = filepath.Join(p.dist, "portico_"+p.v2+"_amd64.deb")
	p.rpm1 = filepath.Join(p.dist, "portico-"+p.v1+".x86_64.rpm")
	for _, f := range []string{p.deb1, p.deb2, p.rpm1} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("package missing: %v", err)
		}
	}
	return p
}

func TestPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (dpkg, namespaces, privilege drop)")
	}
	p := loadPkgs(t)
	if work := os.Getenv(envInner); work != "" {
		inner(t, p, work)
		return
	}
	start := time.Now()
	checkArchives(t, p)

	before := hostState(t)
	work := t.TempDir()
	pids := filepath.Join(t.TempDir(), "pids")
	cmd := exec.Command("unshare", "--mount", "--net", "--propagation", "private", "--",
		os.Args[0], "-test.run=^TestPackage$", "-test.v", "-test.count=1", "-test.timeout=4m")
	cmd.Env = append(os.Environ(), envInner+"="+work, envPids+"="+pids)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	// Whatever happened inside, no process the inner test started may outlive it.
	for _, pid := range readPids(pids) {
		if alive(pid) && isPortico(pid) {
			t.Errorf("process %d (portico) outlived the namespace test; killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err != nil {
		t.Fatalf("inside the namespace: %v", err)
	}
	after := hostState(t)
	if before != after {
		t.Errorf("the host changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	t.Logf("package test done in %s", time.Since(start).Round(time.Millisecond))
}

// checkArchives reads both formats as an operator would: dpkg-deb --info/--contents
// and rpm -qpil, and checks the layout, the conffiles and the scripts.
func checkArchives(t *testing.T, p pkgs) {
	info := out(t, "dpkg-deb", "--info", p.deb1)
	for _, want := range []string{"Package: portico", "Version: " + p.v1 + "-1", "Architecture: amd64", " conffiles", " preinst", " postinst", " prerm", " postrm"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := out(t, "dpkg-deb", "--contents", p.deb1)
	layout := []string{
		"./usr/bin/portico", "./usr/local/portico/conf/config-default.yaml", "./usr/local/portico/conf/config.yaml",
		"./usr/local/portico/logs/", "./usr/local/portico/data/", "./usr/lib/systemd/system/portico.service",
		"./etc/logrotate.d/portico",
	}
	for _, want := range layout {
		if !containsField(contents, want) {
			t.Errorf("dpkg-deb --contents lacks %s:\n%s", want, contents)
		}
	}
	ctl := t.TempDir()
	run(t, "dpkg-deb", "--control", p.deb1, ctl)
	conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if got, want := strings.Fields(string(conffiles)), []string{"/etc/logrotate.d/portico", home + "/conf/config.yaml"}; !slices.Equal(got, want) {
		t.Errorf("deb conffiles = %v, want %v (config-default.yaml must not be one: upgrades replace it)", got, want)
	}

	rpmInfo := out(t, "rpm", "-qpil", p.rpm1)
	for _, want := range []string{"Name        : portico", "Version     : " + p.v1, "Architecture: x86_64"} {
		if !strings.Contains(rpmInfo, want) {
			t.Errorf("rpm -qpil lacks %q:\n%s", want, rpmInfo)
		}
	}
	for _, want := range layout {
		if !containsField(rpmInfo, strings.TrimSuffix(strings.TrimPrefix(want, "."), "/")) {
			t.Errorf("rpm -qpil lacks %s", want)
		}
	}
	if got := strings.Fields(out(t, "rpm", "-qpc", p.rpm1)); !slices.Equal(got, []string{"/etc/logrotate.d/portico", home + "/conf/config.yaml"}) {
		t.Errorf("rpm config files = %v", got)
	}
	// %config(noreplace): flags "cn".
	flags := out(t, "rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", p.rpm1)
	if !strings.Contains(flags, "cn "+home+"/conf/config.yaml") {
		t.Errorf("config.yaml is not %%config(noreplace) in the rpm:\n%s", flags)
	}
	scripts := out(t, "rpm", "-qp", "--scripts", p.rpm1)
	for _, want := range []string{"preinstall scriptlet", "postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "useradd --system", "\"$BIN\" upgrade", "\"$BIN\" init"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm --scripts lacks %q", want)
		}
	}
}

func containsField(listing, path string) bool {
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == path {
			return true
		}
	}
	return false
}

// hostState is what the package could leave on the host: every path under
// /usr, /etc and /var naming portico, the account databases and dpkg's record.
func hostState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, root := range []string{"/usr", "/etc", "/var"} {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if strings.Contains(d.Name(), "portico") {
				fmt.Fprintln(&b, "path", path)
				if d.IsDir() {
					return fs.SkipDir
				}
			}
			return nil
		})
	}
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"} {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "%s %x\n", f, sha256.Sum256(data))
	}
	st, _ := exec.Command("dpkg-query", "-W", "-f", "${Status}", "portico").CombinedOutput()
	fmt.Fprintf(&b, "dpkg-query: %s\n", st)
	return b.String()
}

// ---- inside the namespace ----

func inner(t *testing.T, p pkgs, work string) {
	begin := time.Now()
	setupNamespace(t, work)
	var seen pidSet
	seen.file = os.Getenv(envPids)
	t.Cleanup(seen.killLeftovers)

	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Fatal("/run/systemd/system exists: this test expects no running systemd (the scripts would call systemctl)")
	}
	beforeFS := snapshotFS(t)
	if _, err := user.Lookup("portico"); err == nil {
		t.Fatal("a portico user exists before the install")
	}

	// ---- first install: user, layout, init, nothing started ----
	t.Logf("dpkg -i %s", filepath.Base(p.deb1))
	run(t, "dpkg", "-i", p.deb1)
	u, err := user.Lookup("portico")
	if err != nil {
		t.Fatalf("preinst created no portico user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if g, err := user.LookupGroup("portico"); err != nil || g.Gid != u.Gid {
		t.Fatalf("portico group: %v (user's gid %s)", err, u.Gid)
	}
	if v := strings.TrimSpace(out(t, bin, "version")); v != p.v1 {
		t.Fatalf("portico version = %q, want %q", v, p.v1)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Fatal("the install started the gateway (pid file exists)")
	}
	if code := exitCode(exec.Command(bin, "status").Run()); code != 3 {
		t.Fatalf("portico status after install: exit %d, want 3 (not running)", code)
	}
	key := adminKey(t)
	cfg := home + "/conf/config.yaml"
	assertOwner(t, cfg, uid, gid, 0o600)
	for _, d := range []string{"conf", "logs", "data"} {
		assertOwner(t, filepath.Join(home, d), uid, gid, 0o750|fs.ModeDir)
	}
	assertOwner(t, home+"/conf/portico.runtime.yaml", uid, gid, 0o600)
	// No -p: the binary in /usr/bin finds the package's home.
	if s := out(t, bin, "test"); !strings.Contains(s, "successful") {
		t.Fatalf("portico test: %s", s)
	}
	verifyUnit(t)

	// ---- start as the unit does (ExecStartPre, ExecStart as root) ----
	run(t, bin, "test")
	run(t, bin, "start")
	master1 := readPid(t)
	seen.add(master1)
	st := status(t)
	seen.addStatus(st)
	if uidOf(t, master1) != 0 {
		t.Errorf("master runs as uid %d, want 0", uidOf(t, master1))
	}
	for _, c := range st.Children {
		if got := uidOf(t, c.Pid); got != uid {
			t.Errorf("%s %d runs as uid %d, want portico (%d)", c.Role, c.Pid, got, uid)
		}
	}

	// ---- a route through the Admin API to an upstream on loopback ----
	up := upstream(t)
	route := fmt.Sprintf(`{"uri":"/pkgtest/*","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, up)
	if code, body := call(t, "PUT", admURL+"/apisix/admin/routes/pkgtest", key, route); code != 201 && code != 200 {
		t.Fatalf("create route: %d %s", code, body)
	}
	waitProxied(t, 20*time.Second)
	// Routes exist well before a real upgrade: wait until the workers' last-good
	// snapshot (written every second) has this one. Workers of the new master
	// serve from that file until they reach etcd, which the old master hands
	// over only once the new one is ready; a route younger than the file would
	// answer 404 meanwhile (see the report of issue 6).
	waitFor(t, 10*time.Second, "the route in the workers' snapshot cache", func() bool {
		data, _ := os.ReadFile(home + "/data/cache/config-snapshot.json")
		var cache struct {
			Items []struct{ Kind, ID string } `json:"items"`
		}
		json.Unmarshal(data, &cache)
		return slices.ContainsFunc(cache.Items, func(it struct{ Kind, ID string }) bool { return it.ID == "pkgtest" })
	})
	cfgBefore, _ := os.ReadFile(cfg)
	defBefore := inode(t, home+"/conf/config-default.yaml")

	// ---- upgrade to v2 while clients run ----
	load := startLoad()
	waitFor(t, 10*time.Second, "requests before the upgrade", func() bool { return load.ok.Load() >= 200 })
	okBefore := load.ok.Load()
	t.Logf("dpkg -i %s (gateway running, %d requests so far)", filepath.Base(p.deb2), okBefore)
	upStart := time.Now()
	dpkgOut := run(t, "dpkg", "-i", p.deb2)
	if !strings.Contains(dpkgOut, "upgraded: new master pid") {
		t.Errorf("the postinst did not run portico upgrade:\n%s", dpkgOut)
	}
	master2 := readPid(t)
	seen.add(master2)
	if master2 == master1 {
		t.Fatalf("pid file still names the old master %d", master1)
	}
	waitFor(t, 60*time.Second, "the old master to exit", func() bool { return !alive(master1) })
	upDur := time.Since(upStart)
	okAtSwap := load.ok.Load()
	waitFor(t, 10*time.Second, "requests after the old master exited", func() bool { return load.ok.Load() >= okAtSwap+200 })
	load.stop()
	t.Logf("upgrade: %d requests while upgrading (%s until the old master exited), %d in all, %d failed",
		okAtSwap-okBefore, upDur.Round(time.Millisecond), load.ok.Load(), load.failed.Load())
	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the upgrade; first: %v\nerror.log:\n%s", n, load.firstErr(), tail(home+"/logs/error.log", 80))
	}
	if v := strings.TrimSpace(out(t, bin, "version")); v != p.v2 {
		t.Errorf("portico version = %q after the upgrade, want %q", v, p.v2)
	}
	st = status(t)
	seen.addStatus(st)
	if st.Master.Version != p.v2 || st.Master.Pid != master2 {
		t.Errorf("status: master %d version %q, want %d version %q", st.Master.Pid, st.Master.Version, master2, p.v2)
	}
	if cfgAfter, _ := os.ReadFile(cfg); !bytes.Equal(cfgBefore, cfgAfter) {
		t.Errorf("the upgrade changed config.yaml (a conffile):\n%s", cfgAfter)
	}
	assertOwner(t, cfg, uid, gid, 0o600)
	if inode(t, home+"/conf/config-default.yaml") == defBefore {
		t.Error("config-default.yaml was not replaced by the upgrade")
	}
	for _, d := range []string{"conf", "logs", "data"} {
		assertOwner(t, filepath.Join(home, d), uid, gid, 0o750|fs.ModeDir)
	}
	if _, err := os.Stat(home + "/data/etcd"); err != nil {
		t.Errorf("embedded etcd data: %v", err)
	}
	waitProxied(t, 20*time.Second) // the route survived: the new master took over etcd's data

	// ---- logrotate with the shipped snippet: rename, then portico reopen ----
	rotateLogs(t, work, uid)

	// ---- stop as the unit does, then an unprivileged restart ----
	run(t, bin, "quit")
	if alive(master2) {
		t.Fatalf("master %d alive after portico quit", master2)
	}
	checkOwnedBy(t, uid, gid, home+"/logs", home+"/data", home+"/conf/portico.runtime.yaml")
	unpriv := exec.Command(bin, "start")
	unpriv.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if o, err := unpriv.CombinedOutput(); err != nil {
		t.Fatalf("portico start as the portico user: %v\n%s", err, o)
	}
	master3 := readPid(t)
	seen.add(master3)
	seen.addStatus(status(t))
	if uidOf(t, master3) != uid {
		t.Errorf("unprivileged master runs as uid %d", uidOf(t, master3))
	}
	waitProxied(t, 20*time.Second)
	unquit := exec.Command(bin, "quit")
	unquit.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if o, err := unquit.CombinedOutput(); err != nil {
		t.Fatalf("portico quit as the portico user: %v\n%s", err, o)
	}

	// ---- root again, then remove while it runs: prerm stops it ----
	run(t, bin, "start")
	master4 := readPid(t)
	seen.add(master4)
	st = status(t)
	seen.addStatus(st)
	t.Log("dpkg -r portico (gateway running)")
	run(t, "dpkg", "-r", "portico")
	for _, pid := range append([]int{master4}, childPids(st)...) {
		if alive(pid) {
			t.Errorf("process %d still runs after dpkg -r", pid)
		}
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:9080", time.Second); err == nil {
		t.Error("port 9080 still accepts after dpkg -r")
	}
	if _, err := os.Stat(bin); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after dpkg -r: %v", bin, err)
	}
	for _, kept := range []string{cfg, home + "/logs/error.log", home + "/data/etcd"} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("dpkg -r removed %s (only purge should): %v", kept, err)
		}
	}

	// ---- purge: nothing left ----
	t.Log("dpkg --purge portico")
	run(t, "dpkg", "--purge", "portico")
	if _, err := os.Stat(home); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after purge: %v", home, err)
	}
	afterFS := snapshotFS(t)
	compareFS(t, beforeFS, afterFS, uid, gid)
	// The portico user and group are kept (Debian policy for system accounts).
	if _, err := user.Lookup("portico"); err != nil {
		t.Errorf("the portico user is documented as kept on purge: %v", err)
	}
	t.Logf("inside the namespace: %s", time.Since(begin).Round(time.Millisecond))
}

// setupNamespace runs in the fresh mount and network namespace: a tmpfs for
// the overlays' upper layers, overlays on /usr, /etc and /var, loopback up.
func setupNamespace(t *testing.T, work string) {
	must := func(err error, what string) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must(syscall.Mount("tmpfs", work, "tmpfs", 0, "mode=0700"), "tmpfs on "+work)
	for _, dir := range []string{"/usr", "/etc", "/var"} {
		upper := filepath.Join(work, "upper"+dir)
		wd := filepath.Join(work, "work"+dir)
		must(os.MkdirAll(upper, 0o755), "mkdir")
		must(os.MkdirAll(wd, 0o755), "mkdir")
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir, upper, wd)
		must(syscall.Mount("overlay", dir, "overlay", 0, opts), "overlay on "+dir)
	}
	run(t, "ip", "link", "set", "lo", "up")
}

type fsEntry struct {
	mode     fs.FileMode
	uid, gid uint32
}

// snapshotFS lists /usr, /etc and /var with each entry's type, mode and owner.
func snapshotFS(t *testing.T) map[string]fsEntry {
	t.Helper()
	m := map[string]fsEntry{}
	for _, root := range []string{"/usr", "/etc", "/var"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			st := info.Sys().(*syscall.Stat_t)
			m[path] = fsEntry{info.Mode(), st.Uid, st.Gid}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", root, err)
		}
	}
	return m
}

// compareFS allows only what installing and purging a package with a system
// user leaves by design: the account databases' backups that useradd writes
// (shadow's "-" files) and dpkg's own bookkeeping files.
func compareFS(t *testing.T, before, after map[string]fsEntry, uid, gid int) {
	t.Helper()
	allowedNew := map[string]string{
		"/etc/passwd-": "useradd's backup", "/etc/group-": "useradd's backup",
		"/etc/shadow-": "useradd's backup", "/etc/gshadow-": "useradd's backup",
		"/var/lib/dpkg/status-old": "dpkg's backup of its database", "/var/log/dpkg.log": "dpkg's log",
	}
	var diffs []string
	for path, a := range after {
		b, ok := before[path]
		switch {
		case !ok && allowedNew[path] != "":
		case !ok:
			diffs = append(diffs, "new: "+path)
		case a != b:
			diffs = append(diffs, fmt.Sprintf("changed: %s %v %d:%d -> %v %d:%d", path, b.mode, b.uid, b.gid, a.mode, a.uid, a.gid))
		}
		if ok || allowedNew[path] == "" {
			if int(a.uid) == uid || int(a.gid) == gid {
				diffs = append(diffs, "owned by portico: "+path)
			}
		}
	}
	for path := range before {
		if _, ok := after[path]; !ok {
			diffs = append(diffs, "gone: "+path)
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("after purge, /usr /etc /var differ from before the install:\n%s", strings.Join(diffs, "\n"))
	}
}

func verifyUnit(t *testing.T) {
	t.Helper()
	cmd := exec.Command("systemd-analyze", "verify", unit)
	o, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(o)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, o)
	}
	data, _ := os.ReadFile(unit)
	for _, want := range []string{"Type=forking", "PIDFile=" + pidFile, "ExecStart=" + bin + " start", "ExecReload=" + bin + " reload",
		"ExecStop=" + bin + " quit", "LimitNOFILE=", "Restart=on-failure"} {
		if !strings.Contains(string(data), want+"\n") && !strings.Contains(string(data), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}

// rotateLogs runs logrotate -f on the installed snippet and checks that the
// gateway writes into the new files (portico reopen in postrotate).
func rotateLogs(t *testing.T, work string, uid int) {
	t.Helper()
	run(t, "logrotate", "-f", "-s", filepath.Join(work, "logrotate.state"), "/etc/logrotate.d/portico")
	if _, err := os.Stat(home + "/logs/access.log.1"); err != nil {
		t.Fatalf("logrotate did not rotate access.log: %v", err)
	}
	st, err := os.Stat(home + "/logs/access.log")
	if err != nil {
		t.Fatalf("no new access.log after rotation: %v", err)
	}
	if int(st.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Errorf("new access.log owned by uid %d, want portico", st.Sys().(*syscall.Stat_t).Uid)
	}
	waitFor(t, 10*time.Second, "a request logged in the new access.log", func() bool {
		get(dataURL + "/pkgtest/rotated")
		data, _ := os.ReadFile(home + "/logs/access.log")
		return bytes.Contains(data, []byte("/pkgtest/rotated"))
	})
}

// checkOwnedBy walks paths and requires every entry to belong to uid:gid.
func checkOwnedBy(t *testing.T, uid, gid int, paths ...string) {
	t.Helper()
	for _, p := range paths {
		filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Errorf("walk %s: %v", path, err)
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			st := info.Sys().(*syscall.Stat_t)
			if int(st.Uid) != uid || int(st.Gid) != gid {
				t.Errorf("%s owned by %d:%d, want portico (%d:%d)", path, st.Uid, st.Gid, uid, gid)
			}
			return nil
		})
	}
}

func assertOwner(t *testing.T, path string, uid, gid int, mode fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	st := info.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || info.Mode() != mode {
		t.Errorf("%s: %v %d:%d, want %v portico (%d:%d)", path, info.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func adminKey(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(home + "/conf/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Deployment struct {
			Admin struct {
				AdminKey []struct{ Key, Role string } `yaml:"admin_key"`
			} `yaml:"admin"`
		} `yaml:"deployment"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	for _, k := range c.Deployment.Admin.AdminKey {
		if k.Role == "admin" && len(k.Key) >= 32 {
			return k.Key
		}
	}
	t.Fatalf("portico init wrote no admin key into config.yaml:\n%s", data)
	return ""
}

// ---- traffic ----

func upstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream:"+r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func get(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func waitProxied(t *testing.T, d time.Duration) {
	t.Helper()
	waitFor(t, d, "the route to proxy", func() bool {
		code, body, _ := get(dataURL + "/pkgtest/hello")
		return code == 200 && body == "upstream:/pkgtest/hello"
	})
}

type loadGen struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	first      error
	done       chan struct{}
	wg         sync.WaitGroup
}

func (l *loadGen) firstErr() error { l.mu.Lock(); defer l.mu.Unlock(); return l.first }

func (l *loadGen) stop() { close(l.done); l.wg.Wait() }

// startLoad runs four clients until stop: two on keep-alive connections, two
// opening a connection per request.
func startLoad() *loadGen {
	l := &loadGen{done: make(chan struct{})}
	for i := 0; i < 4; i++ {
		tr := &http.Transport{DisableKeepAlives: i >= 2}
		c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			defer tr.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-l.done:
					return
				default:
				}
				path := fmt.Sprintf("/pkgtest/c%d/%d", i, n)
				err := func() error {
					resp, err := c.Get(dataURL + path)
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						return err
					}
					if resp.StatusCode != 200 || string(b) != "upstream:"+path {
						return fmt.Errorf("%s: %d %q", path, resp.StatusCode, b)
					}
					return nil
				}()
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.first == nil {
						l.first = err
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}(i)
	}
	return l
}

func call(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-API-KEY", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ---- processes ----

func status(t *testing.T) control.Status {
	t.Helper()
	var st control.Status
	if err := json.Unmarshal([]byte(out(t, bin, "status", "--json")), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	return st
}

func childPids(st control.Status) []int {
	var pids []int
	for _, c := range st.Children {
		pids = append(pids, c.Pid)
	}
	return pids
}

func readPid(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !alive(pid) {
		t.Fatalf("pid file %q names no live process", data)
	}
	return pid
}

func uidOf(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "Uid:" {
			euid, _ := strconv.Atoi(f[2])
			return euid
		}
	}
	t.Fatalf("process %d: no Uid line", pid)
	return -1
}

// alive: the process exists and is not a zombie (a daemonized master is
// reaped by whatever adopted it, perhaps late).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func isPortico(pid int) bool {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return strings.HasPrefix(exe, bin)
}

// pidSet records every gateway process the test started, in a file the outer
// test reads too, and kills those still running when the test ends.
type pidSet struct {
	mu   sync.Mutex
	file string
	pids []int
}

func (s *pidSet) add(pids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pids {
		if p > 0 && !slices.Contains(s.pids, p) {
			s.pids = append(s.pids, p)
		}
	}
	var b strings.Builder
	for _, p := range s.pids {
		fmt.Fprintln(&b, p)
	}
	if s.file != "" {
		os.WriteFile(s.file, []byte(b.String()), 0o600)
	}
}

func (s *pidSet) addStatus(st control.Status) { s.add(childPids(st)...) }

func (s *pidSet) killLeftovers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pids {
		if alive(p) && isPortico(p) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func readPids(file string) []int {
	data, _ := os.ReadFile(file)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// ---- helpers ----

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, o)
	}
	return string(o)
}

// out is run with stdout only (a command whose stdout is parsed).
func out(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	o, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, o, stderr.Bytes())
	}
	return string(o)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
