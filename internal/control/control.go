// Package control is the request/response protocol between the CLI and a
// running master over the unix socket <prefix>/logs/portico.sock.
//
// Invariants:
//   - One JSON request and one JSON response per connection.
//   - The socket is mode 0600: only the master's user (and root) may drive it.
//   - Signals remain the primary interface (systemd, kill); the socket exists
//     so that reload and upgrade can report failure to the command that asked.
package control

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// SocketPath is where a master listens for control requests.
func SocketPath(prefix string) string { return filepath.Join(prefix, "logs", "portico.sock") }

// Commands.
const (
	CmdStatus  = "status"
	CmdReload  = "reload"
	CmdUpgrade = "upgrade"
)

type Request struct {
	Cmd string `json:"cmd"`
}

type Response struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is what `portico status --json` prints.
type Status struct {
	Master   MasterStatus  `json:"master"`
	Children []ChildStatus `json:"children"`
	Etcd     EtcdStatus    `json:"etcd"`
	// RequestsTotal counts data-plane requests answered by all workers of
	// all generations, read from the node-wide shared-memory zone.
	RequestsTotal int64 `json:"requests_total"`
	// RunnerGeneration counts plugin runner processes spawned on this node
	// (first spawns and respawns), from the same zone.
	RunnerGeneration int64 `json:"runner_generation"`
	// Listeners is nil when the kernel's sock_diag could not be read.
	Listeners []ListenerStatus `json:"listeners,omitempty"`
}

type MasterStatus struct {
	Pid         int       `json:"pid"`
	Version     string    `json:"version"`
	Generation  int       `json:"generation"`
	Started     time.Time `json:"started"`
	RuntimeHash string    `json:"runtime_hash"`
	ConfigFile  string    `json:"config_file"`
}

type ChildStatus struct {
	Pid         int    `json:"pid"`
	Role        string `json:"role"`
	Slot        int    `json:"slot"`
	Generation  int    `json:"generation"`
	State       string `json:"state"` // starting, serving, draining
	Respawns    int    `json:"respawns"`
	RuntimeHash string `json:"runtime_hash,omitempty"`
	// Reported by the child itself; empty when it did not answer in time.
	EtcdReachable  *bool  `json:"etcd_reachable,omitempty"`
	ConfigRevision int64  `json:"config_revision"`
	ConfigHash     string `json:"config_hash,omitempty"`
	// Runner is the privileged agent's plugin runner; nil for workers and
	// when no runner is configured.
	Runner *RunnerStatus `json:"runner,omitempty"`
}

// RunnerStatus is the external plugin runner as its supervisor sees it.
type RunnerStatus struct {
	Pid      int    `json:"pid"` // 0 while none runs (between respawns)
	Restarts int    `json:"restarts"`
	Socket   string `json:"socket"`
}

type EtcdStatus struct {
	Embedded  bool     `json:"embedded"`
	Endpoints []string `json:"endpoints"`
	Running   bool     `json:"running"` // embedded server up in this master
}

// ChildReport is the payload of an ipc Status message: what only the child knows.
type ChildReport struct {
	EtcdReachable  *bool         `json:"etcd_reachable,omitempty"` // nil: this child does not talk to etcd
	ConfigRevision int64         `json:"config_revision"`
	ConfigHash     string        `json:"config_hash"`
	Runner         *RunnerStatus `json:"runner,omitempty"`
}

// Call sends one request and waits up to timeout for the answer.
func Call(prefix, cmd string, timeout time.Duration) (*Response, error) {
	conn, err := net.DialTimeout("unix", SocketPath(prefix), timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to master: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(Request{Cmd: cmd}); err != nil {
		return nil, fmt.Errorf("send %s: %w", cmd, err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read %s answer: %w", cmd, err)
	}
	return &resp, nil
}

// ListenerStatus is one listen address as the kernel sees it (sock_diag).
type ListenerStatus struct {
	Role        string       `json:"role"`
	Addr        string       `json:"addr"`
	Established int          `json:"established"` // connections on this address, all generations
	Sockets     []SocketStat `json:"sockets"`     // one per slot
}

// SocketStat is one SO_REUSEPORT socket of a listener.
type SocketStat struct {
	Slot    int    `json:"slot"`
	Queued  uint32 `json:"queued"`  // connections waiting in the accept queue
	Backlog uint32 `json:"backlog"` // the accept queue's capacity
}
