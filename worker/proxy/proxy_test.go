package proxy

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a real HTTP server on 127.0.0.1.
func upstream(t *testing.T, h http.HandlerFunc) Node {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return nodeOf(t, srv.Listener.Addr().String())
}

func nodeOf(t testing.TB, addr string) Node {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return Node{Host: host, Port: p}
}

// deadNode is an address nobody listens on: connecting is refused.
func deadNode(t *testing.T) Node {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return nodeOf(t, addr)
}

// inOrder picks nodes in the given order, one per try.
func inOrder(nodes ...Node) func(any, int, []Node) (Node, error) {
	return func(_ any, try int, _ []Node) (Node, error) {
		if try >= len(nodes) {
			return Node{}, fmt.Errorf("no node left")
		}
		return nodes[try], nil
	}
}

func basicUpstream(nodes ...Node) *Upstream {
	return &Upstream{
		Pool:  Pool{Scheme: "http", Size: 8, IdleTimeout: time.Minute, Connect: time.Second, Send: 5 * time.Second, Read: 5 * time.Second},
		Tries: len(nodes),
		Pick:  inOrder(nodes...),
	}
}

// gateway serves p for up on a real listener and returns its URL.
func gateway(t *testing.T, p *Proxy, up *Upstream) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Serve(w, r, up, "http", "9080", nil)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestForwardedHeadersPathAndHost(t *testing.T) {
	got := make(chan *http.Request, 1)
	n := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(r.Context())
		w.Write([]byte("ok"))
	})
	p := New(nil)
	defer p.Close()
	url := gateway(t, p, basicUpstream(n))
	req, _ := http.NewRequest("GET", url+"/a%2Fb/../c?x=1&y=%20", nil)
	req.Host = "api.example.com:9080"
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	req.Header.Set("Forwarded", "for=1.2.3.4")
	req.Header.Set("X-Forwarded-Proto", "https") // spoofed: overwritten
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := <-got
	if r.RequestURI != "/a%2Fb/../c?x=1&y=%20" {
		t.Errorf("upstream request URI %q, want the client's exactly", r.RequestURI)
	}
	if r.Host != "api.example.com:9080" {
		t.Errorf("pass_host pass: Host %q", r.Host)
	}
	for k, want := range map[string]string{
		"X-Forwarded-For":   "10.9.9.9, 127.0.0.1",
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "api.example.com",
		"X-Forwarded-Port":  "9080",
		"Forwarded":         "",
	} {
		if v := r.Header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
}

func TestPassHost(t *testing.T) {
	hosts := make(chan string, 1)
	n := upstream(t, func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host })
	p := New(nil)
	defer p.Close()
	for _, tc := range []struct{ mode, upHost, want string }{
		{"pass", "", "client.test"},
		{"node", "", net.JoinHostPort(n.Host, strconv.Itoa(n.Port))},
		{"rewrite", "rewritten.test", "rewritten.test"},
	} {
		up := basicUpstream(n)
		up.PassHost, up.UpstreamHost = tc.mode, tc.upHost
		req, _ := http.NewRequest("GET", gateway(t, p, up)+"/", nil)
		req.Host = "client.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := <-hosts; h != tc.want {
			t.Errorf("pass_host %s: Host %q, want %q", tc.mode, h, tc.want)
		}
	}
	// node with the scheme's standard port drops the port.
	for _, tc := range []struct {
		scheme string
		port   int
	}{{"http", 80}, {"https", 443}} {
		up := &Upstream{PassHost: "node", Pool: Pool{Scheme: tc.scheme}}
		if h := hostFor(up, "x", p.pool(&up.Pool, Node{Host: "svc.local", Port: tc.port})); h != "svc.local" {
			t.Errorf("node on :%d = %q", tc.port, h)
		}
	}
}

