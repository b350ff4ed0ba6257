package master

import (
	"context"
	"os"

	"github.com/portico-gw/portico/internal/buildinfo"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
)

// Status collects the master's and every child's state.
func (m *Master) Status() *control.Status {
	m.statusMu.Lock()
	defer m.statusMu.Unlock()
	m.mu.Lock()
	gen := m.gen
	var kids []*childProc
	for c := range m.children {
		kids = append(kids, c)
	}
	m.mu.Unlock()
	st := &control.Status{
		Master: control.MasterStatus{
			Pid: os.Getpid(), Version: buildinfo.Version, Generation: gen.num, Started: m.started,
			RuntimeHash: gen.hash, ConfigFile: gen.cfg.File,
		},
		Etcd: control.EtcdStatus{Embedded: gen.rt.Etcd.Embedded, Endpoints: gen.rt.Etcd.Endpoints, Running: m.etcd != nil && m.etcd.running()},
	}
	m.mu.Lock()
	if z, ok := m.zones[tmpl.StatusZone]; ok {
		st.RequestsTotal = z.Load(tmpl.StatusSlotRequests)
		st.RunnerGeneration = z.Load(tmpl.StatusSlotRunnerGeneration)
	}
	m.mu.Unlock()
	if ls, err := m.listenerStats(gen.rt.Listeners); err == nil {
		st.Listeners = ls
	} else {
		m.log.Warn().Err(err).Msg("status: no socket statistics")
	}
	for _, c := range kids {
		// Drain any stale answer before asking.
		select {
		case <-c.statusC:
		default:
		}
		c.send(ipc.KindStatusRequest)
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	for _, c := range kids {
		cs := control.ChildStatus{Pid: c.pid(), Role: c.role, Slot: c.slot, Generation: c.gen, State: "starting", Respawns: m.respawnCount(c)}
		select {
		case <-c.ready:
			cs.State = "serving"
		default:
		}
		m.mu.Lock()
		if c.draining {
			cs.State = "draining"
		}
		m.mu.Unlock()
		if c.gen == gen.num {
			cs.RuntimeHash = gen.hash
		}
		select {
		case rep := <-c.statusC:
			cs.EtcdReachable = rep.EtcdReachable
			cs.ConfigRevision = rep.ConfigRevision
			cs.ConfigHash = rep.ConfigHash
			cs.Runner = rep.Runner
		case <-c.exited:
		case <-ctx.Done():
		}
		st.Children = append(st.Children, cs)
	}
	sortChildren(st.Children)
	return st
}
