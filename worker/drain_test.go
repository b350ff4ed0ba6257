package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const waitLimit = 10 * time.Second

// signalListener reports when drain closes it and can hold a connection the
// kernel accepted before Serve sees it.
type signalListener struct {
	net.Listener
	closeOnce sync.Once
	closed    chan struct{}

	hold   atomic.Bool
	held   chan struct{}
	resume chan struct{}
}

func (l *signalListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	return err
}

func (l *signalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.hold.Load() {
		l.held <- struct{}{}
		<-l.resume
	}
	return c, err
}

// drainRig is an http.Server on 127.0.0.1:0 tracked by a connTracker. Its
// handler answers /fast at once and any other path once released.
type drainRig struct {
	t       *testing.T
	tracker *connTracker
	srv     *http.Server
	ln      *signalListener
	addr    string
	entered chan string
	release chan struct{}
	served  chan error

	releaseOnce sync.Once
}

// releaseAll lets every blocked request finish.
func (rig *drainRig) releaseAll() { rig.releaseOnce.Do(func() { close(rig.release) }) }

func newDrainRig(t *testing.T) *drainRig {
	t.Helper()
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rig := &drainRig{
		t:       t,
		tracker: newConnTracker(),
		ln:      &signalListener{Listener: inner, closed: make(chan struct{}), held: make(chan struct{}), resume: make(chan struct{})},
		addr:    inner.Addr().String(),
		entered: make(chan string, 16),
		release: make(chan struct{}),
		served:  make(chan error, 1),
	}
	rig.srv = &http.Server{
		ConnState: rig.tracker.hook,
		Handler: rig.tracker.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/fast" {
				rig.entered <- r.URL.Path
				select {
				case <-rig.release:
				case <-r.Context().Done():
					return
				}
			}
			body := "done " + r.URL.Path + "\n"
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			io.WriteString(w, body)
		})),
	}
	go func() { rig.served <- rig.tracker.serve(rig.srv, rig.ln) }()
	t.Cleanup(func() {
		rig.releaseAll()
		rig.srv.Close()
		inner.Close()
	})
	return rig
}

func (rig *drainRig) dial() net.Conn {
	rig.t.Helper()
	c, err := net.DialTimeout("tcp4", rig.addr, 2*time.Second)
	if err != nil {
		rig.t.Fatal(err)
	}
	rig.t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, path string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		t.Fatalf("send %s: %v", path, err)
	}
}

// response reads one full response from c.
func response(c net.Conn, br *bufio.Reader) (*http.Response, string, error) {
	c.SetReadDeadline(time.Now().Add(waitLimit))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func expectOK(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	resp, body, err := response(c, br)
	if err != nil {
		t.Fatalf("%s: no complete response: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || body != "done "+path+"\n" {
		t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
	}
	return resp
}

// expectClosed asserts that the server closed c without answering.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	n, err := c.Read(make([]byte, 512))
	if err == nil {
		t.Fatalf("read %d bytes from a connection that should be closed", n)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open")
	}
}

func (rig *drainRig) waitEntered(want string) {
	rig.t.Helper()
	select {
	case got := <-rig.entered:
		if got != want {
			rig.t.Fatalf("handler entered for %s, want %s", got, want)
		}
	case <-time.After(waitLimit):
		rig.t.Fatalf("request %s never reached the handler", want)
	}
}

// waitStates polls until the tracker holds exactly these many connections
// per state.
func (rig *drainRig) waitStates(want map[http.ConnState]int) {
	rig.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := map[http.ConnState]int{}
		rig.tracker.mu.Lock()
		for _, ci := range rig.tracker.conns {
			got[ci.state]++
		}
		rig.tracker.mu.Unlock()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			rig.t.Fatalf("tracked connection states %v, want %v", got, want)
		}
		time.Sleep(2 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func (rig *drainRig) startDrain(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- rig.tracker.drain(ctx, rig.srv, []net.Listener{rig.ln}) }()
	select {
	case <-rig.ln.closed:
	case <-time.After(waitLimit):
		rig.t.Fatal("drain did not close the listener")
	}
	return done
}

func mustBeRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s after the listener closed succeeded", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}

func stillDraining(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("drain returned (%v) while requests were in flight", err)
	default:
	}
}

func waitDrained(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatal("drain did not return")
		return nil
	}
}

func TestDrainFinishesInFlightAndLateRequests(t *testing.T) {
	rig := newDrainRig(t)

	// Three connections with a request in flight.
	type client struct {
		c    net.Conn
		br   *bufio.Reader
		path string
	}
	var busy []client
	for i := 0; i < 3; i++ {
		c := rig.dial()
		p := fmt.Sprintf("/inflight/%d", i)
		send(t, c, p)
		rig.waitEntered(p)
		busy = append(busy, client{c, bufio.NewReader(c), p})
	}
	// One idle keep-alive connection.
	idle := rig.dial()
	idleBr := bufio.NewReader(idle)
	send(t, idle, "/fast")
	expectOK(t, idle, idleBr, "/fast")
	// One connection accepted but without its first request yet.
	late := rig.dial()
	rig.waitStates(map[http.ConnState]int{http.StateActive: 3, http.StateIdle: 1, http.StateNew: 1})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := rig.startDrain(ctx)

	mustBeRefused(t, rig.addr)
	expectClosed(t, idle) // closed once idle for idleGrace

	// The late connection's first request arrives after the drain began.
	send(t, late, "/late")
	rig.waitEntered("/late")
	busy = append(busy, client{late, bufio.NewReader(late), "/late"})
	stillDraining(t, done)

	rig.releaseAll()
	for _, b := range busy {
		resp := expectOK(t, b.c, b.br, b.path)
		// A request that reached the handler after the drain began tells its
		// client to close; earlier ones are closed after idleGrace.
		if b.path == "/late" && !resp.Close {
			t.Errorf("%s: response keeps the connection alive during a drain", b.path)
		}
		expectClosed(t, b.c)
	}
	if err := waitDrained(t, done); err != nil {
		t.Fatalf("drain: %v", err)
	}
	select {
	case err := <-rig.served:
		if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(waitLimit):
		t.Error("Serve did not return")
	}
	mustBeRefused(t, rig.addr)
}

