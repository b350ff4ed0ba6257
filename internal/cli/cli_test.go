package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/buildinfo"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMainNoArgsPrintsUsage(t *testing.T) {
	code, out, errOut := run(t)
	if code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	if !strings.HasPrefix(out, "Usage: portico [action] [-p PREFIX] [-c CONFIG]\n") {
		t.Errorf("stdout does not start with the usage line:\n%s", out)
	}
	for _, v := range verbs {
		if !strings.Contains(out, "  "+v.name+" ") {
			t.Errorf("usage does not list %q", v.name)
		}
	}
	if errOut != "" {
		t.Errorf("stderr = %q", errOut)
	}

	code, help, _ := run(t, "help")
	if code != exitOK || help != out {
		t.Errorf("help: exit %d, output differs from the bare usage", code)
	}
}

func TestMainUnknownVerb(t *testing.T) {
	for _, verb := range []string{"strat", "-p", "--help", ""} {
		code, out, errOut := run(t, verb, "-p", t.TempDir())
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", verb, code, exitUsage)
		}
		if first, _, _ := strings.Cut(errOut, "\n"); first != "invalid argument: "+verb {
			t.Errorf("%q: first stderr line %q", verb, first)
		}
		if !strings.Contains(errOut, "Usage: portico") {
			t.Errorf("%q: no usage on stderr", verb)
		}
		if out != "" {
			t.Errorf("%q: stdout = %q", verb, out)
		}
	}
}

func TestMainVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != exitOK || out != buildinfo.Version+"\n" {
		t.Errorf("version: exit %d, stdout %q", code, out)
	}
}

func TestMainGlobalFlagWithoutValue(t *testing.T) {
	for _, flag := range []string{"-p", "--prefix", "-c", "--config"} {
		code, _, errOut := run(t, "test", flag)
		if code != exitUsage {
			t.Errorf("test %s: exit %d, want %d", flag, code, exitUsage)
		}
		if want := "portico test: " + flag + " needs a value\n"; errOut != want {
			t.Errorf("test %s: stderr %q, want %q", flag, errOut, want)
		}
	}
}

