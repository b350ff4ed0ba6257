package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is an upstream on a raw listener: serve runs once per accepted
// connection, with the connection's number (from 1).
type scripted struct {
	node  Node
	conns atomic.Int32
}

func scriptedUpstream(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{node: nodeOf(t, ln.Addr().String())}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	return s
}

// readRequest reads one request from br; it fails the test on error
// unless the peer closed the connection.
func readRequest(br *bufio.Reader) (*http.Request, []byte, bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, false
	}
	return req, body, true
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

// A kept-alive connection the upstream closed while it was idle is
// replaced transparently, for a POST too, and not counted as a failed try.
func TestStaleKeepAliveConnectionIsReplaced(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	up := scriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		_, body, ok := readRequest(br)
		if !ok {
			return
		}
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		// Keep-alive by HTTP/1.1 rules, then closed without notice.
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02d", n)
	})
	p := New(nil)
	defer p.Close()
	u := basicUpstream(up.node)
	var failed atomic.Int32
	u.Done = func(_ any, _ Node, _ time.Duration, _ int, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	url := gateway(t, p, u)
	for i := 1; i <= 3; i++ {
		if i > 1 {
			// The previous connection is pooled, and the upstream has
			// closed it (or will by the time the request arrives).
			waitFor(t, func() bool { return idleCount(p) == 1 })
		}
		resp, err := http.Post(url+"/", "text/plain", strings.NewReader(fmt.Sprint("req", i)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("%02d", i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(bodies, ",") != "req1,req2,req3" {
		t.Errorf("upstream received %q: each body once", bodies)
	}
	if failed.Load() != 0 {
		t.Errorf("%d tries reported failed", failed.Load())
	}
}

// idleCount is the number of idle connections over all pools.
func idleCount(p *Proxy) int {
	n := 0
	p.pools.Range(func(_, v any) bool {
		np := v.(*nodePool)
		np.mu.Lock()
		n += len(np.idle)
		np.mu.Unlock()
		return true
	})
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The body framings of RFC 9112: chunked (extensions and trailers), close-
// delimited, and none for HEAD, 204 and 304; connections are reused only
// when the framing allows it and the upstream did not ask to close.
func TestResponseFramingAndReuse(t *testing.T) {
	up := scriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			req, _, ok := readRequest(br)
			if !ok {
				return
			}
			switch req.URL.Path {
			case "/chunked":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
					"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
			case "/head":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
			case "/204":
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			case "/304":
				io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
			case "/conn-close":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbye!")
				return
			case "/eof":
				io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nuntil the end")
				return
			}
		}
	})
	p := New(nil)
	defer p.Close()
	url := gateway(t, p, basicUpstream(up.node))

	if resp, body := get(t, url+"/chunked"); resp.StatusCode != 200 || body != "hello, world" {
		t.Errorf("chunked: %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("HEAD", url+"/head", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 1000 {
		t.Errorf("HEAD: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	for _, path := range []string{"/204", "/304"} {
		if resp, body := get(t, url+path); resp.Status[:3] != path[1:] || body != "" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 5 requests, want 1 (kept alive)", n)
	}
	if resp, body := get(t, url+"/conn-close"); body != "bye!" {
		t.Errorf("Connection: close: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, url+"/eof"); body != "until the end" {
		t.Errorf("close-delimited: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, url+"/chunked"); body != "hello, world" {
		t.Errorf("after closes: %d %q", resp.StatusCode, body)
	}
	// conn-close and eof each ended their connection.
	if n := up.conns.Load(); n != 3 {
		t.Errorf("%d upstream connections, want 3", n)
	}
}

// Interim responses: 100 is dropped (the gateway does not send Expect
// upstream), 103 reaches the client with its own fields only.
func TestInterimResponses(t *testing.T) {
	sawExpect := make(chan string, 1)
	up := scriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		req, _, ok := readRequest(br)
		if !ok {
			return
		}
		sawExpect <- req.Header.Get("Expect")
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"+
			"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := New(nil)
	defer p.Close()
	url := gateway(t, p, basicUpstream(up.node))
	var interim []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		interim = append(interim, fmt.Sprint(code, " ", h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", url+"/", strings.NewReader("data"))
	req.Header.Set("Expect", "100-continue")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" || resp.Header.Get("Link") != "" {
		t.Errorf("final: %d %q, Link %q", resp.StatusCode, body, resp.Header.Get("Link"))
	}
	// The gateway's own 100 Continue, then the upstream's 103.
	if strings.Join(interim, "|") != "100 |103 </style.css>; rel=preload" {
		t.Errorf("interim responses %q", interim)
	}
	if e := <-sawExpect; e != "" {
		t.Errorf("upstream got Expect %q", e)
	}
}

// Hop-by-hop fields go neither way; the upstream's Date, Server and
// X-Accel-* stay behind (nginx's proxy_hide_header).
func TestHopByHopAndHiddenFields(t *testing.T) {
	got := make(chan http.Header, 1)
	up := scriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		req, _, ok := readRequest(br)
		if !ok {
			return
		}
		got <- req.Header
		io.WriteString(c, "HTTP/1.1 200 OK\r\nServer: upstream/1.0\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"+
			"Keep-Alive: timeout=5\r\nConnection: X-Private\r\nX-Private: secret\r\nX-Accel-Buffering: no\r\n"+
			"x-lower-case: kept\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n")
	})
	p := New(nil)
	defer p.Close()
	url := gateway(t, p, basicUpstream(up.node))
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Proxy-Authorization", "Basic x")
	req.Header.Set("X-End", "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	uh := <-got
	for _, k := range []string{"X-Hop", "Te", "Proxy-Authorization", "Connection"} {
		if v := uh.Get(k); v != "" {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if uh.Get("X-End") != "2" {
		t.Errorf("upstream lost X-End")
	}
	h := resp.Header
	for _, k := range []string{"Server", "Keep-Alive", "X-Private", "X-Accel-Buffering"} {
		if v := h.Get(k); v != "" {
			t.Errorf("client got %s: %q", k, v)
		}
	}
	if d := h.Get("Date"); d == "" || strings.Contains(d, "2001") {
		t.Errorf("Date %q: want the gateway's", d)
	}
	if h.Get("X-Lower-Case") != "kept" || strings.Join(h["Set-Cookie"], ",") != "a=1,b=2" {
		t.Errorf("end-to-end fields: %v", h)
	}
}

// What is not HTTP/1.x, or exceeds the limits, is a 502 and not retried.
func TestInvalidResponses(t *testing.T) {
	for name, answer := range map[string]string{
		"status line":      "HTTP/2.0 200 OK\r\n\r\n",
		"no status":        "HTTP/1.1 OK\r\n\r\n",
		"content length":   "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
		"two lengths":      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"folded header":    "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
		"name with space":  "HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n",
		"header too large": "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n",
		"closed":           "",
	} {
		t.Run(name, func(t *testing.T) {
			up := scriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
				if _, _, ok := readRequest(br); ok {
					io.WriteString(c, answer)
				}
			})
			p := New(nil)
			defer p.Close()
			resp, _ := get(t, gateway(t, p, basicUpstream(up.node, up.node)))
			if resp.StatusCode != 502 || resp.Header.Get("X-APISIX-Upstream-Status") != "502" {
				t.Errorf("%d, upstream status %q", resp.StatusCode, resp.Header.Get("X-APISIX-Upstream-Status"))
			}
			if n := up.conns.Load(); n != 1 {
				t.Errorf("%d connections: an invalid response is not retried", n)
			}
		})
	}
}

// A request body of unknown length goes upstream chunked.
func TestChunkedRequestBody(t *testing.T) {
	n := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%v %d %s", r.TransferEncoding, len(b), b[len(b)-3:])
	})
	p := New(nil)
	defer p.Close()
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 100; i++ {
			fmt.Fprintf(pw, "%05d", i)
		}
		pw.Close()
	}()
	resp, err := http.Post(gateway(t, p, basicUpstream(n))+"/", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "[chunked] 500 099" {
		t.Errorf("upstream saw %q", body)
	}
}

// A client that goes away ends the upstream request at once, not at the
// read timeout.
func TestClientGoneClosesUpstream(t *testing.T) {
	upstreamDone := make(chan struct{})
	n := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the gateway closed the connection
		close(upstreamDone)
	})
	p := New(nil)
	defer p.Close()
	up := basicUpstream(n)
	up.Pool.Read = time.Minute
	url := gateway(t, p, up)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request succeeded")
	}
	select {
	case <-upstreamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream connection still open 5s after the client left")
	}
}

// An upstream that answers before reading a large body is heard.
func TestEarlyResponseWhileBodyStreams(t *testing.T) {
	n := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "too big for me")
	})
	p := New(nil)
	defer p.Close()
	resp, body := rawPost(t, gateway(t, p, basicUpstream(n)), 4<<20)
	if resp.StatusCode != 413 || body != "too big for me" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

