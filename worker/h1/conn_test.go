package h1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/worker/h1"
)

// TestKeepAlive: when a connection carries the next request and when it
// closes after the response.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	t.Run("several requests on one connection", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(hello))
		c := dial(t, ts.addr)
		for i := range 5 {
			path := fmt.Sprintf("/%d", i)
			res, body := c.get(path)
			if res.StatusCode != 200 || body != path || res.Close {
				t.Fatalf("request %d: %s %q close=%v", i, res.Status, body, res.Close)
			}
		}
		if seq := ts.states.of(c.addr()); seq[0] != http.StateNew {
			t.Errorf("states %v", seq)
		}
	})

	cases := []struct {
		name      string
		req       string
		handler   http.HandlerFunc
		wantConn  string // the response's Connection field
		wantClose bool
	}{
		{"HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n", hello, "close", true},
		{"HTTP/1.0 with keep-alive stays open", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", hello, "keep-alive", false},
		{"HTTP/1.1 stays open", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", hello, "", false},
		{"client's Connection: close", "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", hello, "close", true},
		{"handler's Connection: close", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			hello(w, r)
		}, "close", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, newServer(tc.handler))
			c := dial(t, ts.addr)
			c.send(tc.req)
			res, body := c.response("GET")
			if res.StatusCode != 200 || body != "/" {
				t.Fatalf("got %s %q", res.Status, body)
			}
			// http.ReadResponse turns Connection: close into res.Close.
			if res.Close != tc.wantClose {
				t.Errorf("Close %v, want %v", res.Close, tc.wantClose)
			}
			if got := res.Header.Get("Connection"); !tc.wantClose && got != tc.wantConn {
				t.Errorf("Connection %q, want %q", got, tc.wantConn)
			}
			if tc.wantClose {
				c.expectClosed()
			} else {
				// The same kind of request again, on the same connection.
				c.send(tc.req)
				if res, body := c.response("GET"); res.StatusCode != 200 || body != "/" {
					t.Fatalf("second request: %s %q", res.Status, body)
				}
			}
		})
	}
}

// TestPipelining: requests written at once are answered in order.
func TestPipelining(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	}))
	c := dial(t, ts.addr)
	c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody" +
		"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"GET /d HTTP/1.1\r\nHost: t\r\n\r\n")
	for _, want := range []string{"/a ", "/b body", "/c abc", "/d "} {
		if res, body := c.response("GET"); res.StatusCode != 200 || body != want {
			t.Fatalf("got %s %q, want 200 %q", res.Status, body, want)
		}
	}
}

// TestRefusedRequests: requests the server refuses itself get their status
// through Refuse, and the connection closes.
func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	const maxHeader = 1024
	cases := []struct {
		name   string
		req    string
		status int
		// request is what Refusal.Request shows ("method path"); " " for
		// the stand-in of a head that did not parse; "" not checked.
		request string
	}{
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "GET /"},
		{"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""},
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, ""},
		{"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, ""},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, ""},
		{"bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: five\r\n\r\nhello", 400, ""},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, ""},
		{"invalid header name character", "GET / HTTP/1.1\r\nHost: a\r\nBad(Name): x\r\n\r\n", 400, ""},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ""},
		{"head over MaxHeaderBytes", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", 431, " "},
		{"head over MaxHeaderBytes in the first read", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 2<<10) + "\r\n\r\n", 431, ""},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, ""},
		{"HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, ""},
		{"garbage", "garbage\r\n\r\n", 400, " "},
		{"Expect other than 100-continue", "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello", 417, "POST /e"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var called atomic.Bool
			s := newServer(func(w http.ResponseWriter, r *http.Request) { called.Store(true) })
			s.MaxHeaderBytes = maxHeader
			refusals := make(chan string, 1)
			s.Refuse = func(w http.ResponseWriter, r *h1.Refusal) {
				if r.Start.IsZero() || r.Start.After(time.Now()) {
					t.Errorf("Refusal.Start %v", r.Start)
				}
				refusals <- r.Request.RemoteAddr + " " + r.Request.Method + " " + r.Request.URL.Path
				testRefuse(w, r)
			}
			ts := start(t, s)
			c := dial(t, ts.addr)
			c.send(tc.req)
			res, body := c.response("GET")
			var refusal string
			select {
			case refusal = <-refusals:
			case <-time.After(testDeadline):
				t.Fatalf("Refuse was not called (got %s)", res.Status)
			}
			if want := c.addr() + " " + tc.request; tc.request != "" && refusal != want || !strings.HasPrefix(refusal, c.addr()+" ") {
				t.Errorf("Refusal.Request %q, want %q", refusal, want)
			}
			if res.StatusCode != tc.status || body != refuseBody(tc.status) {
				t.Errorf("got %s %q, want %d %q", res.Status, body, tc.status, refuseBody(tc.status))
			}
			if !res.Close {
				t.Errorf("no Connection: close")
			}
			c.expectClosed()
			c.Close() // ends the server's lingering read at once
			if called.Load() {
				t.Errorf("the handler ran")
			}
			if seq := ts.states.waitLast(t, c.addr(), http.StateClosed); !slices.Equal(seq, []http.ConnState{http.StateNew, http.StateActive, http.StateClosed}) {
				t.Errorf("states %v", seq)
			}
		})
	}
}

