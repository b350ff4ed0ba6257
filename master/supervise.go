package master

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/internal/proc"
)

type slotKey struct {
	role string
	slot int
}

// respawnState is a slot's crash history.
type respawnState struct {
	failures int // consecutive quick deaths
	total    int
}

// Back-off policy: the first death of a slot is respawned at once; a slot
// whose child keeps dying within stableAfter waits twice as long each time,
// up to maxBackoff.
const (
	stableAfter  = 10 * time.Second
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 10 * time.Second
)

// respawnDelay returns how long to wait before the next respawn of a slot
// whose child lived for `lived`, and updates its history.
func respawnDelay(st *respawnState, lived time.Duration) time.Duration {
	st.total++
	if lived >= stableAfter {
		st.failures = 0
	}
	st.failures++
	if st.failures == 1 {
		return 0
	}
	d := firstBackoff << (st.failures - 2)
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	return d
}

// onExit is called in the master loop when a child has been reaped.
func (m *Master) onExit(c *childProc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.children, c)
	ev := m.log.Info()
	unexpected := !c.draining && !m.stopping
	if unexpected {
		ev = m.log.Warn()
	}
	ev.Str(logx.FieldRole, c.role).Int(logx.FieldSlot, c.slot).Int(logx.FieldGeneration, c.gen).
		Int("child_pid", c.pid()).Str("status", exitText(c)).Msg("child exited")
	if !unexpected || m.gen == nil || c.gen != m.gen.num {
		return
	}
	if c.exitCode() == proc.ExitFatalConfig {
		m.log.Error().Str(logx.FieldRole, c.role).Int(logx.FieldSlot, c.slot).
			Msg("child exited with the fatal configuration code; not respawning it")
		return
	}
	key := slotKey{c.role, c.slot}
	st := m.backoff[key]
	if st == nil {
		st = &respawnState{}
		m.backoff[key] = st
	}
	delay := respawnDelay(st, time.Since(c.started))
	gen := m.gen
	respawn := func() {
		m.mu.Lock()
		current := !m.stopping && m.gen == gen
		m.mu.Unlock()
		if !current {
			return
		}
		if _, err := m.spawn(gen, c.role, c.slot); err != nil {
			m.log.Error().Err(err).Msg("respawn failed")
		}
	}
	if delay == 0 {
		go respawn()
		return
	}
	m.log.Warn().Dur("delay", delay).Str(logx.FieldRole, c.role).Int(logx.FieldSlot, c.slot).Msg("child crashing repeatedly, backing off")
	time.AfterFunc(delay, respawn)
}

func (m *Master) respawnCount(c *childProc) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.backoff[slotKey{c.role, c.slot}]; st != nil {
		return st.total
	}
	return 0
}

// sortChildren orders status rows by generation, role and slot.
func sortChildren(s []control.ChildStatus) {
	slices.SortFunc(s, func(a, b control.ChildStatus) int {
		return cmp.Or(cmp.Compare(a.Generation, b.Generation), strings.Compare(b.Role, a.Role), cmp.Compare(a.Slot, b.Slot))
	})
}
