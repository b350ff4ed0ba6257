package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// scmMaxFD is the kernel's limit on descriptors in one SCM_RIGHTS message.
// The control buffer is sized for it so that an oversized message is seen
// (and its descriptors closed) rather than silently truncated.
const scmMaxFD = 253

// Conn is one end of a master<->child channel. It is safe for one
// concurrent reader and many concurrent writers (writes are serialized).
type Conn struct {
	uc *net.UnixConn
	rc syscall.RawConn

	wmu sync.Mutex

	rmu  sync.Mutex
	rbuf []byte // header + MaxPayload, allocated on first Receive
	oob  []byte
}

// NewPair returns the master's end as a *Conn and the child's end as an
// *os.File to put into exec.Cmd.ExtraFiles. The caller closes the child
// *os.File after the child has started; until then the master will not see
// io.EOF when the child dies.
func NewPair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	master := os.NewFile(uintptr(fds[0]), "portico-ipc-master")
	child := os.NewFile(uintptr(fds[1]), "portico-ipc-child")
	c, err := newConn(master)
	master.Close() // newConn holds its own duplicate
	if err != nil {
		child.Close()
		return nil, nil, err
	}
	return c, child, nil
}

// FromFile wraps an inherited channel descriptor (the child side), typically
// os.NewFile(3, "ipc"). It takes ownership of f: f is closed whether or not
// FromFile succeeds, the Conn holds its own duplicate.
func FromFile(f *os.File) (*Conn, error) {
	defer f.Close()
	return newConn(f)
}

func newConn(f *os.File) (*Conn, error) {
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("ipc: wrap channel fd: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("ipc: wrap channel fd: %T is not a unix socket", nc)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("ipc: wrap channel fd: %w", err)
	}
	var typ int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	}); err != nil {
		serr = err
	}
	if serr == nil && typ != unix.SOCK_SEQPACKET {
		serr = fmt.Errorf("socket type %d is not SOCK_SEQPACKET", typ)
	}
	if serr != nil {
		uc.Close()
		return nil, fmt.Errorf("ipc: wrap channel fd: %w", serr)
	}
	return &Conn{uc: uc, rc: rc}, nil
}

// Send writes m as one packet. m.Files are passed with SCM_RIGHTS; the
// caller keeps ownership of its copies. If the peer is gone Send fails with
// an error wrapping syscall.EPIPE (no SIGPIPE is raised).
func (c *Conn) Send(m Message) error {
	switch {
	case !m.Kind.valid():
		return fmt.Errorf("ipc: write message: unknown kind %d", uint8(m.Kind))
	case len(m.Payload) > MaxPayload:
		return fmt.Errorf("ipc: write message: %v payload of %d bytes exceeds %d", m.Kind, len(m.Payload), MaxPayload)
	case len(m.Files) > MaxFiles:
		return fmt.Errorf("ipc: write message: %v carries %d files, max %d", m.Kind, len(m.Files), MaxFiles)
	}
	var oob []byte
	if len(m.Files) > 0 {
		fds := make([]int, 0, len(m.Files))
		for i, f := range m.Files {
			if f == nil {
				return fmt.Errorf("ipc: write message: %v file %d is nil", m.Kind, i)
			}
			// SyscallConn, unlike Fd, leaves the file's blocking mode alone.
			rc, err := f.SyscallConn()
			if err == nil {
				err = rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
			}
			if err != nil {
				return fmt.Errorf("ipc: write message: %v file %d: %w", m.Kind, i, err)
			}
		}
		oob = unix.UnixRights(fds...)
	}
	pkt := make([]byte, headerLen+len(m.Payload))
	pkt[0], pkt[1] = Version, byte(m.Kind)
	copy(pkt[headerLen:], m.Payload)

	c.wmu.Lock()
	err := c.write(pkt, oob)
	c.wmu.Unlock()
	runtime.KeepAlive(m.Files) // the fds must stay open until sendmsg returns
	if err != nil {
		return fmt.Errorf("ipc: write message: %v: %w", m.Kind, err)
	}
	return nil
}

