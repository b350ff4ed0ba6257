package runner

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as the fake runner: run with FAKE_RUNNER=1 it
// behaves like the Go plugin runner as far as the supervisor can tell,
// steered by these variables:
//
//	FAKE_OUTPUT  bytes of output to write before listening (in 100-byte lines)
//	FAKE_EXIT    exit at once with this code, without listening
//	FAKE_TERM    a file to create on SIGTERM, which is then ignored
//	FAKE_REPORT  a file to write a fakeReport to once listening
//	FAKE_LEAK    a path: report whether an inherited descriptor points to it
func TestMain(m *testing.M) {
	if os.Getenv("FAKE_RUNNER") == "1" {
		os.Exit(fakeRunner())
	}
	os.Exit(m.Run())
}

type fakeReport struct {
	Pid    int      `json:"pid"`
	Env    []string `json:"env"`
	Cwd    string   `json:"cwd"`
	Leaked bool     `json:"leaked"`
	Pgid   int      `json:"pgid"`
}

func fakeRunner() int {
	// Inherited descriptors first, before this process opens its own.
	leaked := false
	if leak := os.Getenv("FAKE_LEAK"); leak != "" {
		for fd := 3; fd < 1024; fd++ {
			if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && target == leak {
				leaked = true
			}
		}
	}
	if v := os.Getenv("FAKE_EXIT"); v != "" {
		code, _ := strconv.Atoi(v)
		return code
	}
	if n, _ := strconv.Atoi(os.Getenv("FAKE_OUTPUT")); n > 0 {
		line := strings.Repeat("x", 99) + "\n"
		for written := 0; written < n; written += len(line) {
			os.Stdout.WriteString(line)
		}
	}
	addr := os.Getenv(EnvListenAddress)
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		fmt.Fprintf(os.Stderr, "bad %s %q\n", EnvListenAddress, addr)
		return 1
	}
	// Unlike the Go runner, no removal of a stale file first: that is the
	// supervisor's job, and a stale socket makes this listen fail.
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	os.Chmod(path, 0o766) // as the Go runner does
	fmt.Println("fake runner listening on", path)
	if report := os.Getenv("FAKE_REPORT"); report != "" {
		cwd, _ := os.Getwd()
		pgid, _ := syscall.Getpgid(0)
		data, _ := json.Marshal(fakeReport{Pid: os.Getpid(), Env: os.Environ(), Cwd: cwd, Leaked: leaked, Pgid: pgid})
		tmp := report + ".tmp"
		os.WriteFile(tmp, data, 0o600)
		os.Rename(tmp, report)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	for range sigs {
		if marker := os.Getenv("FAKE_TERM"); marker != "" {
			os.WriteFile(marker, nil, 0o600)
			continue
		}
		os.Remove(path) // the Go runner removes its socket on SIGTERM
		return 0
	}
	return 0
}

func readReport(path string) (*fakeReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r fakeReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// shortTempDir is a temp dir whose socket paths fit sun_path whatever the
// test's name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Clean(dir)
}
