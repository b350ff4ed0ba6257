package health

import (
	"fmt"
	"hash/fnv"

	"github.com/portico-gw/portico/ipc"
)

// ZoneName is the shared-memory zone (nginx_config.http.lua_shared_dict)
// holding the table.
const ZoneName = "upstream-healthcheck"

// layout is slot 0 of a zone holding this table: the format of what
// follows. Change it with the layout (see the package doc).
const layout int64 = 0x706f7274_68630001 // "porthc", version 1

// Slots of a bucket, after the header slot.
const (
	slotKey      = iota // the target's Key; 0 = empty bucket
	slotState           // stateHealthy or stateUnhealthy
	slotCounters        // the consecutive counters and crossing flags (counters.go)
	bucketSlots
)

// Node states in the table.
const (
	stateHealthy   = 1
	stateUnhealthy = 2
)

// maxProbe bounds a lookup: the table is sized far beyond the targets of a
// node, so a longer run means the key is absent.
const maxProbe = 64

// Table is an open-addressing hash table over a zone, shared by every
// process of the node: the agent registers targets and writes verdicts,
// workers read verdicts and bump counters.
type Table struct {
	z       *ipc.Zone
	buckets int
	err     error // why the zone cannot be used; the table is then inert
}

// NewTable views z as a health table, claiming it for this layout if it is
// fresh. A zone already claimed by another layout gives an inert table
// (every node healthy, reports dropped); Err says why.
func NewTable(z *ipc.Zone) *Table {
	// A zone is at least a page, so it holds buckets.
	t := &Table{z: z, buckets: (z.Slots() - 1) / bucketSlots}
	if !z.CompareAndSwap(0, 0, layout) && z.Load(0) != layout {
		t.err = fmt.Errorf("health: zone %s holds layout %#x, this binary uses %#x: health checks are off until the zone is recreated", z.Name(), z.Load(0), layout)
	}
	return t
}

// Err reports why the table is inert, or nil.
func (t *Table) Err() error { return t.err }

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

// slot is the zone slot of field f of bucket b.
func slot(b, f int) int { return 1 + b*bucketSlots + f }

// find returns the bucket holding key. Buckets are never freed nor moved,
// so a bucket found once holds that key for the zone's life.
func (t *Table) find(key int64) (int, bool) {
	b, found, _ := t.probe(key)
	return b, found
}

// probe walks key's probe sequence from its home bucket to the bucket
// holding key (found) or the first empty one (free); neither when the
// probed buckets are all taken by other keys.
func (t *Table) probe(key int64) (b int, found, free bool) {
	if t.err != nil {
		return 0, false, false
	}
	for i := 0; i < maxProbe; i++ {
		b := int((uint64(key) + uint64(i)) % uint64(t.buckets))
		switch t.z.Load(slot(b, slotKey)) {
		case key:
			return b, true, false
		case 0:
			return b, false, true
		}
	}
	return 0, false, false
}

// register returns key's bucket, inserting it healthy with zero counters if
// absent. Only the agent calls it (single writer): state and counters are
// stored before the key, so a reader that sees the key sees them. It fails
// when the keys probed from key's home bucket are all taken.
func (t *Table) register(key int64) (int, bool) {
	b, found, free := t.probe(key)
	if free {
		t.z.Store(slot(b, slotState), stateHealthy)
		t.z.Store(slot(b, slotCounters), 0)
		t.z.Store(slot(b, slotKey), key)
	}
	return b, found || free
}

// Healthy reports a target's verdict; unknown targets are healthy.
func (t *Table) Healthy(key int64) bool {
	b, ok := t.find(key)
	return !ok || t.healthy(b)
}

func (t *Table) healthy(b int) bool { return t.z.Load(slot(b, slotState)) != stateUnhealthy }

// setHealthy writes bucket b's verdict. Only the agent calls it.
func (t *Table) setHealthy(b int, healthy bool) {
	state := int64(stateUnhealthy)
	if healthy {
		state = stateHealthy
	}
	t.z.Store(slot(b, slotState), state)
}
