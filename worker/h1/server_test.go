package h1_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConnStateSequence: a keep-alive client goes New, Active, Idle,
// Active, Idle, ..., Closed.
func TestConnStateSequence(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(hello))
	c := dial(t, ts.addr)
	for range 3 {
		c.get("/")
		ts.states.waitLast(t, c.addr(), http.StateIdle)
	}
	c.Close()
	seq := ts.states.waitLast(t, c.addr(), http.StateClosed)
	want := []http.ConnState{
		http.StateNew,
		http.StateActive, http.StateIdle,
		http.StateActive, http.StateIdle,
		http.StateActive, http.StateIdle,
		http.StateClosed,
	}
	if !slices.Equal(seq, want) {
		t.Errorf("states %v, want %v", seq, want)
	}
}

// TestShutdown: idle connections close at once, a request in flight
// completes with Connection: close, Serve returns http.ErrServerClosed and
// Shutdown returns once the last connection is gone.
func TestShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		hello(w, r)
	}))
	idle := dial(t, ts.addr)
	idle.get("/")
	ts.states.waitLast(t, idle.addr(), http.StateIdle)
	busy := dial(t, ts.addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	if err := ts.serveReturned(t); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	idle.expectClosed()
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Errorf("the listener still accepts")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}

	close(release)
	res, body := busy.response("GET")
	if res.StatusCode != 200 || body != "/slow" || !res.Close {
		t.Errorf("in-flight request: %s %q close=%v, want 200 \"/slow\" with Connection: close", res.Status, body, res.Close)
	}
	busy.expectClosed()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Shutdown did not return")
	}
	// A listener given to Serve after Shutdown is closed, as net/http's
	// Serve does: its clients are refused instead of waiting in the
	// accept queue for nothing.
	late := newListener(t)
	if err := ts.Serve(late); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want http.ErrServerClosed", err)
	}
	if nc, err := net.Dial("tcp", late.Addr().String()); err == nil {
		nc.Close()
		t.Errorf("a listener given to Serve after Shutdown still accepts")
	}
}

// TestShutdownTimeout: Shutdown gives up when its context ends before the
// requests in flight do.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
}

// TestClose: Close ends every connection at once, a request in flight
// included.
func TestClose(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		hello(w, r)
	}))
	idle := dial(t, ts.addr)
	idle.get("/")
	busy := dial(t, ts.addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
	<-started
	if err := ts.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := ts.serveReturned(t); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	busy.expectClosed()
	idle.expectClosed()
}

// TestServeTwoListeners: one server serves several listeners, and Close
// stops them all.
func TestServeTwoListeners(t *testing.T) {
	t.Parallel()
	s := newServer(hello)
	ln1, ln2 := newListener(t), newListener(t)
	errs := make(chan error, 2)
	go func() { errs <- s.Serve(ln1) }()
	go func() { errs <- s.Serve(ln2) }()
	for _, ln := range []net.Listener{ln1, ln2} {
		c := dial(t, ln.Addr().String())
		if res, body := c.get("/x"); res.StatusCode != 200 || body != "/x" {
			t.Errorf("%s: %s %q", ln.Addr(), res.Status, body)
		}
	}
	s.Close()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(testDeadline):
			t.Fatal("Serve did not return after Close")
		}
	}
}

// TestHTTPClient: net/http's client talks to the server (keep-alive, a
// body each way).
func TestHTTPClient(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Write(b)
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: testDeadline}
	for i := range 3 {
		res, err := cl.Post("http://"+ts.addr+"/", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "payload" || res.Header.Get("X-Method") != "POST" {
			t.Errorf("request %d: %q %v", i, b, res.Header)
		}
	}
	news := 0
	for _, seq := range ts.states.snapshot() {
		if seq[0] == http.StateNew {
			news++
		}
	}
	if news != 1 {
		t.Errorf("%d connections for 3 sequential requests, want 1", news)
	}
}

func newListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
