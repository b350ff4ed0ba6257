package master

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/portico-gw/portico/internal/control"
)

// listenControl opens the control socket, inheriting it on upgrade.
func (m *Master) listenControl(prefix string) (net.Listener, error) {
	path := control.SocketPath(prefix)
	if !m.upg.HasParent() {
		// `portico start` refused to run if a master were alive, so a
		// socket file here is a crashed master's leftover.
		os.Remove(path)
	}
	ln, err := m.upg.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		// The successor inherits the socket: closing ours must not unlink it.
		ul.SetUnlinkOnClose(false)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

func (m *Master) serveControl() {
	for {
		conn, err := m.ctl.Accept()
		if err != nil {
			return
		}
		go m.handleControl(conn)
	}
}

func (m *Master) handleControl(conn net.Conn) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var req control.Request
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	var resp control.Response
	switch req.Cmd {
	case control.CmdStatus:
		resp = control.Response{OK: true, Status: m.Status()}
	case control.CmdReload:
		resp = result(m.Reload())
	case control.CmdUpgrade:
		resp = result(m.Upgrade())
	default:
		resp = control.Response{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
	}
	json.NewEncoder(conn).Encode(resp)
}

func result(err error) control.Response {
	if err != nil {
		return control.Response{Error: err.Error()}
	}
	return control.Response{OK: true}
}
