package ipc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns both ends of a channel in this process.
func pair(t *testing.T) (master, child *Conn) {
	t.Helper()
	master, f, err := NewPair()
	if err != nil {
		t.Fatal(err)
	}
	child, err = FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); child.Close() })
	return master, child
}

// sendRaw bypasses Send's checks to put an arbitrary packet on the wire.
func sendRaw(t *testing.T, c *Conn, pkt []byte, files ...*os.File) {
	t.Helper()
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	if err := c.write(pkt, oob); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	master, child := pair(t)
	for k := KindReady; k <= KindStatus; k++ {
		payload := []byte(`{"kind":"` + k.String() + `"}`)
		if err := master.Send(Message{Kind: k, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		m, err := child.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != k || !bytes.Equal(m.Payload, payload) || m.Files != nil {
			t.Fatalf("got %v %q %v, want %v %q", m.Kind, m.Payload, m.Files, k, payload)
		}
	}
	// Empty payload, and the other direction.
	if err := child.Send(Message{Kind: KindQuit}); err != nil {
		t.Fatal(err)
	}
	if m, err := master.Receive(); err != nil || m.Kind != KindQuit || m.Payload != nil {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestJSONHelpers(t *testing.T) {
	master, child := pair(t)
	want := readyInfo{Pid: 1234, Role: "privileged", Slot: 3}
	m, err := NewMessage(KindReady, want)
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Send(m); err != nil {
		t.Fatal(err)
	}
	got, err := master.Receive()
	if err != nil {
		t.Fatal(err)
	}
	var r readyInfo
	if err := got.Decode(&r); err != nil || r != want {
		t.Fatalf("Decode = %+v, %v; want %+v", r, err, want)
	}

	m, err = NewMessage(KindStatusRequest, nil)
	if err != nil || m.Payload != nil {
		t.Fatalf("NewMessage(nil) = %+v, %v", m, err)
	}
	if err := m.Decode(&r); err != nil || r != want {
		t.Fatalf("Decode(empty) = %+v, %v", r, err)
	}
	if _, err := NewMessage(KindStatus, func() {}); err == nil {
		t.Fatal("NewMessage(func) succeeded")
	}
	if _, err := NewMessage(KindStatus, strings.Repeat("x", MaxPayload)); err == nil {
		t.Fatal("NewMessage(oversized) succeeded")
	}
	if err := (Message{Kind: KindStatus, Payload: []byte("{")}).Decode(&r); err == nil {
		t.Fatal("Decode(bad JSON) succeeded")
	}
}

func TestFilePassing(t *testing.T) {
	master, child := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := master.Send(Message{Kind: KindReopen, Files: []*os.File{w}}); err != nil {
		t.Fatal(err)
	}
	w.Close() // the caller keeps ownership of its copy
	m, err := child.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindReopen || len(m.Files) != 1 {
		t.Fatalf("got %v with %d files", m.Kind, len(m.Files))
	}
	rw := m.Files[0]
	flags, err := unix.FcntlInt(rw.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("received fd flags %#x, %v: want FD_CLOEXEC", flags, err)
	}
	if _, err := io.WriteString(rw, "via SCM_RIGHTS"); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "via SCM_RIGHTS" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestEOFWhenPeerCloses(t *testing.T) {
	master, child := pair(t)
	master.Close()
	if _, err := child.Receive(); err != io.EOF {
		t.Fatalf("child Receive = %v, want io.EOF", err)
	}
	if err := child.Send(Message{Kind: KindReady}); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("Send to dead peer = %v, want EPIPE", err)
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	master, _ := pair(t)
	errc := make(chan error)
	go func() { _, err := master.Receive(); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	master.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Receive after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
}

// pipeClosedEverywhere reports whether all copies of the pipe's write end
// are closed, i.e. whether reading r hits EOF.
func pipeClosedEverywhere(t *testing.T, r *os.File) bool {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := r.Read(make([]byte, 1))
	return err == io.EOF
}

func TestBadPacketsRejected(t *testing.T) {
	master, child := pair(t)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want string
	}{
		{"version", []byte{2, byte(KindReady), '{', '}'}, "version 2 (kind 1)"},
		{"version0", []byte{0, 0}, "version 0"},
		{"unknown kind", []byte{Version, 200}, "unknown kind 200"},
		{"kind zero", []byte{Version, 0}, "unknown kind 0"},
		{"short", []byte{Version}, "short packet of 1 bytes"},
		{"truncated", append([]byte{Version, byte(KindStatus)}, make([]byte, MaxPayload+1)...), "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			sendRaw(t, master, tc.pkt, w)
			w.Close()
			_, err = child.Receive()
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Receive = %v, want ErrProtocol mentioning %q", err, tc.want)
			}
			if !pipeClosedEverywhere(t, r) {
				t.Fatal("fd attached to a rejected packet was not closed")
			}
			// The channel is still usable.
			if err := master.Send(Message{Kind: KindStatusRequest}); err != nil {
				t.Fatal(err)
			}
			if m, err := child.Receive(); err != nil || m.Kind != KindStatusRequest {
				t.Fatalf("Receive after bad packet = %+v, %v", m, err)
			}
		})
	}
}

func TestTooManyFilesRejected(t *testing.T) {
	master, child := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	files := make([]*os.File, MaxFiles+1)
	for i := range files {
		files[i] = w
	}
	if err := master.Send(Message{Kind: KindReopen, Files: files}); err == nil {
		t.Fatal("Send with too many files succeeded")
	}
	sendRaw(t, master, []byte{Version, byte(KindReopen)}, files...)
	w.Close()
	if _, err := child.Receive(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "9 files") {
		t.Fatalf("Receive = %v, want ErrProtocol about 9 files", err)
	}
	if !pipeClosedEverywhere(t, r) {
		t.Fatal("fds of a rejected message were not all closed")
	}
}

func TestSendValidation(t *testing.T) {
	master, child := pair(t)
	big := bytes.Repeat([]byte{'x'}, MaxPayload)
	if err := master.Send(Message{Kind: KindStatus, Payload: big}); err != nil {
		t.Fatalf("Send(MaxPayload) = %v", err)
	}
	if m, err := child.Receive(); err != nil || !bytes.Equal(m.Payload, big) {
		t.Fatalf("Receive(MaxPayload) = %d bytes, %v", len(m.Payload), err)
	}
	for _, m := range []Message{
		{Kind: KindStatus, Payload: append(big, 'x')},
		{Kind: 0},
		{Kind: KindStatus + 1},
		{Kind: KindReopen, Files: []*os.File{nil}},
	} {
		if err := master.Send(m); err == nil {
			t.Errorf("Send(kind %d, %d bytes, files %v) succeeded", m.Kind, len(m.Payload), m.Files)
		}
	}
}

func TestConcurrentSenders(t *testing.T) {
	master, child := pair(t)
	const senders, perSender = 8, 500
	type msg struct{ G, I int }

	var wg sync.WaitGroup
	errc := make(chan error, senders)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSender; i++ {
				m, err := NewMessage(KindStatus, msg{g, i})
				if err == nil {
					err = child.Send(m)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}

	next := make([]int, senders)
	for n := 0; n < senders*perSender; n++ {
		m, err := master.Receive()
		if err != nil {
			t.Fatal(err)
		}
		var v msg
		if err := m.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if v.I != next[v.G] {
			t.Fatalf("sender %d: got message %d, want %d", v.G, v.I, next[v.G])
		}
		next[v.G]++
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestFromFileRejectsStreamSocket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := FromFile(os.NewFile(uintptr(fds[0]), "stream")); err == nil || !strings.Contains(err.Error(), "SOCK_SEQPACKET") {
		t.Fatalf("FromFile(stream socket) = %v", err)
	}
}

// TestChildProcess runs a real child that inherits its channel end as fd 3.
func TestChildProcess(t *testing.T) {
	master, childEnd, err := NewPair()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	cmd := helperCmd(t, "child", childEnd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close() // otherwise we would never see EOF
	defer cmd.Process.Kill()

	receive := func(want Kind) Message {
		t.Helper()
		m, err := master.Receive()
		if err != nil || m.Kind != want {
			t.Fatalf("Receive = %v, %v; want %v", m.Kind, err, want)
		}
		return m
	}

	var ready readyInfo
	if err := receive(KindReady).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	if ready != (readyInfo{Pid: cmd.Process.Pid, Role: "worker", Slot: 7}) {
		t.Fatalf("Ready payload %+v, child pid %d", ready, cmd.Process.Pid)
	}

	if err := master.Send(Message{Kind: KindStatusRequest}); err != nil {
		t.Fatal(err)
	}
	var st statusInfo
	if err := receive(KindStatus).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st != (statusInfo{Pid: cmd.Process.Pid, Requests: 42}) {
		t.Fatalf("Status payload %+v", st)
	}

	// Reopen across processes: the child writes through the passed fd.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := master.Send(Message{Kind: KindReopen, Files: []*os.File{w}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, err := io.ReadAll(r); err != nil || string(got) != "reopened" {
		t.Fatalf("read %q, %v", got, err)
	}

	if err := master.Send(Message{Kind: KindQuit}); err != nil {
		t.Fatal(err)
	}
	if m, err := master.Receive(); err != io.EOF {
		t.Fatalf("Receive after Quit = %+v, %v; want io.EOF", m, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}