// TestLengthAndChunkedAnywhere: Content-Length with Transfer-Encoding is
// refused even when the head is longer than the read buffer, or arrives in
// pieces, so the two fields are not in the first read.
func TestLengthAndChunkedAnywhere(t *testing.T) {
	t.Parallel()
	filler := "X-Filler: " + strings.Repeat("f", 6<<10) + "\r\n"
	cases := []struct {
		name  string
		parts []string
	}{
		{"head longer than the buffer", []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n" + filler + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}},
		{"fields after the buffer", []string{"POST / HTTP/1.1\r\nHost: a\r\n" + filler + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}},
		{"bare LF line ends", []string{"POST / HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: chunked\n\n5\r\nhello\r\n0\r\n\r\n"}},
		{"head in pieces", []string{"POST / HTTP/1.1\r\nHost: a\r\nCont", "ent-Length: 5\r\nTransfer-", "Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var called atomic.Bool
			s := newServer(func(w http.ResponseWriter, r *http.Request) { called.Store(true) })
			s.MaxHeaderBytes = 16 << 10
			ts := start(t, s)
			c := dial(t, ts.addr)
			for _, p := range tc.parts {
				c.send(p)
			}
			if res, body := c.response("POST"); res.StatusCode != 400 || body != refuseBody(400) || !res.Close {
				t.Errorf("got %s %q close=%v, want 400 and a close", res.Status, body, res.Close)
			}
			c.expectClosed()
			c.Close()
			if called.Load() {
				t.Errorf("the handler ran")
			}
		})
	}
}

// TestRefuseDefault: without Refuse, a refused request gets its status and
// no body.
func TestRefuseDefault(t *testing.T) {
	t.Parallel()
	s := newServer(hello)
	s.Refuse = nil
	ts := start(t, s)
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\n\r\n")
	if res, body := c.response("GET"); res.StatusCode != 400 || body != "" || !res.Close {
		t.Errorf("got %s %q close=%v", res.Status, body, res.Close)
	}
	c.expectClosed()
}

// TestClientSendsNothing: a client that closes without a request gets
// nothing, and the connection goes from New to Closed.
func TestClientSendsNothing(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(hello))
	c := dial(t, ts.addr)
	c.Conn.(*net.TCPConn).CloseWrite()
	c.expectClosed()
	if seq := ts.states.waitLast(t, c.addr(), http.StateClosed); !slices.Equal(seq, []http.ConnState{http.StateNew, http.StateClosed}) {
		t.Errorf("states %v", seq)
	}
}

