package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"

	"github.com/portico-gw/portico/tmpl"
)

// addrKey identifies one listen address.
type addrKey struct{ network, addr string }

// socketTable holds the master's copy of every listening socket, per address
// and slot. It is owned by the master's lock.
type socketTable struct {
	fds   *tableflip.Fds
	socks map[addrKey][]*os.File // index = slot
}

func newSocketTable(fds *tableflip.Fds) *socketTable {
	return &socketTable{fds: fds, socks: map[addrKey][]*os.File{}}
}

func fdName(k addrKey, slot int) string {
	return fmt.Sprintf("listen %s %s %d", k.network, k.addr, slot)
}

// growth records what ensure added, so that a failed reload can undo it:
// a socket left listening that no worker serves would swallow connections.
type growth struct {
	addrs []addrKey       // addresses bound for the first time
	slots map[addrKey]int // existing addresses: their slot count before
}

// ensure makes sure every listener has at least `slots` sockets, adopting
// sockets inherited from a previous master first.
func (t *socketTable) ensure(listeners []tmpl.Listener, slots int) (g growth, err error) {
	g.slots = map[addrKey]int{}
	defer func() {
		if err != nil {
			t.undo(g)
		}
	}()
	for _, l := range listeners {
		k := addrKey{l.Network, l.Addr}
		if have, ok := t.socks[k]; ok {
			g.slots[k] = len(have)
			if err := t.grow(k, slots); err != nil {
				return g, err
			}
			continue
		}
		inherited, err := t.adopt(k)
		if err != nil {
			return g, err
		}
		if !inherited {
			// A plain bind first: it fails when anything else holds the port,
			// where a SO_REUSEPORT bind could silently join another
			// process's group.
			if err := probeFree(k); err != nil {
				return g, err
			}
		}
		g.addrs = append(g.addrs, k)
		if err := t.grow(k, slots); err != nil {
			return g, err
		}
	}
	return g, nil
}

// undo closes what ensure added.
func (t *socketTable) undo(g growth) {
	t.drop(g.addrs)
	for k, n := range g.slots {
		for _, f := range t.socks[k][n:] {
			unix.Shutdown(int(f.Fd()), unix.SHUT_RDWR)
			f.Close()
		}
		t.socks[k] = t.socks[k][:n]
	}
}

// adopt takes over the sockets a previous master passed for k.
func (t *socketTable) adopt(k addrKey) (bool, error) {
	var files []*os.File
	for slot := 0; ; slot++ {
		f, err := t.fds.File(fdName(k, slot))
		if err != nil {
			return false, fmt.Errorf("inherit %s slot %d: %w", k.addr, slot, err)
		}
		if f == nil {
			break
		}
		f, err = socketFile(f, fdName(k, slot))
		if err != nil {
			return false, fmt.Errorf("inherit %s slot %d: %w", k.addr, slot, err)
		}
		if !listening(f) {
			// A socket the previous master shut down (an address or slot
			// it undid) stays in tableflip's table; it ends the run.
			f.Close()
			break
		}
		// File also keeps tableflip's copy, so the next upgrade passes it on.
		files = append(files, f)
	}
	if len(files) == 0 {
		return false, nil
	}
	t.socks[k] = files
	return true, nil
}

func (t *socketTable) grow(k addrKey, slots int) error {
	for slot := len(t.socks[k]); slot < slots; slot++ {
		f, err := bindReusePort(k)
		if err != nil {
			return err
		}
		if err := t.fds.AddFile(fdName(k, slot), f); err != nil {
			f.Close()
			return fmt.Errorf("register %s slot %d for upgrades: %w", k.addr, slot, err)
		}
		t.socks[k] = append(t.socks[k], f)
	}
	return nil
}

// forWorker returns the sockets worker `slot` of `workers` serves for k.
// Socket s belongs to worker s mod N (surplus slots of an earlier, larger
// generation included) and is also served by the worker before it, so every
// socket has two acceptors when N > 1: a worker that crashed, is backing off
// in a crash loop, or exited with the fatal code never strands the
// connections the kernel keeps hashing onto its socket.
func (t *socketTable) forWorker(k addrKey, slot, workers int) []*os.File {
	var out []*os.File
	for s, f := range t.socks[k] {
		home := s % workers
		if home == slot || home == (slot+1)%workers {
			out = append(out, f)
		}
	}
	return out
}

// retain closes every address not in keep. shutdown(2) is used, not just
// close, because draining children and tableflip's table hold duplicates:
// the address must stop listening now, not when the last copy goes.
func (t *socketTable) retain(keep []tmpl.Listener) {
	want := map[addrKey]bool{}
	for _, l := range keep {
		want[addrKey{l.Network, l.Addr}] = true
	}
	var gone []addrKey
	for k := range t.socks {
		if !want[k] {
			gone = append(gone, k)
		}
	}
	t.drop(gone)
}

func (t *socketTable) drop(keys []addrKey) {
	for _, k := range keys {
		for _, f := range t.socks[k] {
			unix.Shutdown(int(f.Fd()), unix.SHUT_RDWR)
			f.Close()
		}
		delete(t.socks, k)
	}
}

func (t *socketTable) closeAll() {
	for k, files := range t.socks {
		for _, f := range files {
			f.Close()
		}
		delete(t.socks, k)
	}
}

func probeFree(k addrKey) error {
	ln, err := (&net.ListenConfig{Control: v6only(k.network)}).Listen(context.Background(), k.network, k.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", k.addr, friendlyBindErr(err))
	}
	return ln.Close()
}

func bindReusePort(k addrKey) (*os.File, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr == nil && k.network == "tcp6" {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
			}
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), k.network, k.addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", k.addr, friendlyBindErr(err))
	}
	defer ln.Close()
	f, err := socketFile(ln.(*net.TCPListener), fmt.Sprintf("listen %s", k.addr))
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", k.addr, err)
	}
	return f, nil
}

// socketFile duplicates a listening socket into an *os.File whose Fd()
// never switches the socket to blocking mode.
//
// Why: O_NONBLOCK belongs to the open file description, which the master
// shares with every worker. (*net.TCPListener).File and tableflip's files
// are marked so that Fd(), which os/exec calls on every ExtraFile, puts the
// description into blocking mode. A worker's accept(2) then blocks in the
// kernel, survives the worker closing its listener during a drain, and takes
// a connection the draining worker can only drop. os.NewFile on a
// descriptor that is already non-blocking leaves the mode alone.
func socketFile(sc syscall.Conn, name string) (*os.File, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var serr error
	err = rc.Control(func(fd uintptr) {
		nfd, serr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		if serr == nil {
			serr = unix.SetNonblock(nfd, true)
		}
	})
	if err = errors.Join(err, serr); err != nil {
		return nil, fmt.Errorf("dup socket: %w", err)
	}
	if c, ok := sc.(io.Closer); ok {
		if _, isListener := sc.(net.Listener); !isListener {
			c.Close()
		}
	}
	return os.NewFile(uintptr(nfd), name), nil
}

func v6only(network string) func(string, string, syscall.RawConn) error {
	if network != "tcp6" {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		})
		return errors.Join(err, serr)
	}
}

func friendlyBindErr(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("address already in use (another process holds the port)")
	}
	return err
}

func listening(f *os.File) bool {
	v, err := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v == 1
}
