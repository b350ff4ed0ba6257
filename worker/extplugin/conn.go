package extplugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// conn is one unix-socket connection to the runner, used by one exchange
// at a time.
type conn struct {
	nc *net.UnixConn
	// gen is the runner generation read before the dial; pid is the peer
	// process (SO_PEERCRED), 0 when unknown. Together they name the runner
	// that answers on this connection; tokens carry the same pair.
	gen int64
	pid int32
	// reused: taken from the pool. answered: a byte of an answer arrived
	// during the current exchange. Both drive the one retry on a fresh
	// connection (see retryable).
	reused, answered bool
	// broken: a cancelled context may have moved the deadline under us, so
	// the connection must not be pooled even after a good answer.
	broken bool
	idle   time.Time
	hdr    [headerLen]byte
	buf    []byte
	// rd lets one read syscall take a whole answer (header and payload)
	// when it has arrived, instead of one read for each.
	rd *bufio.Reader
	// spin is the client's, shared by its connections; rc is nc's raw
	// descriptor for it (nil: never poll).
	spin *spinner
	rc   syscall.RawConn
}

func (c *Client) dial(ctx context.Context, gen int64) (*conn, error) {
	d := net.Dialer{Timeout: c.o.ConnectTimeout}
	nc, err := d.DialContext(ctx, "unix", c.o.Socket)
	if err != nil {
		return nil, fmt.Errorf("connect to runner: %w", err)
	}
	uc := nc.(*net.UnixConn)
	cn := &conn{nc: uc, gen: gen, spin: &c.spin}
	if cn.rc, err = uc.SyscallConn(); err == nil {
		cn.pid = peerPID(cn.rc)
	}
	return cn, nil
}

// peerPID is the process on the other end (SO_PEERCRED), 0 when unknown.
func peerPID(rc syscall.RawConn) int32 {
	var pid int32
	_ = rc.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = cred.Pid
		}
	})
	return pid
}

func (cn *conn) close() { cn.nc.Close() }

// send writes one frame with a single Write: the v0.5.0 runner reads a
// payload with one Read and drops the connection when it comes in pieces.
func (cn *conn) send(ctx context.Context, timeout time.Duration, frame []byte) error {
	if err := cn.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := cn.nc.Write(frame)
	return opError(ctx, err)
}

// readBufSize holds the usual answer (a few hundred bytes) whole; larger
// payloads are read straight into buf.
const readBufSize = 4096

// recv reads one frame within one timeout. The payload aliases the
// connection's buffer and is only valid until the next recv.
func (cn *conn) recv(ctx context.Context, timeout time.Duration) (byte, []byte, error) {
	start := time.Now()
	if err := cn.nc.SetReadDeadline(start.Add(timeout)); err != nil {
		return 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if cn.rd == nil {
		cn.rd = bufio.NewReaderSize(cn.nc, readBufSize)
	}
	if cn.rd.Buffered() == 0 {
		cn.spin.await(cn.rc)
	}
	n, err := io.ReadFull(cn.rd, cn.hdr[:])
	if n > 0 {
		cn.answered = true
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read frame header: %w", opError(ctx, err))
	}
	cn.spin.observe(time.Since(start))
	size := int(cn.hdr[1])<<16 | int(cn.hdr[2])<<8 | int(cn.hdr[3])
	if cap(cn.buf) < size {
		cn.buf = make([]byte, size)
	}
	p := cn.buf[:size]
	if _, err := io.ReadFull(cn.rd, p); err != nil {
		return 0, nil, fmt.Errorf("read %d-byte payload of type %d: %w", size, cn.hdr[0], opError(ctx, err))
	}
	return cn.hdr[0], p, nil
}

// opError reports a cancelled context rather than the deadline it forced.
func opError(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// retryable tells whether an exchange that failed with err on cn may be
// repeated on a fresh connection: only when cn came from the pool, no byte
// of an answer arrived, and the peer provably did not take the request.
// On a unix stream socket a write to a closed peer fails with EPIPE (or
// ECONNRESET), and a peer that closes with our bytes still unread makes our
// read fail with ECONNRESET; in both cases the runner never processed the
// frame. A plain EOF after a successful write means the runner read the
// request and then closed (a plugin panic, a crash mid-call): it may have
// run the plugins, so that is not repeated.
func retryable(cn *conn, err error) bool {
	return cn.reused && !cn.answered &&
		(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
}

// get returns an idle connection of generation gen, or dials one.
func (c *Client) get(ctx context.Context, gen int64) (*conn, error) {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	var drop []*conn
	var cn *conn
	for n := len(c.idle); n > 0 && cn == nil; n-- {
		last := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		if last.gen == gen && now.Sub(last.idle) < c.o.IdleTimeout {
			cn = last
		} else {
			drop = append(drop, last)
		}
	}
	c.mu.Unlock()
	for _, d := range drop {
		d.close()
	}
	if cn != nil {
		cn.reused, cn.answered = true, false
		return cn, nil
	}
	return c.dial(ctx, gen)
}

// put pools cn after a fully successful exchange.
func (c *Client) put(cn *conn) {
	if cn.broken {
		cn.close()
		return
	}
	if cap(cn.buf) > keepBufferCap {
		cn.buf = nil
	}
	now := time.Now()
	cn.idle = now
	c.mu.Lock()
	// The oldest idle connections are at the front.
	i := 0
	for i < len(c.idle) && now.Sub(c.idle[i].idle) >= c.o.IdleTimeout {
		i++
	}
	stale := append([]*conn(nil), c.idle[:i]...)
	c.idle = append(c.idle[:0], c.idle[i:]...)
	keep := !c.closed && cn.gen == c.gen && len(c.idle) < c.o.PoolSize
	if keep {
		c.idle = append(c.idle, cn)
	}
	c.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	if !keep {
		cn.close()
	}
}

// dropIdle closes every idle connection. Callers hold c.mu; the close
// itself is a cheap syscall on a unix socket.
func (c *Client) dropIdle() {
	for i, cn := range c.idle {
		cn.close()
		c.idle[i] = nil
	}
	c.idle = c.idle[:0]
}
