package worker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connTracker drains a server without dropping requests.
//
// Why not http.Server.Shutdown alone: once Shutdown has begun, net/http
// drops any request it reads afterwards, including the first request of a
// connection accepted a moment before (conn.serve returns when
// shuttingDown() right after readRequest). A draining worker shares its
// sockets with the next generation, so connections keep arriving until the
// very moment it stops accepting; those would be answered with EOF.
// Instead the worker stops accepting itself and answers every further
// request with "Connection: close", so a keep-alive client learns of the
// drain from a response rather than from a connection closed under a
// request it is sending (the race nginx and net/http's own idle-closing
// leave open). A connection is closed by the worker only once it has been
// idle for idleGrace, or new without a request for newConnGrace.
type connTracker struct {
	mu       sync.Mutex
	conns    map[net.Conn]connInfo
	idle     chan struct{}  // signalled when a connection leaves new/active
	serving  sync.WaitGroup // Serve loops still running
	draining atomic.Bool
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

// newConnGrace is how long a connection may stay new (accepted, no request
// yet) before a drain stops waiting for it, as net/http does.
const newConnGrace = 5 * time.Second

// idleGrace is how long a draining worker leaves an idle keep-alive
// connection open for its next request (answered with Connection: close).
const idleGrace = time.Second

func newConnTracker() *connTracker {
	return &connTracker{conns: map[net.Conn]connInfo{}, idle: make(chan struct{}, 1)}
}

func (t *connTracker) hook(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	default:
		t.conns[c] = connInfo{state: s, since: time.Now()}
	}
	t.mu.Unlock()
	if s != http.StateNew && s != http.StateActive {
		select {
		case t.idle <- struct{}{}:
		default:
		}
	}
}

// serve runs srv.Serve(ln) and lets drain know when it has returned.
// server is what a connTracker drains: net/http's server (the Admin API)
// or h1's (the data plane).
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

func (t *connTracker) serve(srv server, ln net.Listener) error {
	t.serving.Add(1)
	defer t.serving.Done()
	return srv.Serve(ln)
}

// wrap marks responses of a draining server "Connection: close", which makes
// net/http close the connection after the response.
func (t *connTracker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// busy counts connections that have (or are about to have) a request in flight.
func (t *connTracker) busy() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	now := time.Now()
	for _, ci := range t.conns {
		if ci.state == http.StateActive || ci.state == http.StateNew && now.Sub(ci.since) < newConnGrace {
			n++
		}
	}
	return n
}

// closeIdle closes connections idle for longer than idleGrace and reports
// how many connections remain open.
func (t *connTracker) closeIdle() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for c, ci := range t.conns {
		if ci.state == http.StateIdle && now.Sub(ci.since) >= idleGrace ||
			ci.state == http.StateNew && now.Sub(ci.since) >= newConnGrace {
			c.Close()
			delete(t.conns, c)
		}
	}
	return len(t.conns)
}

// drain stops srv from accepting on lns, lets in-flight requests finish and
// closes the connections, all before ctx ends.
func (t *connTracker) drain(ctx context.Context, srv server, lns []net.Listener) error {
	t.draining.Store(true)
	for _, ln := range lns {
		ln.Close()
	}
	// A connection Serve accepted just before the close becomes visible to
	// busy() only once Serve registered it, which it does before returning.
	t.serving.Wait()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for t.closeIdle() > 0 {
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), srv.Close())
		case <-t.idle:
		case <-tick.C:
		}
	}
	return srv.Shutdown(ctx)
}