func TestRetryOnConnectErrorThenSuccess(t *testing.T) {
	var hits atomic.Int32
	good := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	p := New(nil)
	defer p.Close()
	var done []bool
	up := basicUpstream(deadNode(t), good)
	up.Done = func(_ any, _ Node, _ time.Duration, _ int, err error) { done = append(done, err != nil) }
	resp, err := http.Post(gateway(t, p, up)+"/", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "payload" || hits.Load() != 1 {
		t.Fatalf("got %d %q after %d upstream hits", resp.StatusCode, body, hits.Load())
	}
	if len(done) != 2 || !done[0] || done[1] {
		t.Errorf("tries reported %v, want [failed ok]", done)
	}
}

func TestAllNodesRefused502(t *testing.T) {
	p := New(nil)
	defer p.Close()
	resp, err := http.Get(gateway(t, p, basicUpstream(deadNode(t), deadNode(t))) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(body), "<center><h1>502 Bad Gateway</h1></center>") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if s := resp.Header.Get("X-APISIX-Upstream-Status"); s != "502" {
		t.Errorf("X-APISIX-Upstream-Status %q", s)
	}
}

func TestReadTimeout504AndRetryTimeout(t *testing.T) {
	var hits atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	a, b := upstream(t, slow), upstream(t, slow)
	p := New(nil)
	defer p.Close()
	up := basicUpstream(a, b)
	up.Pool.Read = 200 * time.Millisecond
	begin := time.Now()
	resp, err := http.Get(gateway(t, p, up) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(begin)
	if resp.StatusCode != 504 || resp.Header.Get("X-APISIX-Upstream-Status") != "504" {
		t.Errorf("status %d, upstream status %q", resp.StatusCode, resp.Header.Get("X-APISIX-Upstream-Status"))
	}
	if hits.Load() != 2 || took < 400*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("%d tries in %s; want both nodes tried, 200ms each", hits.Load(), took)
	}

	// retry_timeout stops retrying once exceeded.
	hits.Store(0)
	up.RetryTimeout = 100 * time.Millisecond
	resp, err = http.Get(gateway(t, p, up) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Errorf("retry_timeout 100ms: %d tries, want 1", hits.Load())
	}
}

func TestUpstream5xxIsNotRetriedAndIsMarked(t *testing.T) {
	var hits atomic.Int32
	bad := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
		w.Write([]byte("busy"))
	})
	p := New(nil)
	defer p.Close()
	resp, err := http.Get(gateway(t, p, basicUpstream(bad, bad)) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || string(body) != "busy" || hits.Load() != 1 {
		t.Errorf("got %d %q, %d tries", resp.StatusCode, body, hits.Load())
	}
	if s := resp.Header.Get("X-APISIX-Upstream-Status"); s != "503" {
		t.Errorf("X-APISIX-Upstream-Status %q", s)
	}
}

func TestWebSocketEcho(t *testing.T) {
	ws := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.Write([]byte("plain"))
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo
	})
	p := New(nil)
	defer p.Close()
	for _, enabled := range []bool{true, false} {
		up := basicUpstream(ws)
		up.EnableWebsocket = enabled
		addr := strings.TrimPrefix(gateway(t, p, up), "http://")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !enabled {
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "plain" {
				t.Errorf("websocket disabled: %d %q", resp.StatusCode, body)
			}
			c.Close()
			continue
		}
		if resp.StatusCode != 101 {
			t.Fatalf("websocket enabled: status %d", resp.StatusCode)
		}
		fmt.Fprint(c, "ping-frame")
		buf := make([]byte, 10)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping-frame" {
			t.Errorf("echo %q, %v", buf, err)
		}
		c.Close()
	}
}

// A 100 MB body each way streams through with bounded memory.
func TestLargeBodiesStreamWithBoundedMemory(t *testing.T) {
	const size = 100 << 20
	sink := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.CopyN(w, rand.Reader, size)
	})
	p := New(nil)
	defer p.Close()
	url := gateway(t, p, basicUpstream(sink))

	var before, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		var max uint64
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				sampled <- max
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > max {
					max = m.HeapInuse
				}
			}
		}
	}()
	resp, err := http.Post(url+"/up", "application/octet-stream", io.LimitReader(rand.Reader, size))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != strconv.Itoa(size) {
		t.Fatalf("upstream received %s bytes", body)
	}
	resp, err = http.Get(url + "/down")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != size {
		t.Fatalf("client received %d bytes", n)
	}
	close(stop)
	peak.HeapInuse = <-sampled
	grew := int64(peak.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use: %d KiB before, peak %d KiB while 2 x 100 MiB streamed (+%d KiB)", before.HeapInuse>>10, peak.HeapInuse>>10, grew>>10)
	// Client, gateway and upstream share this process: a few buffers each.
	if grew > 8<<20 {
		t.Errorf("heap grew by %d MiB streaming 100 MiB bodies", grew>>20)
	}
}

// A response of unknown length (chunked, server-sent events) reaches the
// client as the upstream writes it, not when the buffer fills.
func TestStreamingResponseIsFlushed(t *testing.T) {
	next := make(chan struct{})
	n := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next: // the client saw the first event
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "data: two\n\n")
	})
	p := New(nil)
	defer p.Close()
	resp, err := http.Get(gateway(t, p, basicUpstream(n)) + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() { line, _ := br.ReadString('\n'); first <- line }()
	select {
	case line := <-first:
		if line != "data: one\n" {
			t.Fatalf("first event %q", line)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the first event was held back until the response ended")
	}
	close(next)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest %q", rest)
	}
}
