package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on the listeners given to Serve.
type Server struct {
	Handler        http.Handler
	IdleTimeout    time.Duration // between requests on a keep-alive connection
	HeaderTimeout  time.Duration // for the request head, from its first byte
	BodyTimeout    time.Duration // between two reads of the request body
	SendTimeout    time.Duration // between two writes of the response
	MaxHeaderBytes int           // request line and header fields together
	// Refuse, if set, writes the answer to a request the server refuses
	// itself (400, 408, 417, 431, 505); the connection closes after it.
	Refuse func(w http.ResponseWriter, r *Refusal)
	// OnPanic, if set, learns of a handler's panic (the connection closes).
	OnPanic func(recovered any, stack []byte)
	// ConnState, if set, is called as connections change state.
	ConnState func(net.Conn, http.ConnState)

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	shutdown atomic.Bool
}

// A Refusal is a request the server answers itself, before any handler.
type Refusal struct {
	Status int
	// Request is the parsed head when there is one (a 417, a missing
	// Host), otherwise a stand-in with only RemoteAddr, an empty Method
	// and an empty URL. Either is only valid during Refuse.
	Request *http.Request
	// Start is when the head's first byte arrived.
	Start time.Time
}

// Defaults where a field is zero.
const (
	defaultIdleTimeout    = 60 * time.Second
	defaultHeaderTimeout  = 60 * time.Second
	defaultBodyTimeout    = 60 * time.Second
	defaultSendTimeout    = 60 * time.Second
	defaultMaxHeaderBytes = 32 << 10
)

func orDefault[T int | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

// Serve accepts connections on ln until Shutdown or Close, and then returns
// http.ErrServerClosed. A listener given after Shutdown or Close is closed
// at once, as net/http does: nothing else would close it.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln) {
		ln.Close()
		return http.ErrServerClosed
	}
	defer s.untrack(ln)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors, or an aborted handshake: wait and
				// go on, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			return http.ErrServerClosed
		}
		s.setState(c, http.StateNew)
		go c.serve()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	if s.lns == nil {
		s.lns = map[net.Listener]struct{}{}
	}
	s.lns[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.lns, ln)
	s.mu.Unlock()
}

func (s *Server) newConn(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return nil
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	c := &conn{srv: s, nc: nc, accepted: time.Now()}
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) setState(c *conn, st http.ConnState) {
	c.state.Store(int32(st))
	if st == http.StateClosed || st == http.StateHijacked {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
	if s.ConnState != nil {
		s.ConnState(c.nc, st)
	}
}

// Shutdown stops accepting, closes idle connections, lets the others finish
// their request (after which they close) and returns when none is left or
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
		delete(s.conns, c)
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for ln := range s.lns {
		ln.Close()
	}
}

// newConnGrace is how long a connection may stay without a request before
// Shutdown closes it, as net/http does.
const newConnGrace = 5 * time.Second

// closeIdle closes idle connections and those that sent nothing for
// newConnGrace, and reports whether no connection is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		st := http.ConnState(c.state.Load())
		if st == http.StateIdle || st == http.StateNew && time.Since(c.accepted) >= newConnGrace {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}
