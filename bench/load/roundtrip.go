package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The floor under the ext-plugin overhead: one process sends a frame to
// another over a unix socket and waits for the echo, placed on the CPUs the
// gateway and the runner use. No gateway can answer an RPC faster than
// this round trip on the same machine.

const (
	roundTripFrame = 256 // bytes each way, about a small HTTPReqCall
	roundTripCount = 20000
	roundTripLimit = 3 * time.Second
)

// Hidden roles: bench/load re-executes itself as both ends of the round trip.
const (
	roleEcho   = "PORTICO_BENCH_ECHO"
	roleClient = "PORTICO_BENCH_ROUNDTRIP"
)

// runRole serves a role the process was re-executed for and reports whether
// it did.
func runRole() bool {
	if path := os.Getenv(roleEcho); path != "" {
		if err := echoServer(path); err != nil {
			fatal("echo: " + err.Error())
		}
		return true
	}
	if path := os.Getenv(roleClient); path != "" {
		p50, p99, err := roundTrips(path)
		if err != nil {
			fatal("round trip: " + err.Error())
		}
		fmt.Println(int64(p50), int64(p99))
		return true
	}
	return false
}

// echoServer answers one connection until it closes.
func echoServer(path string) error {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("ready")
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, roundTripFrame)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return nil
		}
	}
}

func roundTrips(path string) (p50, p99 time.Duration, err error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	buf := make([]byte, roundTripFrame)
	took := make([]time.Duration, 0, roundTripCount)
	deadline := time.Now().Add(roundTripLimit)
	for len(took) < roundTripCount && time.Now().Before(deadline) {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			return 0, 0, err
		}
		for got := 0; got < len(buf); {
			n, err := c.Read(buf[got:])
			if err != nil {
				return 0, 0, err
			}
			got += n
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)*99/100], nil
}

// unixRoundTrip measures the round trip with the client on the gateway's
// CPUs and the echo server where the runner runs.
func unixRoundTrip() string {
	self, err := os.Executable()
	if err != nil {
		fatal(err.Error())
	}
	dir, err := os.MkdirTemp("", "portico-bench-rt")
	if err != nil {
		fatal(err.Error())
	}
	defer onFatal(func() { os.RemoveAll(dir) })()
	path := filepath.Join(dir, "echo.sock")

	echo := pinned(runnerCPUs(), self)
	echo.Env = append(os.Environ(), roleEcho+"="+path)
	out, err := echo.StdoutPipe()
	if err != nil {
		fatal(err.Error())
	}
	if err := echo.Start(); err != nil {
		fatal(err.Error())
	}
	defer onFatal(func() {
		echo.Process.Kill()
		echo.Wait()
	})()
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ready" {
		fatal("echo server did not start")
	}

	client := pinned(gatewayCPUs(), self)
	client.Env = append(os.Environ(), roleClient+"="+path)
	res, err := client.Output()
	if err != nil {
		fatal(fmt.Sprintf("round trip: %v", err))
	}
	var p50, p99 int64
	if _, err := fmt.Sscan(string(res), &p50, &p99); err != nil {
		fatal(fmt.Sprintf("round trip output %q: %v", res, err))
	}
	return fmt.Sprintf("p50 %s, p99 %s", time.Duration(p50).Round(time.Microsecond), time.Duration(p99).Round(time.Microsecond))
}