// TestHeaderTimeout: a head that stops half-way gets 408 when
// HeaderTimeout has passed; a connection that sends nothing is closed
// silently then.
func TestHeaderTimeout(t *testing.T) {
	t.Parallel()
	t.Run("half a head", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(hello))
		t0 := time.Now()
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n")
		res, body := c.response("GET")
		within(t, "408", time.Since(t0), headerTimeout, headerTimeout+slack)
		if res.StatusCode != http.StatusRequestTimeout || body != refuseBody(408) || !res.Close {
			t.Errorf("got %s %q close=%v", res.Status, body, res.Close)
		}
		c.expectClosed()
	})
	t.Run("half a head, then the client closes", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(hello))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n")
		c.Conn.(*net.TCPConn).CloseWrite()
		c.expectClosed() // nothing to answer to a client that left
		if seq := ts.states.waitLast(t, c.addr(), http.StateClosed); !slices.Equal(seq, []http.ConnState{http.StateNew, http.StateActive, http.StateClosed}) {
			t.Errorf("states %v", seq)
		}
	})
	t.Run("nothing", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(hello))
		t0 := time.Now()
		c := dial(t, ts.addr)
		c.expectClosed()
		within(t, "closed", time.Since(t0), headerTimeout, headerTimeout+slack)
		if seq := ts.states.waitLast(t, c.addr(), http.StateClosed); !slices.Equal(seq, []http.ConnState{http.StateNew, http.StateClosed}) {
			t.Errorf("states %v", seq)
		}
	})
	t.Run("second request counts from its first byte", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(hello))
		c := dial(t, ts.addr)
		c.get("/")
		c.send("GET / HTTP/1.1\r\n")
		t0 := time.Now()
		res, _ := c.response("GET")
		within(t, "408", time.Since(t0), headerTimeout-50*time.Millisecond, headerTimeout+slack)
		if res.StatusCode != http.StatusRequestTimeout {
			t.Errorf("got %s", res.Status)
		}
		c.expectClosed()
	})
}

// TestIdleTimeout: a keep-alive connection with no next request is closed
// after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(hello))
	c := dial(t, ts.addr)
	c.get("/")
	t0 := time.Now()
	c.expectClosed()
	within(t, "closed", time.Since(t0), idleTimeout-50*time.Millisecond, idleTimeout+slack)
	seq := ts.states.waitLast(t, c.addr(), http.StateClosed)
	if want := []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed}; !slices.Equal(seq, want) {
		t.Errorf("states %v, want %v", seq, want)
	}
}

// TestBodyTimeout: a body that stops arriving fails the handler's read
// with h1.ErrBodyTimeout after BodyTimeout, and the connection closes.
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	type result struct {
		body    string
		err     error
		elapsed time.Duration
	}
	got := make(chan result, 1)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		b, err := io.ReadAll(r.Body)
		got <- result{string(b), err, time.Since(t0)}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "too slow")
	}))
	c := dial(t, ts.addr)
	c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
	r := <-got
	if r.body != "ab" || !errors.Is(r.err, h1.ErrBodyTimeout) {
		t.Errorf("ReadAll: %q, %v; want \"ab\", h1.ErrBodyTimeout", r.body, r.err)
	}
	if ne, ok := r.err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("ErrBodyTimeout is not a timeout net.Error: %#v", r.err)
	}
	within(t, "ErrBodyTimeout", r.elapsed, bodyTimeout*7/8, bodyTimeout+slack)
	res, body := c.response("POST")
	if res.StatusCode != 400 || body != "too slow" || !res.Close {
		t.Errorf("got %s %q close=%v", res.Status, body, res.Close)
	}
	c.expectClosed()
}

