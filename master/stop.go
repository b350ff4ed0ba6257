package master

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/proc"
	"github.com/portico-gw/portico/ipc"
)

// retire marks the master stopping and every child draining, so that no
// exit is respawned from now on, and returns the children and how long they
// may take to drain.
func (m *Master) retire() ([]*childProc, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopping = true
	kids := make([]*childProc, 0, len(m.children))
	for c := range m.children {
		c.draining = true
		kids = append(kids, c)
	}
	var timeout time.Duration
	if m.gen != nil {
		timeout = m.gen.rt.Processes.ShutdownTimeout
	}
	return kids, timeout
}

// abort undoes a start that failed part-way.
func (m *Master) abort() {
	kids, _ := m.retire()
	m.terminateAll(kids)
	if m.etcd != nil {
		m.etcd.stop()
	}
	m.upg.Stop()
}

// kill terminates c: Terminate over the channel, SIGKILL after a grace period.
func (m *Master) kill(c *childProc) {
	c.send(ipc.KindTerminate)
	grace := killGrace
	if c.role == proc.RolePrivileged {
		grace = agentKillGrace
	}
	select {
	case <-c.exited:
	case <-time.After(grace):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// terminateAll kills kids at once and waits until they are reaped.
func (m *Master) terminateAll(kids []*childProc) {
	var wg sync.WaitGroup
	for _, c := range kids {
		wg.Add(1)
		go func() { defer wg.Done(); m.kill(c) }()
	}
	wg.Wait()
}

// drainAll asks every child to finish in-flight work, then kills stragglers
// at the deadline.
func (m *Master) drainAll(kids []*childProc, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, c := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(ipc.KindQuit)
			select {
			case <-c.exited:
			case <-time.After(timeout + killGrace):
				m.log.Warn().Str("child", c.String()).Msg("drain deadline passed, killing")
				c.cmd.Process.Kill()
				<-c.exited
			}
		}()
	}
	wg.Wait()
}

// shutdown stops the node: QUIT drains, TERM and INT terminate.
func (m *Master) shutdown(graceful bool) int {
	kids, timeout := m.retire()
	if graceful {
		m.drainAll(kids, timeout)
	} else {
		m.terminateAll(kids)
	}
	if m.etcd != nil {
		m.etcd.stop()
	}
	m.removePidFile()
	m.upg.Stop() // removes the control socket
	m.log.Info().Msg("master exited")
	return proc.ExitOK
}

// handOver runs when a new master has become ready after an upgrade: stop
// taking requests, release etcd for the successor, drain the children.
func (m *Master) handOver() int {
	m.log.Info().Msg("new master ready, draining this one")
	kids, timeout := m.retire()
	if m.etcd != nil {
		m.etcd.stop()
	}
	m.drainAll(kids, timeout)
	m.log.Info().Msg("old master exited")
	return proc.ExitOK
}

// PidFile is where the live master's pid is kept.
func PidFile(prefix string) string { return filepath.Join(prefix, "logs", "portico.pid") }

func (m *Master) removePidFile() {
	path := PidFile(m.opts.Prefix)
	data, err := os.ReadFile(path)
	if err == nil && string(data) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}
