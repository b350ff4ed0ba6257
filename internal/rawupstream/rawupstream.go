// Package rawupstream is a test and benchmark helper: a minimal keep-alive
// HTTP/1.1 server on loopback that answers every request head with the same
// small response, so a benchmark measures the gateway rather than an
// upstream built on net/http. It reads no request bodies.
package rawupstream

import (
	"bufio"
	"net"
	"testing"
)

// Response is what every request gets.
const Response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nhello from upstream\n"

// Start serves until tb ends and returns the listening address.
func Start(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

func serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	resp := []byte(Response)
	for {
		for { // a request head ends with an empty line
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}