// TestSendTimeout: a response the client does not read fails the
// handler's Write once SendTimeout has passed without progress.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	type result struct {
		err     error
		elapsed time.Duration
	}
	got := make(chan result, 1)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		big := make([]byte, 64<<20)
		t0 := time.Now()
		_, err := w.Write(big)
		got <- result{err, time.Since(t0)}
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	// The client reads nothing.
	select {
	case r := <-got:
		if r.err == nil {
			t.Fatalf("Write of 64 MiB to a client that reads nothing succeeded")
		}
		if r.elapsed > sendTimeout+slack {
			t.Errorf("Write failed after %v, want at most %v", r.elapsed, sendTimeout+slack)
		}
	case <-time.After(testDeadline):
		t.Fatalf("Write still blocked after %v", testDeadline)
	}
	ts.states.waitLast(t, c.addr(), http.StateClosed)
}

// TestSendTimeoutBetweenWrites: as nginx's send_timeout, the timeout runs
// between writes, so one Write larger than a client reads in SendTimeout
// still completes while the client keeps reading.
func TestSendTimeoutBetweenWrites(t *testing.T) {
	t.Parallel()
	const size = 24 << 20
	werr := make(chan error, 1)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, err := w.Write(make([]byte, size))
		werr <- err
	}))
	c := dial(t, ts.addr)
	// A small receive buffer keeps the kernel from absorbing the response.
	if err := c.Conn.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(testDeadline))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// 256 KiB every 20 ms: about 2 s in all, far over SendTimeout, with
	// no pause near it.
	start := time.Now()
	buf := make([]byte, 256<<10)
	total := 0
	for total < size {
		time.Sleep(20 * time.Millisecond) // the client's pace, the point of the test
		n, err := io.ReadFull(res.Body, buf[:min(len(buf), size-total)])
		total += n
		if err != nil {
			t.Fatalf("after %d of %d bytes in %v: %v", total, size, time.Since(start), err)
		}
	}
	if took := time.Since(start); took < 2*sendTimeout {
		t.Fatalf("read in %v: too fast to show anything about a %v send timeout", took, sendTimeout)
	}
	if err := <-werr; err != nil {
		t.Errorf("handler's Write: %v", err)
	}
}

// TestExpectContinue: 100 Continue is sent when the handler reads the
// body, not before and not at all if it does not.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	echo := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Expect") != "" {
			t.Errorf("the handler sees Expect %q", r.Header.Get("Expect"))
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the body: %v", err)
		}
		fmt.Fprintf(w, "got %s", b)
	}
	t.Run("handler reads the body", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(echo))
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		if head := c.rawHead(); head != "HTTP/1.1 100 Continue\r\n\r\n" {
			t.Fatalf("got %q, want 100 Continue", head)
		}
		c.send("hello")
		if res, body := c.response("POST"); res.StatusCode != 200 || body != "got hello" || res.Close {
			t.Fatalf("got %s %q close=%v", res.Status, body, res.Close)
		}
		c.expectOpen()
	})
	t.Run("handler ignores the body", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "no thanks")
		}))
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		res, body := c.response("POST")
		if res.StatusCode != 200 || body != "no thanks" || !res.Close {
			t.Fatalf("got %s %q close=%v, want 200 \"no thanks\" and a close", res.Status, body, res.Close)
		}
		c.expectClosed()
	})
	t.Run("no body", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(echo))
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
		if res, body := c.response("POST"); res.StatusCode != 200 || body != "got " {
			t.Fatalf("got %s %q", res.Status, body)
		}
		c.expectOpen()
	})
	t.Run("HTTP/1.0 ignores it", func(t *testing.T) {
		// RFC 9110, 10.1.1: a server MUST ignore a 100-continue
		// expectation in an HTTP/1.0 request.
		t.Parallel()
		ts := start(t, newServer(echo))
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
		if res, body := c.response("POST"); res.StatusCode != 200 || body != "got hello" {
			t.Fatalf("got %s %q, want 200 \"got hello\"", res.Status, body)
		}
		c.expectClosed()
	})
}

