package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Headers beyond large_client_header_buffers (default 4 x 8k) are refused
// before any routing.
func TestOversizedHeadersAreRefused(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.NodePort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 {
		t.Errorf("64 KiB header: status %d, want 431", resp.StatusCode)
	}
	// Within the limit still works.
	req, _ := http.NewRequest("GET", g.URL("/"), nil)
	req.Header.Set("X-Fine", strings.Repeat("a", 4<<10))
	ok, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ok.Body.Close()
	if ok.StatusCode != 404 {
		t.Errorf("4 KiB header: status %d", ok.StatusCode)
	}
}
