package extplugin

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestSpinnerPollsOnlyTheOnlyFastCall(t *testing.T) {
	var s spinner
	if s.worthwhile() {
		t.Fatal("no call in flight: a poll would be for nobody")
	}
	s.begin()
	if !s.worthwhile() {
		t.Fatal("one call, no slow answers yet: should poll")
	}
	s.begin()
	if s.worthwhile() {
		t.Fatal("two calls in flight: the CPU has other work, park instead")
	}
	s.end()
	for range 32 {
		s.observe(5 * time.Millisecond)
	}
	if s.worthwhile() {
		t.Fatalf("answers take 5ms (average %v): polling would burn CPU for nothing", time.Duration(s.wait.Load()))
	}
	for range 64 {
		s.observe(40 * time.Microsecond)
	}
	if !s.worthwhile() {
		t.Fatalf("answers fast again (average %v): should poll again", time.Duration(s.wait.Load()))
	}
	s.end()
}

// TestSpinnerAwaitTakesAnswer checks await returns once the socket is
// readable, leaving the bytes for the read, and gives up on a silent one.
func TestSpinnerAwaitTakesAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	rc, err := client.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var s spinner
	s.begin()
	defer s.end()
	s.await(rc) // nothing sent: returns after spinFor, reads nothing
	if _, err := server.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	s.await(rc)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := client.Read(buf)
	if err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("read after await = %q, %v; want the answer", buf[:n], err)
	}
}