// TestUnreadBody: a small body the handler left unread is discarded and
// the connection kept; a large one closes the connection.
func TestUnreadBody(t *testing.T) {
	t.Parallel()
	ignore := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ignored") }
	t.Run("small", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(ignore))
		c := dial(t, ts.addr)
		body := strings.Repeat("s", 100<<10)
		c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
		if res, b := c.response("POST"); res.StatusCode != 200 || b != "ignored" || res.Close {
			t.Fatalf("got %s %q close=%v", res.Status, b, res.Close)
		}
		c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		if res, b := c.response("GET"); res.StatusCode != 200 || b != "ignored" {
			t.Fatalf("next request: %s %q", res.Status, b)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(ignore))
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
		t0 := time.Now()
		// The rest of the body never comes: discarding it gives up after
		// BodyTimeout, and the connection cannot carry another request.
		if res, b := c.response("POST"); res.StatusCode != 200 || b != "ignored" || !res.Close {
			t.Fatalf("got %s %q close=%v, want a close", res.Status, b, res.Close)
		}
		within(t, "response", time.Since(t0), bodyTimeout*7/8, bodyTimeout+slack)
		c.expectClosed()
	})
	t.Run("large", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(ignore))
		c := dial(t, ts.addr)
		body := strings.Repeat("L", 1<<20)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			// Fails once the server has closed: what it did not read is
			// not for it.
			io.WriteString(c.Conn, fmt.Sprintf("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
		}()
		if res, b := c.response("POST"); res.StatusCode != 200 || b != "ignored" || !res.Close {
			t.Fatalf("got %s %q close=%v, want a close", res.Status, b, res.Close)
		}
		c.expectClosed()
		<-sent
	})
}

// TestClientGone: a request in flight for a while has its context
// cancelled when the client goes away; a fast one does not.
func TestClientGone(t *testing.T) {
	t.Parallel()
	t.Run("slow request", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		cancelled := make(chan time.Time, 1)
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-r.Context().Done():
				cancelled <- time.Now()
			case <-time.After(testDeadline):
			}
		}))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		<-started
		c.Close()
		t0 := time.Now()
		select {
		case at := <-cancelled:
			within(t, "context cancelled", at.Sub(t0), 0, 2*time.Second)
		case <-time.After(testDeadline):
			t.Fatal("the request's context was not cancelled")
		}
		ts.states.waitLast(t, c.addr(), http.StateClosed)
	})
	t.Run("fast request", func(t *testing.T) {
		t.Parallel()
		halfClosed := make(chan struct{})
		ctxErr := make(chan error, 1)
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			<-halfClosed
			ctxErr <- r.Context().Err()
			io.WriteString(w, "still here")
		}))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		c.Conn.(*net.TCPConn).CloseWrite()
		close(halfClosed)
		if err := <-ctxErr; err != nil {
			t.Errorf("context of a fast request: %v", err)
		}
		if res, body := c.response("GET"); res.StatusCode != 200 || body != "still here" {
			t.Errorf("got %s %q", res.Status, body)
		}
		c.expectClosed()
	})
}

// TestBackgroundReadKeepsBytes: the bytes of a next request that arrive
// while a slow request is watched for the client going away are not lost:
// the next request is served, and a handler that hijacks gets them.
func TestBackgroundReadKeepsBytes(t *testing.T) {
	t.Parallel()
	// Long enough for the watch (slowRequest, 250 ms) to be reading the
	// connection when the next bytes arrive. Nothing to poll for: the
	// watch is invisible from outside.
	const watched = 450 * time.Millisecond
	t.Run("pipelined request", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-release
			}
			hello(w, r)
		}))
		c := dial(t, ts.addr)
		c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
		time.Sleep(watched)
		c.send("GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
		close(release)
		for _, want := range []string{"/slow", "/next"} {
			if res, body := c.response("GET"); res.StatusCode != 200 || body != want {
				t.Fatalf("got %s %q, want 200 %q", res.Status, body, want)
			}
		}
		c.expectOpen()
	})
	t.Run("hijack", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			<-release
			nc, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer nc.Close()
			line, _ := rw.ReadString('\n')
			io.WriteString(nc, "echo "+line)
		}))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		time.Sleep(watched)
		c.send("early\n")
		close(release)
		if line, err := c.br.ReadString('\n'); line != "echo early\n" {
			t.Fatalf("got %q, %v; want \"echo early\\n\"", line, err)
		}
	})
}

