package health

import (
	"hash/fnv"

	"github.com/portico-gw/portico/ipc"
)

// ZoneName is the shared-memory zone (nginx_config.http.lua_shared_dict)
// holding the table.
const ZoneName = "upstream-healthcheck"

// Node states in the table.
const (
	stateUnknown   = 0
	stateHealthy   = 1
	stateUnhealthy = 2
)

// maxProbe bounds a lookup: the table is sized far beyond the targets of a
// node, so a longer run means the key is absent.
const maxProbe = 64

// Table is an open-addressing hash table over a zone: bucket i is the pair
// of slots (2i: key, 2i+1: state).
type Table struct {
	z       *ipc.Zone
	buckets int
}

// NewTable views z as a health table.
func NewTable(z *ipc.Zone) *Table { return &Table{z: z, buckets: z.Slots() / 2} }

// Key identifies a target: its owner's key and the node's host:port.
func Key(owner, node string) int64 {
	h := fnv.New64a()
	h.Write([]byte(owner))
	h.Write([]byte{'|'})
	h.Write([]byte(node))
	k := int64(h.Sum64() &^ (1 << 63))
	if k == 0 {
		k = 1 // 0 marks an empty bucket
	}
	return k
}

// Set records a verdict. Only the agent calls it (single writer): the state
// is stored before the key, so a reader that sees the key sees a state.
func (t *Table) Set(key int64, healthy bool) bool {
	state := int64(stateUnhealthy)
	if healthy {
		state = stateHealthy
	}
	for i := 0; i < maxProbe; i++ {
		b := int((uint64(key) + uint64(i)) % uint64(t.buckets))
		switch t.z.Load(2 * b) {
		case key:
			t.z.Store(2*b+1, state)
			return true
		case 0:
			t.z.Store(2*b+1, state)
			t.z.Store(2*b, key)
			return true
		}
	}
	return false // table full around this key: the node reads as healthy
}

// Healthy reports a target's verdict; unknown targets are healthy.
func (t *Table) Healthy(key int64) bool {
	for i := 0; i < maxProbe; i++ {
		b := int((uint64(key) + uint64(i)) % uint64(t.buckets))
		switch t.z.Load(2 * b) {
		case key:
			return t.z.Load(2*b+1) != stateUnhealthy
		case 0:
			return true
		}
	}
	return true
}
