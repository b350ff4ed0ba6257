package worker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker drains an http.Server without dropping requests.
//
// Why not http.Server.Shutdown alone: once Shutdown has begun, net/http
// drops any request it reads afterwards, including the first request of a
// connection accepted a moment before (conn.serve returns when
// shuttingDown() right after readRequest). A draining worker shares its
// sockets with the next generation, so connections keep arriving until the
// very moment it stops accepting; those would be answered with EOF.
// Instead the worker stops accepting itself, turns keep-alive off so every
// connection closes after its current response, waits until no connection
// is new or active, and only then calls Shutdown to release idle ones.
type connTracker struct {
	mu      sync.Mutex
	conns   map[net.Conn]connInfo
	idle    chan struct{}  // signalled when a connection leaves new/active
	serving sync.WaitGroup // Serve loops still running
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

// newConnGrace is how long a connection may stay new (accepted, no request
// yet) before a drain stops waiting for it, as net/http does.
const newConnGrace = 5 * time.Second

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
func (t *connTracker) serve(srv *http.Server, ln net.Listener) error {
	t.serving.Add(1)
	defer t.serving.Done()
	return srv.Serve(ln)
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

// drain stops srv from accepting on lns, lets in-flight requests finish and
// closes the connections, all before ctx ends.
func (t *connTracker) drain(ctx context.Context, srv *http.Server, lns []net.Listener) error {
	srv.SetKeepAlivesEnabled(false) // also closes idle keep-alive connections
	for _, ln := range lns {
		ln.Close()
	}
	// A connection Serve accepted just before the close becomes visible to
	// busy() only once Serve registered it, which it does before returning.
	t.serving.Wait()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for t.busy() > 0 {
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), srv.Close())
		case <-t.idle:
		case <-tick.C:
		}
	}
	return srv.Shutdown(ctx)
}