// TestSlowRequestsUnreadBodies: requests that outlast slowRequest with a
// body nobody reads (the watch timer keeps waiting for the body meanwhile),
// then the next request on each connection. Several connections at once,
// so that -race sees the timer and the next request's setup side by side.
func TestSlowRequestsUnreadBodies(t *testing.T) {
	t.Parallel()
	// The behaviour under test is a handler that runs past slowRequest
	// (250 ms): it has to take that long.
	const handlerTime = 300 * time.Millisecond
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(handlerTime)
		io.WriteString(w, r.URL.Path)
	}))
	conns := make([]*client, 20)
	for i := range conns {
		conns[i] = dial(t, ts.addr)
	}
	for _, path := range []string{"/first", "/second"} {
		for _, c := range conns {
			c.send("POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
		}
		for _, c := range conns {
			if res, body := c.response("POST"); res.StatusCode != 200 || body != path || res.Close {
				t.Fatalf("got %s %q close=%v, want 200 %q", res.Status, body, res.Close, path)
			}
		}
	}
}

// TestHijack: the handler takes the connection over, with the bytes the
// client sent after the head, and talks to the client directly.
func TestHijack(t *testing.T) {
	t.Parallel()
	buffered := make(chan int, 1)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer nc.Close()
		buffered <- rw.Reader.Buffered()
		if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
			t.Errorf("Write after Hijack: %v, want http.ErrHijacked", err)
		}
		if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrHijacked) {
			t.Errorf("second Hijack: %v, want http.ErrHijacked", err)
		}
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		for range 2 {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString("echo " + line)
			rw.Flush()
		}
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst\n")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("got %v, %v; want 101", res, err)
	}
	if n := <-buffered; n != len("first\n") {
		t.Errorf("the hijacked reader holds %d bytes, want the %d pipelined after the head", n, len("first\n"))
	}
	if line, err := c.br.ReadString('\n'); line != "echo first\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	c.send("second\n")
	if line, err := c.br.ReadString('\n'); line != "echo second\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	c.expectClosed()
	seq := ts.states.waitLast(t, c.addr(), http.StateHijacked)
	if want := []http.ConnState{http.StateNew, http.StateActive, http.StateHijacked}; !slices.Equal(seq, want) {
		t.Errorf("states %v, want %v", seq, want)
	}
}

// TestHijackAfterWriteHeader: a 101 written through the ResponseWriter is
// sent when the handler hijacks, and the connection is then the handler's.
func TestHijackAfterWriteHeader(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer nc.Close()
		line, _ := rw.ReadString('\n')
		io.WriteString(nc, "echo "+line)
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	status, fields := headFields(c.rawHead())
	if status != "HTTP/1.1 101 Switching Protocols" || !slices.Contains(fields, "Upgrade: echo") || !slices.Contains(fields, "Connection: Upgrade") {
		t.Fatalf("got %q %q", status, fields)
	}
	for _, f := range fields {
		if strings.HasPrefix(f, "Content-Length:") || strings.HasPrefix(f, "Transfer-Encoding:") {
			t.Errorf("101 with %q", f)
		}
	}
	c.send("ping\n")
	if line, err := c.br.ReadString('\n'); line != "echo ping\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	c.expectClosed()
}

