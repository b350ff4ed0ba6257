package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
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

// poolKey names the connections that may serve each other's requests:
// APISIX's scheme#host#port, plus SNI and verification for https. Sizes and
// timeouts are not part of it: they apply per request, so two routes to the
// same node share its connections as they do in APISIX.
type poolKey struct {
	scheme string
	node   Node
	sni    string
	verify bool
}

// nodePool holds the idle keep-alive connections to one node.
type nodePool struct {
	key      poolKey
	hostport string // host:port as configured (the Host of pass_host node)
	port     uint16
	resolver Resolver    // nil: dial the host name as it is
	byName   bool        // the host is a name the resolver follows
	tls      *tls.Config // nil for http

	mu     sync.Mutex
	idle   []*conn // most recently used last: reuse takes from the end
	reaper *time.Timer
	armed  bool
	closed bool
}

// pool returns the idle-connection pool for node under p's settings.
func (px *Proxy) pool(p *Pool, n Node) *nodePool {
	key := poolKey{scheme: p.Scheme, node: n}
	if p.Scheme == "https" {
		key.sni, key.verify = p.SNI, p.TLSVerify
	}
	if np, ok := px.pools.Load(key); ok {
		return np.(*nodePool)
	}
	np := &nodePool{key: key, hostport: net.JoinHostPort(n.Host, strconv.Itoa(n.Port)), port: uint16(n.Port), resolver: px.resolver}
	if _, err := netip.ParseAddr(strings.Trim(n.Host, "[]")); err != nil && px.resolver != nil {
		np.byName = true
	}
	if key.scheme == "https" {
		name := key.sni
		if name == "" {
			name = n.Host
		}
		np.tls = &tls.Config{
			ServerName:         name,
			InsecureSkipVerify: !key.verify,
			// nginx's proxy_ssl_session_reuse: resume instead of a full
			// handshake when a pooled connection is gone.
			ClientSessionCache: tls.NewLRUClientSessionCache(16),
		}
	}
	actual, _ := px.pools.LoadOrStore(key, np)
	return actual.(*nodePool)
}

// get returns an idle connection, or nil when there is none. For a node
// given by name, a connection to an address the name no longer has is
// closed instead: a changed record moves traffic even under keep-alive.
func (np *nodePool) get() *conn {
	for {
		c := np.pop()
		if c == nil || !np.byName || np.current(c) {
			return c
		}
		c.close()
	}
}

func (np *nodePool) pop() *conn {
	np.mu.Lock()
	defer np.mu.Unlock()
	if n := len(np.idle); n > 0 {
		c := np.idle[n-1]
		np.idle[n-1] = nil
		np.idle = np.idle[:n-1]
		return c
	}
	return nil
}

// current asks whether c's address is still the node's. It waits only
// when the name has no usable answer at all, and then no longer than the
// resolver's own timeout; a cached or stale answer costs no allocation.
func (np *nodePool) current(c *conn) bool {
	return np.resolver.Current(context.Background(), np.key.node.Host, c.addr)
}

// put keeps c for reuse, evicting the least recently used connection when
// size are already idle (nginx's keepalive cache), or closes it when
// keep-alive is off.
func (np *nodePool) put(c *conn, size int, idleTimeout time.Duration) {
	if size <= 0 {
		c.close()
		return
	}
	c.releaseReader()
	c.client = nil // an idle connection keeps no request alive
	c.expires = time.Now().Add(idleTimeout)
	np.mu.Lock()
	if np.closed {
		np.mu.Unlock()
		c.close()
		return
	}
	var evicted *conn
	if len(np.idle) >= size {
		evicted = np.idle[0]
		copy(np.idle, np.idle[1:])
		np.idle[len(np.idle)-1] = nil
		np.idle = np.idle[:len(np.idle)-1]
	}
	np.idle = append(np.idle, c)
	if !np.armed && idleTimeout > 0 {
		np.armed = true
		if np.reaper == nil {
			np.reaper = time.AfterFunc(idleTimeout, np.reap)
		} else {
			np.reaper.Reset(idleTimeout)
		}
	}
	np.mu.Unlock()
	if evicted != nil {
		evicted.close()
	}
}

// reap closes the connections idle for longer than their idle timeout and
// re-arms for the next one to expire. A timer, not a goroutine per pool:
// pools of nodes no longer used cost nothing once empty.
func (np *nodePool) reap() {
	now := time.Now()
	var expired []*conn
	np.mu.Lock()
	kept := np.idle[:0]
	var next time.Time
	for _, c := range np.idle {
		if !c.expires.After(now) {
			expired = append(expired, c)
			continue
		}
		if next.IsZero() || c.expires.Before(next) {
			next = c.expires
		}
		kept = append(kept, c)
	}
	clear(np.idle[len(kept):])
	np.idle = kept
	np.armed = !next.IsZero()
	if np.armed {
		np.reaper.Reset(next.Sub(now))
	}
	np.mu.Unlock()
	for _, c := range expired {
		c.close()
	}
}

// closeIdle closes every idle connection; later puts close theirs.
func (np *nodePool) closeIdle() {
	np.mu.Lock()
	idle := np.idle
	np.idle, np.closed = nil, true
	if np.reaper != nil {
		np.reaper.Stop()
	}
	np.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// dial opens a new connection to the node, TLS included for https: the one
// place a node's address is dialled, bounded by the connect timeout as
// nginx bounds connect and TLS handshake by proxy_connect_timeout.
func (np *nodePool) dial(timeout time.Duration) (*conn, error) {
	addr, err := np.address(timeout)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, &dialError{err}
	}
	var dialled netip.Addr
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		dialled = ap.Addr()
	}
	if np.tls != nil {
		tc := tls.Client(nc, np.tls)
		if timeout > 0 {
			tc.SetDeadline(time.Now().Add(timeout))
		}
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, &dialError{fmt.Errorf("tls handshake with %s: %w", addr, err)}
		}
		tc.SetDeadline(time.Time{})
		nc = tc
	}
	return &conn{nc: nc, addr: dialled}, nil
}

// address resolves the node (re-resolved as its records expire, by the
// resolver) and returns what to dial. A stale answer is still dialled: an
// address that worked beats none while the nameserver is away.
func (np *nodePool) address(timeout time.Duration) (string, error) {
	host := np.key.node.Host
	if np.resolver == nil {
		return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(int(np.port))), nil
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ip, err := np.resolver.Resolve(ctx, host)
	if !ip.IsValid() {
		return "", &dialError{&resolveError{host: host, err: err}}
	}
	return netip.AddrPortFrom(ip, np.port).String(), nil
}

// resolveError is a node whose name did not resolve.
type resolveError struct {
	host string
	err  error
}

func (e *resolveError) Error() string { return fmt.Sprintf("resolve %s: %v", e.host, e.err) }
func (e *resolveError) Unwrap() error { return e.err }

// dialError marks a failure to connect: retryable, and a 502 (or 504 when
// it timed out).
type dialError struct{ error }

func (e *dialError) Unwrap() error { return e.error }
