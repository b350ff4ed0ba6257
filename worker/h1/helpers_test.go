package h1_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/worker/h1"
)

// Small timeouts keep the package's tests within a few seconds.
const (
	headerTimeout = 400 * time.Millisecond
	idleTimeout   = 400 * time.Millisecond
	bodyTimeout   = 300 * time.Millisecond
	sendTimeout   = 300 * time.Millisecond
	// slack is what a timeout may overrun by on a loaded (-race) machine.
	slack = time.Second
	// testDeadline bounds every client read and write of a test.
	testDeadline = 5 * time.Second
)

// refuseBody is what testRefuse writes: a test sees that Refuse ran.
func refuseBody(status int) string { return fmt.Sprintf("refused %d", status) }

func testRefuse(w http.ResponseWriter, r *h1.Refusal) {
	status := r.Status
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, refuseBody(status))
}

// newServer is an h1.Server with the tests' timeouts and Refuse.
func newServer(h http.HandlerFunc) *h1.Server {
	return &h1.Server{
		Handler:       h,
		HeaderTimeout: headerTimeout,
		IdleTimeout:   idleTimeout,
		BodyTimeout:   bodyTimeout,
		SendTimeout:   sendTimeout,
		Refuse:        testRefuse,
	}
}

// testServer is a running h1.Server on a loopback listener.
type testServer struct {
	*h1.Server
	addr    string
	served  chan error // what Serve returned
	states  *stateLog
	stopped bool
}

// start serves s on 127.0.0.1:0 until the test ends, recording ConnState.
func start(t testing.TB, s *h1.Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), served: make(chan error, 1), states: &stateLog{}}
	prev := s.ConnState
	s.ConnState = func(c net.Conn, st http.ConnState) {
		ts.states.add(c.RemoteAddr().String(), st)
		if prev != nil {
			prev(c, st)
		}
	}
	go func() { ts.served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if ts.stopped {
			return
		}
		select {
		case err := <-ts.served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
			}
		case <-time.After(testDeadline):
			t.Errorf("Serve did not return after Close")
		}
	})
	return ts
}

// serveReturned waits for Serve's result (once per test).
func (ts *testServer) serveReturned(t testing.TB) error {
	t.Helper()
	select {
	case err := <-ts.served:
		ts.stopped = true
		return err
	case <-time.After(testDeadline):
		t.Fatal("Serve did not return")
		return nil
	}
}

// stateLog records the ConnState sequence of every connection, by the
// client's address.
type stateLog struct {
	mu     sync.Mutex
	states map[string][]http.ConnState
}

func (l *stateLog) add(remote string, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.states == nil {
		l.states = map[string][]http.ConnState{}
	}
	l.states[remote] = append(l.states[remote], st)
}

func (l *stateLog) of(remote string) []http.ConnState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.ConnState(nil), l.states[remote]...)
}

func (l *stateLog) snapshot() map[string][]http.ConnState {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string][]http.ConnState, len(l.states))
	for k, v := range l.states {
		m[k] = append([]http.ConnState(nil), v...)
	}
	return m
}

// waitLast waits until the connection's latest state is want (or the deadline
// passes) and returns its sequence.
func (l *stateLog) waitLast(t testing.TB, remote string, want http.ConnState) []http.ConnState {
	t.Helper()
	var seq []http.ConnState
	waitFor(t, fmt.Sprintf("connection %s in state %v", remote, want), func() bool {
		seq = l.of(remote)
		return len(seq) > 0 && seq[len(seq)-1] == want
	})
	return seq
}

// waitFor polls cond until it holds, failing the test after testDeadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a raw TCP connection to the server under test.
type client struct {
	t testing.TB
	net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testDeadline))
	return &client{t: t, Conn: nc, br: bufio.NewReader(nc)}
}

func (c *client) addr() string { return c.LocalAddr().String() }

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads a response to a request of method and its whole body.
func (c *client) response(method string) (*http.Response, string) {
	c.t.Helper()
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading the response body: %v", err)
	}
	return res, string(b)
}

// get sends a GET for path and reads its response.
func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	c.send("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n")
	return c.response("GET")
}

// rawHead reads a response head as it is on the wire, up to and including
// the empty line.
func (c *client) rawHead() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			c.t.Fatalf("reading a response head: %v (after %q)", err, b.String())
		}
		if line == "\r\n" {
			return b.String()
		}
	}
}

// headFields splits a raw head into its status line and field lines.
func headFields(head string) (status string, fields []string) {
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	return lines[0], lines[1:]
}

// expectClosed checks that the server closes the connection without
// sending anything more.
func (c *client) expectClosed() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("connection still open: read %q", string(b)+string(rest))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", testDeadline)
	}
}

// expectOpen checks that the connection carries another request.
func (c *client) expectOpen() {
	c.t.Helper()
	res, body := c.get("/still-open")
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("next request on the connection: %s %q", res.Status, body)
	}
}

// hello answers every request with its path.
func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }

// within checks that d is in [lo, hi].
func within(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s after %v, want between %v and %v", what, d, lo, hi)
	}
}
