// Command fakerunner stands in for an ext-plugin runner in Portico's
// integration tests of the runner's supervision: it listens where
// APISIX_LISTEN_ADDRESS says, as the Go plugin runner does (removing a stale
// file first, chmod 0766, removing the socket on SIGTERM), and answers no
// RPC. With -report DIR it writes DIR/<pid>.json describing how it was
// started; with -ignore-term it ignores SIGTERM.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Report is what the tests check.
type Report struct {
	Pid  int      `json:"pid"`
	Ppid int      `json:"ppid"`
	Uid  int      `json:"uid"`
	Cwd  string   `json:"cwd"`
	Env  []string `json:"env"`
}

func main() {
	report := flag.String("report", "", "directory to write <pid>.json to once listening")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	flag.Parse()
	if err := run(*report, *ignoreTerm); err != nil {
		fmt.Fprintln(os.Stderr, "fakerunner:", err)
		os.Exit(1)
	}
}

func run(report string, ignoreTerm bool) error {
	path, ok := strings.CutPrefix(os.Getenv("APISIX_LISTEN_ADDRESS"), "unix:")
	if !ok {
		return fmt.Errorf("APISIX_LISTEN_ADDRESS %q lacks unix:", os.Getenv("APISIX_LISTEN_ADDRESS"))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o766); err != nil {
		return err
	}
	fmt.Println("fakerunner listening on", path)
	if report != "" {
		cwd, _ := os.Getwd()
		data, _ := json.Marshal(Report{Pid: os.Getpid(), Ppid: os.Getppid(), Uid: os.Getuid(), Cwd: cwd, Env: os.Environ()})
		final := filepath.Join(report, fmt.Sprintf("%d.json", os.Getpid()))
		if err := os.WriteFile(final+".tmp", data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(final+".tmp", final); err != nil {
			return err
		}
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
	<-sigs
	ln.Close() // removes the socket file, as the Go runner does
	return nil
}
