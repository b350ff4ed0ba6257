package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Pool is an upstream's connection pool and timeout configuration.
type Pool struct {
	Scheme      string        // http or https
	Size        int           // idle keep-alive connections kept per node
	IdleTimeout time.Duration // an idle connection is closed after this
	Connect     time.Duration
	Send        time.Duration
	Read        time.Duration
	TLSVerify   bool
	SNI         string // "" = the node's host
}

// transports holds one http.Transport per Pool; the Transport keeps the
// idle connections per node (host:port) itself.
type transports struct {
	mu sync.Mutex
	m  map[Pool]*http.Transport
}

func (t *transports) get(p Pool) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.m[p]; ok {
		return tr
	}
	if t.m == nil {
		t.m = map[Pool]*http.Transport{}
	}
	dialer := &net.Dialer{Timeout: p.Connect, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // never an environment proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return &deadlineConn{Conn: c, read: p.Read, send: p.Send}, nil
		},
		MaxIdleConnsPerHost:    max(p.Size, 1),
		IdleConnTimeout:        p.IdleTimeout,
		DisableCompression:     true, // the client's Accept-Encoding goes through untouched
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      false,
	}
	if p.Scheme == "https" {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: !p.TLSVerify, ServerName: p.SNI}
		// TLS dials wrap DialContext's conn, so deadlines and dial errors
		// still come from it.
	}
	if p.Size <= 0 {
		tr.DisableKeepAlives = true
	}
	t.m[p] = tr
	return tr
}

// closeIdle drops idle connections of every pool (on shutdown).
func (t *transports) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.m {
		tr.CloseIdleConnections()
	}
}

// dialError marks a failure to connect: retryable, and a 502 (or 504 when
// it timed out).
type dialError struct{ error }

func (e *dialError) Unwrap() error { return e.error }

// deadlineConn applies nginx's proxy_read_timeout and proxy_send_timeout:
// each read and each write must make progress within its timeout.
type deadlineConn struct {
	net.Conn
	read, send time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.read > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.read))
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.send > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.send))
	}
	return c.Conn.Write(p)
}
