package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hostile and slow clients (RELIABILITY H1) meet nginx's timeouts, set
// short here: client_header_timeout answers 408, keepalive_timeout closes an
// idle connection, client_body_timeout ends a stalled upload with 408, and
// send_timeout drops a client that stops reading. Meanwhile a normal client
// is served as usual.
func TestSlowClientsMeetNginxTimeouts(t *testing.T) {
	const timeout = time.Second
	g := newGateway(t, 1)
	g.WriteRawConfig(strings.Replace(readConfig(t, g), "nginx_config:\n",
		"nginx_config:\n  http:\n    client_header_timeout: 1s\n    client_body_timeout: 1s\n    send_timeout: 1s\n    keepalive_timeout: 1s\n", 1))
	g.Start()
	big := strings.Repeat("x", 64<<20)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d", n)
	}))
	t.Cleanup(up.Close)
	putKey(t, g, "/apisix/routes/slow", fmt.Sprintf(`{"uri":"/*","upstream":{"nodes":{"%s":1}}}`, strings.TrimPrefix(up.URL, "http://")))
	eventually(t, 5*time.Second, func() error {
		if code, _ := get(t, g, "/ok", ""); code != 200 {
			return fmt.Errorf("route not served yet: %d", code)
		}
		return nil
	})
	addr := fmt.Sprintf("127.0.0.1:%d", g.NodePort)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// within checks that the gateway acted between the timeout and a
	// second after it, as RELIABILITY H1 asks.
	within := func(what string, took time.Duration) {
		t.Helper()
		if took < timeout-100*time.Millisecond || took > timeout+time.Second {
			t.Errorf("%s after %s, want %s .. %s", what, took, timeout, timeout+time.Second)
		}
	}

	// stalled sends a request that stops short and expects 408 in time.
	stalled := func(t *testing.T, what, partial string) {
		c := dial()
		io.WriteString(c, partial)
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a %s: %v", what, err)
		}
		resp.Body.Close()
		within(what+" answered", time.Since(start))
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%s: %d, want 408", what, resp.StatusCode)
		}
	}

	t.Run("half a head gets 408", func(t *testing.T) {
		stalled(t, "stalled head", "GET /ok HTTP/1.1\r\nHost: x\r\n")
		// As nginx, the refusal is in the access log, with no request line
		// and the time from the head's first byte.
		line := regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[[^\]]+\] - "-" 408 \d+ (\d+\.\d{3}) "-" "-" .*$`)
		eventually(t, 2*time.Second, func() error {
			data, _ := os.ReadFile(filepath.Join(g.Prefix, "logs", "access.log"))
			m := line.FindSubmatch(data)
			if m == nil {
				return fmt.Errorf("no access log line for the 408 in:\n%s", data)
			}
			if took, _ := strconv.ParseFloat(string(m[1]), 64); took < timeout.Seconds()-0.1 || took > timeout.Seconds()+1 {
				return fmt.Errorf("request_time %s in %q, want about %s", m[1], m[0], timeout)
			}
			return nil
		})
	})

	t.Run("idle keep-alive closes", func(t *testing.T) {
		c := dial()
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		start := time.Now()
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("idle connection: read %v, want EOF", err)
		}
		within("idle close", time.Since(start))
	})

	t.Run("stalled body gets 408", func(t *testing.T) {
		stalled(t, "stalled body", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	})

	t.Run("a client that stops reading is dropped", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		// Read nothing for three timeouts, then everything there is: the
		// gateway has given up long before the 64 MiB are through.
		pause := time.NewTimer(3 * timeout)
		ok := make(chan int, 1)
		go func() { code, _ := get(t, g, "/ok", ""); ok <- code }()
		if code := <-ok; code != 200 {
			t.Errorf("a normal client while another stalls: %d", code)
		}
		<-pause.C
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && n == int64(len(big)) {
			t.Errorf("the whole %d-byte body arrived: the stalled client was never dropped", n)
		}
	})
}