// TestHijackedConnHasNoDeadline: once hijacked, the connection is the
// handler's: writes on it are not bound by SendTimeout, whichever way they
// go (httputil.ReverseProxy writes the 101 through the bufio.Writer, then
// copies to the net.Conn).
func TestHijackedConnHasNoDeadline(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer nc.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if err := rw.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		line, err := rw.ReadString('\n')
		if err != nil {
			t.Errorf("read: %v", err)
			return
		}
		if _, err := io.WriteString(nc, "echo "+line); err != nil {
			t.Errorf("write to the hijacked connection: %v", err)
		}
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	if res, err := http.ReadResponse(c.br, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("got %v, %v; want 101", res, err)
	}
	// Nothing to poll for: the point is that time passes beyond
	// SendTimeout before the handler writes again.
	time.Sleep(2 * sendTimeout)
	c.send("ping\n")
	if line, err := c.br.ReadString('\n'); line != "echo ping\n" {
		t.Fatalf("got %q, %v; want \"echo ping\\n\"", line, err)
	}
}

// TestPanic: a panicking handler closes its connection only, and OnPanic
// learns of it (not of http.ErrAbortHandler).
func TestPanic(t *testing.T) {
	t.Parallel()
	for _, v := range []any{"boom", http.ErrAbortHandler} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			t.Parallel()
			panics := make(chan any, 1)
			s := newServer(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/panic" {
					io.WriteString(w, "partial")
					panic(v)
				}
				hello(w, r)
			})
			s.OnPanic = func(recovered any, stack []byte) {
				if !strings.Contains(string(stack), "TestPanic") {
					t.Errorf("stack without the handler:\n%s", stack)
				}
				panics <- recovered
			}
			ts := start(t, s)
			other := dial(t, ts.addr)
			other.get("/")
			c := dial(t, ts.addr)
			c.send("GET /panic HTTP/1.1\r\nHost: t\r\n\r\n")
			c.expectClosed()
			ts.states.waitLast(t, c.addr(), http.StateClosed)
			// The server, and the other connection, go on.
			other.expectOpen()
			dial(t, ts.addr).expectOpen()
			if v == http.ErrAbortHandler {
				select {
				case got := <-panics:
					t.Errorf("OnPanic(%v) for http.ErrAbortHandler", got)
				default:
				}
			} else if got := <-panics; got != v {
				t.Errorf("OnPanic(%v), want %v", got, v)
			}
		})
	}
}

// TestRequestFields: what the handler sees of the request.
func TestRequestFields(t *testing.T) {
	t.Parallel()
	type seen struct {
		remote, host, body string
		ctx                context.Context
	}
	got := make(chan seen, 1)
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.RemoteAddr, r.Host, string(b), r.Context()}
	}))
	c := dial(t, ts.addr)
	c.send("POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc")
	c.response("POST")
	s := <-got
	if s.remote != c.addr() || s.host != "example.com" || s.body != "abc" || s.ctx == nil {
		t.Errorf("handler saw %+v", s)
	}
}

// A goroutine the handler leaves reading the body (the proxy's sender when
// the upstream answered early) cannot take the next request's bytes: once
// the handler returned, its reads fail and the server drains what is left.
func TestBodyReaderLeftBehind(t *testing.T) {
	stale := make(chan io.Reader, 1)
	var staleErr atomic.Value
	s := newServer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			io.ReadFull(r.Body, make([]byte, 5))
			stale <- r.Body
			io.WriteString(w, "early")
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	ts := start(t, s)
	c := dial(t, ts.addr)
	// The first body arrives in two parts; the handler answers before the
	// second, and hands the body to a goroutine that reads on after it.
	c.send("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
	go func() {
		b := <-stale
		buf := make([]byte, 64)
		for {
			if _, err := b.Read(buf); err != nil {
				staleErr.Store(err)
				return
			}
		}
	}()
	c.send("56789")
	if res, body := c.response("POST"); res.StatusCode != 200 || body != "early" {
		t.Fatalf("first answer: %d %q", res.StatusCode, body)
	}
	c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if res, body := c.response("POST"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("second request's body: %d %q, want hello", res.StatusCode, body)
	}
	waitFor(t, "the stale reader to stop", func() bool { return staleErr.Load() != nil })
	if err := staleErr.Load().(error); err != http.ErrBodyReadAfterClose && err != io.EOF {
		t.Errorf("stale read ended with %v", err)
	}
}