func TestParse(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := []struct {
		args       []string
		prefix     string
		config     string
		rest       []string
		prefixSame bool // prefix is the default
	}{
		{args: []string{"-p", dir}, prefix: dir},
		{args: []string{"--prefix=" + dir}, prefix: dir},
		{args: []string{"--prefix", dir, "-v"}, prefix: dir, rest: []string{"-v"}},
		{args: []string{"-v", "-p=" + dir, "--json"}, prefix: dir, rest: []string{"-v", "--json"}},
		{args: []string{"-c", "/etc/gw.yaml", "--foreground", "-p", dir}, prefix: dir, config: "/etc/gw.yaml", rest: []string{"--foreground"}},
		{args: []string{"--foreground", "-p", dir, "-c", "gw.yaml"}, prefix: dir, config: filepath.Join(wd, "gw.yaml"), rest: []string{"--foreground"}},
		{args: []string{"--config=conf/x.yaml", "-p", "rel/home"}, prefix: filepath.Join(wd, "rel/home"), config: filepath.Join(wd, "conf/x.yaml")},
		{args: []string{"-c=" + dir + "/c.yaml", "extra", "-p", dir + "/"}, prefix: dir, config: dir + "/c.yaml", rest: []string{"extra"}},
		// The last of repeated flags wins, as with the flag package.
		{args: []string{"-p", "/first", "--prefix", dir}, prefix: dir},
	}
	for _, c := range cases {
		g := &Globals{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
		rest, err := g.parse("test", c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if g.Prefix != c.prefix || g.ConfigFile != c.config || !slices.Equal(rest, c.rest) {
			t.Errorf("%q: prefix %q config %q rest %q\n want prefix %q config %q rest %q",
				c.args, g.Prefix, g.ConfigFile, rest, c.prefix, c.config, c.rest)
		}
		if !filepath.IsAbs(g.Self) {
			t.Errorf("%q: Self %q is not absolute", c.args, g.Self)
		}
	}

	// Without -p, the prefix is the default one.
	g := &Globals{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	if _, err := g.parse("test", nil); err != nil {
		t.Fatal(err)
	}
	if want := defaultPrefix(g.Self); g.Prefix != want {
		t.Errorf("prefix without -p = %q, want %q", g.Prefix, want)
	}

	if _, err := (&Globals{Stderr: &bytes.Buffer{}}).parse("test", []string{"-v", "-c"}); err == nil || err.Error() != "-c needs a value" {
		t.Errorf("trailing -c: %v", err)
	}
}

func TestDefaultPrefix(t *testing.T) {
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(bin, "portico")
	if got := defaultPrefix(self); got != PackagePrefix {
		t.Errorf("without conf/: %q, want %q", got, PackagePrefix)
	}
	// A file named conf is not a home.
	if err := os.WriteFile(filepath.Join(home, "conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := defaultPrefix(self); got != PackagePrefix {
		t.Errorf("with a conf file: %q, want %q", got, PackagePrefix)
	}
	os.Remove(filepath.Join(home, "conf"))
	if err := os.Mkdir(filepath.Join(home, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := defaultPrefix(self); got != home {
		t.Errorf("with conf/: %q, want %q", got, home)
	}
	// conf/ next to the binary (bin/conf) does not count.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, "bin", "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := defaultPrefix(filepath.Join(other, "bin", "portico")); got != PackagePrefix {
		t.Errorf("with bin/conf/: %q, want %q", got, PackagePrefix)
	}
}

// TestHelperProcess is not a test: processAlive's tests run it as a child
// that waits until killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("PORTICO_CLI_HELPER") != "1" {
		return
	}
	time.Sleep(time.Minute) // killed by the test long before
	os.Exit(0)
}

func helper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "PORTICO_CLI_HELPER=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func procState(pid int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func TestProcessAlive(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	if processAlive(1 << 22) { // above pid_max's ceiling
		t.Error("a pid that cannot exist is alive")
	}

	// A running child is alive; once it exited, unreaped, it is a zombie and
	// not alive; reaped, it is gone.
	cmd := helper(t)
	pid := cmd.Process.Pid
	if !processAlive(pid) {
		t.Fatalf("running child %d not alive", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for procState(pid) != "Z" {
		if time.Now().After(deadline) {
			t.Fatalf("child %d never became a zombie (state %q)", pid, procState(pid))
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
	if processAlive(pid) {
		t.Errorf("zombie %d reported alive", pid)
	}
	cmd.Wait()
	if processAlive(pid) {
		t.Errorf("reaped child %d reported alive", pid)
	}
}

func TestLivePid(t *testing.T) {
	prefix := t.TempDir()
	if pid, stale := livePid(prefix); pid != 0 || stale != 0 {
		t.Errorf("no pid file: %d %d", pid, stale)
	}
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(prefix, "logs", "portico.pid")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(pidFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strconv.Itoa(os.Getpid()) + "\n")
	if pid, stale := livePid(prefix); pid != os.Getpid() || stale != 0 {
		t.Errorf("live pid: %d %d", pid, stale)
	}
	cmd := helper(t)
	dead := cmd.Process.Pid
	cmd.Process.Kill()
	cmd.Wait()
	write(strconv.Itoa(dead))
	if pid, stale := livePid(prefix); pid != 0 || stale != dead {
		t.Errorf("dead pid %d: got %d %d", dead, pid, stale)
	}
	for _, junk := range []string{"", "abc", "-1", "0"} {
		write(junk)
		if pid, stale := livePid(prefix); pid != 0 || stale != 0 {
			t.Errorf("pid file %q: %d %d", junk, pid, stale)
		}
	}
}

// newPrefix makes a home with conf/config.yaml holding config.
func newPrefix(t *testing.T, config string) string {
	t.Helper()
	t.Setenv("APISIX_PROFILE", "")
	prefix := t.TempDir()
	if err := os.MkdirAll(filepath.Join(prefix, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prefix, "conf", "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return prefix
}

func TestTestVerbValidConfig(t *testing.T) {
	prefix := newPrefix(t, "apisix:\n  node_listen:\n    - 19080\n")
	code, out, errOut := run(t, "test", "-p", prefix)
	if code != exitOK || out != "configuration test is successful\n" || errOut != "" {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	// Nothing is written by a test.
	if _, err := os.Stat(filepath.Join(prefix, "conf", "portico.runtime.yaml")); !os.IsNotExist(err) {
		t.Errorf("test wrote the runtime file: %v", err)
	}

	// -v prints the runtime file first; flags in any order.
	code, out, _ = run(t, "test", "-v", "--prefix="+prefix)
	if code != exitOK || !strings.HasSuffix(out, "configuration test is successful\n") || !strings.Contains(out, `"0.0.0.0:19080"`) {
		t.Errorf("test -v: exit %d\n%s", code, out)
	}
}

func TestTestVerbInvalidConfig(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{"apisix:\n  enable_admn: true\n", "apisix.enable_admn: unknown key"},
		{"deployment:\n  admin:\n    admin_listen: 5\n", "deployment->admin->admin_listen"},
		{"apisix:\n  node_listen:\n    - port: notaport\n", "apisix.node_listen[0].port"},
	} {
		prefix := newPrefix(t, c.config)
		code, out, errOut := run(t, "test", "-p", prefix)
		if code != exitFailure {
			t.Errorf("%q: exit %d, want %d", c.config, code, exitFailure)
		}
		if !strings.HasPrefix(errOut, "portico test: configuration test failed: ") ||
			!strings.Contains(errOut, "config.yaml") || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: stderr %q does not name the file and %s", c.config, errOut, c.want)
		}
		if out != "" {
			t.Errorf("%q: stdout %q", c.config, out)
		}
	}
}

func TestTestVerbExplicitConfigFile(t *testing.T) {
	prefix := newPrefix(t, "apisix:\n  enable_admn: true\n") // not read with -c
	other := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(other, []byte("apisix:\n  node_listen: 19081\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "test", "-c", other, "-v", "-p", prefix)
	if code != exitOK || !strings.Contains(out, `"0.0.0.0:19081"`) {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	missing := filepath.Join(prefix, "conf", "nope.yaml")
	code, _, errOut = run(t, "test", "-p", prefix, "--config="+missing)
	if code != exitFailure || !strings.Contains(errOut, missing) {
		t.Errorf("missing -c file: exit %d stderr %q", code, errOut)
	}
}

func TestTestVerbRejectsStrayArgument(t *testing.T) {
	prefix := newPrefix(t, "")
	code, _, errOut := run(t, "test", "-p", prefix, "extra")
	if code == exitOK || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("exit %d stderr %q", code, errOut)
	}
}

// `portico <verb> -h` prints the verb's flags and exits 0.
func TestVerbHelpExitCode(t *testing.T) {
	prefix := newPrefix(t, "")
	code, _, errOut := run(t, "test", "-h", "-p", prefix)
	if code != exitOK || strings.Contains(errOut, "help requested") {
		t.Errorf("test -h: exit %d, stderr %q; want exit 0 and the flag usage only", code, errOut)
	}
}