// rawPost sends a POST with a body of size bytes from its own goroutine on
// a connection of its own, and reads the response whenever it comes, even
// before the body is sent.
func rawPost(t *testing.T, url string, size int64) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		io.Copy(c, io.LimitReader(neverEnding('x'), size))
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// The send timeout bounds each write: an upstream that stops reading the
// body is a 504.
func TestSendTimeout504(t *testing.T) {
	stop := make(chan struct{})
	up := scriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		// Read the head, never the body; hold the connection open.
		http.ReadRequest(br)
		<-stop
	})
	t.Cleanup(func() { close(stop) }) // runs before the upstream's cleanup
	p := New(nil)
	defer p.Close()
	u := basicUpstream(up.node)
	u.Pool.Send = 200 * time.Millisecond
	begin := time.Now()
	resp, _ := rawPost(t, gateway(t, p, u), 64<<20)
	if resp.StatusCode != 504 {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// https upstreams: SNI as configured, verification on request.
func TestHTTPSUpstream(t *testing.T) {
	sni := make(chan string, 2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni <- r.TLS.ServerName
		io.WriteString(w, "secure")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	n := nodeOf(t, srv.Listener.Addr().String())
	p := New(nil)
	defer p.Close()
	up := basicUpstream(n)
	up.Pool.Scheme, up.Pool.SNI = "https", "api.internal"
	if resp, body := get(t, gateway(t, p, up)); resp.StatusCode != 200 || body != "secure" {
		t.Errorf("no verification: %d %q", resp.StatusCode, body)
	}
	if s := <-sni; s != "api.internal" {
		t.Errorf("SNI %q", s)
	}
	// The test server's certificate is self-signed: verification fails.
	verified := basicUpstream(n)
	verified.Pool.Scheme, verified.Pool.TLSVerify = "https", true
	if resp, _ := get(t, gateway(t, p, verified)); resp.StatusCode != 502 {
		t.Errorf("verification on: %d, want 502", resp.StatusCode)
	}
}

// Idle connections beyond the pool size are closed, and the rest after the
// idle timeout.
func TestPoolSizeAndIdleTimeout(t *testing.T) {
	var open atomic.Int32
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(3)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	p := New(nil)
	defer p.Close()
	up := basicUpstream(nodeOf(t, srv.Listener.Addr().String()))
	up.Pool.Size, up.Pool.IdleTimeout = 1, 300*time.Millisecond
	url := gateway(t, p, up)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
			}
		}()
	}
	arrived.Wait()
	if open.Load() != 3 {
		t.Fatalf("%d connections open, want 3", open.Load())
	}
	close(release)
	wg.Wait()
	waitFor(t, func() bool { return open.Load() == 1 }) // pool size 1
	waitFor(t, func() bool { return open.Load() == 0 }) // idle timeout
}
