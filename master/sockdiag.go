package master

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/tmpl"
)

// TCP states from the kernel's include/net/tcp_states.h.
const (
	tcpEstablished = 1
	tcpListen      = 10
)

// listenerStats reads every listener's sockets from the kernel (netlink
// sock_diag): the accept queue of each slot's socket, found by inode, and
// the established connections on the address. It is for `portico status`,
// never on a request path.
func (m *Master) listenerStats(listeners []tmpl.Listener) ([]control.ListenerStatus, error) {
	dump := map[uint8][]*netlink.Socket{}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := netlink.SocketDiagTCP(fam)
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		dump[fam] = socks
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []control.ListenerStatus
	for _, l := range listeners {
		fam := uint8(unix.AF_INET)
		if l.Network == "tcp6" {
			fam = unix.AF_INET6
		}
		host, portStr, err := net.SplitHostPort(l.Addr)
		if err != nil {
			continue
		}
		var port int
		fmt.Sscan(portStr, &port)
		ip := net.ParseIP(host)
		byInode := map[uint64]*netlink.Socket{}
		ls := control.ListenerStatus{Role: l.Role, Addr: l.Addr}
		for _, s := range dump[fam] {
			if s.State == tcpListen {
				byInode[uint64(s.INode)] = s
				continue
			}
			if int(s.ID.SourcePort) == port && (ip.IsUnspecified() || s.ID.Source.Equal(ip)) && s.State == tcpEstablished {
				ls.Established++
			}
		}
		for slot, f := range m.sockets.socks[addrKey{l.Network, l.Addr}] {
			st := control.SocketStat{Slot: slot}
			if s := byInode[inode(f)]; s != nil {
				st.Queued, st.Backlog = s.RQueue, s.WQueue
			}
			ls.Sockets = append(ls.Sockets, st)
		}
		out = append(out, ls)
	}
	return out, nil
}

func inode(f *os.File) uint64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
