package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// watchSlice bounds a single wait on the upstream: when it ends before the
// read timeout, the client is checked and the wait resumes. A client that
// went away is so noticed within watchSlice, at no cost per request (a
// context.AfterFunc per request cost 3% of the CPU under load).
const watchSlice = time.Second

// conn is one upstream connection with nginx's per-operation timeouts:
// each read must make progress within read, each write within send.
type conn struct {
	nc      net.Conn
	addr    netip.Addr    // the address dialled
	br      *bufio.Reader // set while in use; pooled while idle
	reused  bool          // taken from the idle pool for this request
	expires time.Time     // while idle: when the reaper closes it

	client     context.Context // the request's: its end ends the waits
	read, send time.Duration
	// The deadlines set on nc (zero: none). Setting one costs three clock
	// reads and a timer update, so one still close enough to what a new
	// operation needs is kept: a slice that ends early only loops, and a
	// write deadline may fall short of the send timeout by sendSlack.
	rdAt, wrAt time.Time
	nread      atomic.Int64 // bytes read since the connection was taken

	// While a streamed request body is still being sent, reads wait
	// without a read deadline (nginx's read timeout starts once the request
	// is sent); the body sender arms it when done. Only used then.
	armMu   sync.Mutex
	waiting atomic.Bool
	armedAt time.Time // when armRead ran

	// aborted is set when the exchange gave up on the connection: every
	// operation fails.
	aborted atomic.Bool
}

// errAborted is what operations on an aborted connection return.
var errAborted = errors.New("upstream connection aborted")

// errClientGone ends a wait on the upstream whose client went away.
var errClientGone = errors.New("the client went away")

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// use prepares c for a request of client with the given timeouts.
func (c *conn) use(client context.Context, read, send time.Duration) {
	c.client, c.read, c.send = client, read, send
	c.nread.Store(0)
	if c.br == nil {
		c.br = readers.Get().(*bufio.Reader)
		c.br.Reset(c)
	}
}

// releaseReader returns the read buffer to the pool; c must have nothing
// buffered (a complete response was read).
func (c *conn) releaseReader() {
	if c.br != nil {
		c.br.Reset(nil)
		readers.Put(c.br)
		c.br = nil
	}
}

func (c *conn) close() {
	c.nc.Close()
	c.releaseReader()
}

// Read is the bufio.Reader's source: each read must make progress within
// the read timeout, in waits of at most watchSlice.
func (c *conn) Read(p []byte) (int, error) {
	var start time.Time
	if c.waiting.Load() {
		c.armMu.Lock()
		if c.waiting.Load() {
			if !c.rdAt.IsZero() {
				c.nc.SetReadDeadline(time.Time{})
				c.rdAt = time.Time{}
				c.reabort()
			}
			c.armMu.Unlock()
			n, err := c.checked(c.nc.Read(p))
			if err == nil || !isTimeout(err) || c.aborted.Load() {
				return n, err
			}
			// armRead's deadline ended the wait: go on as a read that
			// began when the request was sent.
			c.armMu.Lock()
			start = c.armedAt
			c.armMu.Unlock()
		} else {
			c.armMu.Unlock()
		}
	}
	now := time.Now()
	if start.IsZero() {
		start = now
	}
	for {
		if c.client != nil && c.client.Err() != nil {
			return 0, errClientGone
		}
		sliced := c.setReadDeadline(start, now)
		n, err := c.checked(c.nc.Read(p))
		if !sliced || err == nil || !isTimeout(err) {
			return n, err
		}
		now = time.Now()
	}
}

// checked counts what was read and reports an abort as such (it shows as
// a timeout otherwise).
func (c *conn) checked(n int, err error) (int, error) {
	if n > 0 {
		c.nread.Add(int64(n))
	}
	if err != nil && c.aborted.Load() {
		err = errAborted
	}
	return n, err
}

// setReadDeadline sets the deadline of a read begun at start: the read
// timeout, or (then it reports true) a watch slice when that ends first. A
// slice deadline still half a slice away is kept.
func (c *conn) setReadDeadline(start, now time.Time) (sliced bool) {
	switch {
	case c.read <= 0 && c.client == nil:
		if !c.rdAt.IsZero() {
			c.nc.SetReadDeadline(time.Time{})
			c.rdAt = time.Time{}
		}
	case c.read > 0 && start.Add(c.read).Sub(now) <= watchSlice:
		c.rdAt = start.Add(c.read)
		c.nc.SetReadDeadline(c.rdAt)
	default:
		if c.rdAt.IsZero() || c.rdAt.Sub(now) < watchSlice/2 {
			c.rdAt = now.Add(watchSlice)
			c.nc.SetReadDeadline(c.rdAt)
		}
		sliced = true
	}
	c.reabort()
	return sliced
}

// sendSlack is how much earlier than the send timeout a kept write
// deadline may expire: 1/64 of it, at most 250ms.
func sendSlack(send time.Duration) time.Duration { return min(send>>6, 250*time.Millisecond) }

// reabort follows every deadline change: an abort that came just before
// the change would be undone by it, so it is applied again. (abort stores
// the flag before setting its deadline: if the flag is not seen here, the
// abort's deadline comes after this change.)
func (c *conn) reabort() {
	if c.aborted.Load() {
		c.nc.SetDeadline(aLongTimeAgo)
	}
}

// waitForBody makes reads wait without a deadline until armRead.
func (c *conn) waitForBody() { c.waiting.Store(true) }

// armRead starts the read timeout, also for a read already waiting. The
// deadline is set before waiting is cleared: a reader that sees it cleared
// takes over the deadline bookkeeping without racing this one.
func (c *conn) armRead() {
	c.armMu.Lock()
	c.armedAt = time.Now()
	c.setReadDeadline(c.armedAt, c.armedAt)
	c.waiting.Store(false)
	c.armMu.Unlock()
}

// Write writes p within the send timeout.
func (c *conn) Write(p []byte) (int, error) {
	if c.send > 0 {
		now := time.Now()
		if left := c.wrAt.Sub(now); c.wrAt.IsZero() || left > c.send || left < c.send-sendSlack(c.send) {
			c.wrAt = now.Add(c.send)
			c.nc.SetWriteDeadline(c.wrAt)
		}
	} else if !c.wrAt.IsZero() {
		c.nc.SetWriteDeadline(time.Time{})
		c.wrAt = time.Time{}
	}
	c.reabort()
	n, err := c.nc.Write(p)
	if err != nil && c.aborted.Load() {
		err = errAborted
	}
	return n, err
}

// abort makes any pending or future operation on c fail at once; safe from
// any goroutine.
func (c *conn) abort() {
	c.aborted.Store(true)
	c.nc.SetDeadline(aLongTimeAgo)
}

var aLongTimeAgo = time.Unix(1, 0)