// The regression the tracker exists for, alone: with nothing in flight, a
// connection accepted before the drain whose request comes after it began
// is answered (net/http's Shutdown alone drops it).
func TestDrainAnswersFirstRequestOfAcceptedConnection(t *testing.T) {
	rig := newDrainRig(t)
	late := rig.dial()
	rig.waitStates(map[http.ConnState]int{http.StateNew: 1})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := rig.startDrain(ctx)
	mustBeRefused(t, rig.addr)
	stillDraining(t, done)

	send(t, late, "/fast")
	expectOK(t, late, bufio.NewReader(late), "/fast")
	if err := waitDrained(t, done); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

func TestDrainWithNothingToWaitFor(t *testing.T) {
	rig := newDrainRig(t)
	c := rig.dial()
	br := bufio.NewReader(c)
	send(t, c, "/fast")
	expectOK(t, c, br, "/fast")
	rig.waitStates(map[http.ConnState]int{http.StateIdle: 1})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := rig.startDrain(ctx)
	if err := waitDrained(t, done); err != nil {
		t.Fatalf("drain: %v", err)
	}
	expectClosed(t, c)
	rig.waitStates(map[http.ConnState]int{})
}

func TestDrainContextExpires(t *testing.T) {
	rig := newDrainRig(t)
	stuck := rig.dial()
	send(t, stuck, "/stuck")
	rig.waitEntered("/stuck")
	silent := rig.dial()
	rig.waitStates(map[http.ConnState]int{http.StateActive: 1, http.StateNew: 1})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := rig.startDrain(ctx)
	err := waitDrained(t, done)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drain returned %v, want the context's deadline error", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("drain returned %v after its context expired", el)
	}
	// Both connections are closed, the stuck request unanswered.
	expectClosed(t, stuck)
	expectClosed(t, silent)
	mustBeRefused(t, rig.addr)
}

func TestDrainCanceledContext(t *testing.T) {
	rig := newDrainRig(t)
	stuck := rig.dial()
	send(t, stuck, "/stuck")
	rig.waitEntered("/stuck")

	ctx, cancel := context.WithCancel(context.Background())
	done := rig.startDrain(ctx)
	stillDraining(t, done)
	cancel()
	if err := waitDrained(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("drain returned %v, want context.Canceled", err)
	}
	expectClosed(t, stuck)
}

func TestConnTrackerBusy(t *testing.T) {
	tr := newConnTracker()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c, d := net.Pipe()
	defer c.Close()
	defer d.Close()

	tr.hook(a, http.StateNew)
	tr.hook(c, http.StateActive)
	if n := tr.busy(); n != 2 {
		t.Errorf("busy = %d, want 2", n)
	}
	tr.hook(c, http.StateIdle)
	select {
	case <-tr.idle:
	default:
		t.Error("no idle signal when a connection went idle")
	}
	if n := tr.busy(); n != 1 {
		t.Errorf("busy = %d, want 1", n)
	}
	// A connection silent for longer than the grace no longer holds a drain.
	tr.mu.Lock()
	tr.conns[a] = connInfo{state: http.StateNew, since: time.Now().Add(-newConnGrace - time.Second)}
	tr.mu.Unlock()
	if n := tr.busy(); n != 0 {
		t.Errorf("busy with a stale new connection = %d, want 0", n)
	}
	tr.hook(a, http.StateHijacked)
	tr.hook(c, http.StateClosed)
	tr.mu.Lock()
	left := len(tr.conns)
	tr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d connections still tracked after closed/hijacked", left)
	}
	// The idle signal never blocks the server's hook.
	for i := 0; i < 10; i++ {
		tr.hook(c, http.StateClosed)
	}
}

// A connection that accept(2) already returned to Serve, but whose
// ConnState(StateNew) hook has not run yet, is invisible to busy(); drain
// must wait for Serve to return before trusting busy(), or net/http drops
// that connection's first request. The listener here holds the accepted
// connection to make that scheduling window deterministic.
func TestDrainWaitsForAcceptedConnection(t *testing.T) {
	rig := newDrainRig(t)
	shutdown := make(chan struct{})
	rig.srv.RegisterOnShutdown(func() { close(shutdown) })
	rig.ln.hold.Store(true)
	c := rig.dial()
	select {
	case <-rig.ln.held:
	case <-time.After(waitLimit):
		t.Fatal("connection not accepted")
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := rig.startDrain(ctx)
	select {
	case <-shutdown:
		t.Log("drain called Shutdown while Serve still held an accepted connection")
	case <-time.After(time.Second):
	}
	close(rig.ln.resume)

	send(t, c, "/fast")
	resp, body, err := response(c, bufio.NewReader(c))
	if err != nil {
		t.Errorf("request on a connection accepted before the drain was dropped: %v", err)
	} else if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "done") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	waitDrained(t, done)
}