func (c *Conn) write(pkt, oob []byte) error {
	var n int
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			n, serr = unix.SendmsgN(int(fd), pkt, oob, nil, unix.MSG_NOSIGNAL)
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return err
	case serr != nil:
		return serr
	case n != len(pkt):
		return fmt.Errorf("short write: %d of %d bytes", n, len(pkt))
	}
	return nil
}

// Receive reads one message. It returns io.EOF when the peer has closed its
// end or died. Received descriptors become *os.File in m.Files, are
// close-on-exec and owned by the caller. A malformed packet yields an error
// wrapping ErrProtocol; Receive may be called again after it.
func (c *Conn) Receive() (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil {
		c.rbuf = make([]byte, headerLen+MaxPayload)
		c.oob = make([]byte, unix.CmsgSpace(scmMaxFD*4))
	}
	var n, oobn, flags int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), c.rbuf, c.oob, unix.MSG_CMSG_CLOEXEC)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		if errors.Is(err, unix.ECONNRESET) {
			return Message{}, io.EOF
		}
		return Message{}, fmt.Errorf("ipc: read message: %w", err)
	}

	files, ferr := parseFiles(c.oob[:oobn])
	m, err := c.decode(n, oobn, flags, len(files))
	if err == nil {
		err = ferr
	}
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return Message{}, err
	}
	m.Files = files
	return m, nil
}

// decode validates the packet in c.rbuf[:n]. nfiles is the number of
// descriptors that arrived with it.
func (c *Conn) decode(n, oobn, flags, nfiles int) (Message, error) {
	if n == 0 && oobn == 0 {
		return Message{}, io.EOF // peer closed: we never send empty packets
	}
	if flags&unix.MSG_TRUNC != 0 {
		return Message{}, fmt.Errorf("ipc: read message: %w: packet truncated (larger than %d bytes)", ErrProtocol, len(c.rbuf))
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return Message{}, fmt.Errorf("ipc: read message: %w: control data truncated", ErrProtocol)
	}
	if n < headerLen {
		return Message{}, fmt.Errorf("ipc: read message: %w: short packet of %d bytes", ErrProtocol, n)
	}
	version, kind := c.rbuf[0], Kind(c.rbuf[1])
	if version != Version {
		return Message{}, fmt.Errorf("ipc: read message: %w: version %d (kind %d), want version %d", ErrProtocol, version, uint8(kind), Version)
	}
	if !kind.valid() {
		return Message{}, fmt.Errorf("ipc: read message: %w: unknown kind %d", ErrProtocol, uint8(kind))
	}
	if nfiles > MaxFiles {
		return Message{}, fmt.Errorf("ipc: read message: %w: %v carries %d files, max %d", ErrProtocol, kind, nfiles, MaxFiles)
	}
	m := Message{Kind: kind}
	if n > headerLen {
		m.Payload = append([]byte(nil), c.rbuf[headerLen:n]...)
	}
	return m, nil
}

// parseFiles turns every SCM_RIGHTS descriptor in oob into an *os.File, so
// that none can leak even if the message is then rejected.
func parseFiles(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	scms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("ipc: read message: %w: control data: %v", ErrProtocol, err)
	}
	var files []*os.File
	var perr error
	for i := range scms {
		if scms[i].Header.Level != unix.SOL_SOCKET || scms[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		fds, err := unix.ParseUnixRights(&scms[i])
		if err != nil {
			perr = fmt.Errorf("ipc: read message: %w: control data: %v", ErrProtocol, err)
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "portico-ipc-received"))
		}
	}
	return files, perr
}

// Close closes the channel. A blocked Receive returns an error wrapping
// net.ErrClosed; the peer sees io.EOF once every copy of this end is closed.
func (c *Conn) Close() error {
	if err := c.uc.Close(); err != nil {
		return fmt.Errorf("ipc: close: %w", err)
	}
	return nil
}
