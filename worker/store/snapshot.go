package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"
)

// Item is one configuration object as read from etcd and validated.
type Item struct {
	Kind        string // directory under the prefix: "routes", "upstreams", ...
	ID          string // rest of the key after PREFIX/<kind>/ ("" for PREFIX/<kind>)
	Key         string // full etcd key
	Value       any    // what the Validator returned
	Raw         []byte // the etcd value the Value was decoded from
	ModRevision int64
}

// Snapshot is the whole configuration at one etcd revision. It is immutable
// once published: never write to Items or to an Item.
type Snapshot struct {
	Revision int64                       // etcd revision it reflects
	Hash     string                      // see the package doc; independent of Revision
	Items    map[string]map[string]*Item // kind -> id -> item
	Stale    bool                        // not (yet) read from etcd: from CacheFile, or empty before the first read

	sum digest // Hash as a number, so that a change updates it in O(1)

	// Lineage, for Changed: seq names the content (a revision-only Apply
	// keeps it); a snapshot made by Apply records the seq of the one it
	// was applied to as base, and the items it changed.
	seq, base uint64
	changed   []itemKey
}

type itemKey struct{ kind, id string }

// seqs numbers snapshot contents; 0 is never used.
var seqs atomic.Uint64

// Get returns the item kind/id, or nil.
func (s *Snapshot) Get(kind, id string) *Item { return s.Items[kind][id] }

// Len returns the number of items.
func (s *Snapshot) Len() int {
	n := 0
	for _, m := range s.Items {
		n += len(m)
	}
	return n
}

// Change is one item update: Item nil deletes Kind/ID.
type Change struct {
	Kind, ID string
	Item     *Item
}

// NewSnapshot builds a snapshot from items (for providers other than etcd,
// such as the standalone file); the hash is computed as for etcd's. The
// snapshot takes ownership of items.
func NewSnapshot(items map[string]map[string]*Item, rev int64) *Snapshot {
	return newSnapshot(items, rev, false)
}

func newSnapshot(items map[string]map[string]*Item, rev int64, stale bool) *Snapshot {
	sum := sumItems(items)
	return &Snapshot{Revision: rev, Hash: sum.String(), Items: items, Stale: stale, sum: sum, seq: seqs.Add(1)}
}

// Apply returns the snapshot that results from applying changes, in order,
// at rev: the store publishes each batch of watch events this way, and a
// provider other than etcd can too. Kinds without changes share their map
// with s, unchanged items are shared, and s itself is not modified. The
// hash is updated from the changed items alone. Without changes only the
// revision moves.
func (s *Snapshot) Apply(rev int64, changes ...Change) *Snapshot {
	if len(changes) == 0 {
		next := *s
		next.Revision, next.Stale = rev, false
		return &next
	}
	items := maps.Clone(s.Items)
	if items == nil {
		items = make(map[string]map[string]*Item)
	}
	sum := s.sum
	copied := make(map[string]bool) // kinds whose map is already this snapshot's own
	keys := make([]itemKey, 0, len(changes))
	for _, c := range changes {
		m := items[c.Kind]
		old := m[c.ID]
		if old == c.Item {
			continue // deleting an absent item, or no change at all
		}
		keys = append(keys, itemKey{c.Kind, c.ID})
		if !copied[c.Kind] {
			copied[c.Kind] = true
			if m = maps.Clone(m); m == nil {
				m = make(map[string]*Item)
			}
			items[c.Kind] = m
		}
		if old != nil {
			sum.sub(itemDigest(c.Kind, c.ID, old.Raw))
		}
		if c.Item == nil {
			delete(m, c.ID)
			continue
		}
		m[c.ID] = c.Item
		sum.add(itemDigest(c.Kind, c.ID, c.Item.Raw))
	}
	for kind := range copied {
		if len(items[kind]) == 0 {
			delete(items, kind)
		}
	}
	// Record each item once, and only if it ended up different (a put
	// then a delete of a new item is no change).
	slices.SortFunc(keys, func(a, b itemKey) int {
		return cmp.Or(strings.Compare(a.kind, b.kind), strings.Compare(a.id, b.id))
	})
	keys = slices.Compact(keys)
	keys = slices.DeleteFunc(keys, func(k itemKey) bool { return items[k.kind][k.id] == s.Get(k.kind, k.id) })
	return &Snapshot{Revision: rev, Hash: sum.String(), Items: items, sum: sum,
		seq: seqs.Add(1), base: s.seq, changed: keys}
}

// Changed calls fn with the id of every item of kind that differs between
// prev and s: added, removed, or replaced by another *Item (so an equal
// value put again with a new mod revision counts). A nil prev is empty.
// When s is prev with one Apply (or only revision moves) this costs the
// number of changes; otherwise both kinds' maps are compared.
func (s *Snapshot) Changed(prev *Snapshot, kind string, fn func(id string)) {
	switch {
	case prev != nil && s.seq != 0 && s.seq == prev.seq:
		return
	case prev != nil && s.base != 0 && s.base == prev.seq:
		for _, k := range s.changed {
			if k.kind == kind {
				fn(k.id)
			}
		}
		return
	}
	var old map[string]*Item
	if prev != nil {
		old = prev.Items[kind]
	}
	cur := s.Items[kind]
	for id, it := range cur {
		if old[id] != it {
			fn(id)
		}
	}
	for id := range old {
		if _, ok := cur[id]; !ok {
			fn(id)
		}
	}
}

// digest is a 256-bit unsigned number, big-endian: the SHA-256 of one item,
// or the sum of several modulo 2^256 (see the package doc).
type digest [32]byte

// itemDigest hashes one item: kind, id and raw value, each as an 8-byte
// big-endian length followed by its bytes.
func itemDigest(kind, id string, raw []byte) digest {
	return sha256.Sum256(appendItem(nil, kind, id, raw))
}

func appendItem(buf []byte, kind, id string, raw []byte) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(kind)))
	buf = append(buf, kind...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(id)))
	buf = append(buf, id...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(raw)))
	return append(buf, raw...)
}

// sumItems is the content hash of items as a number.
func sumItems(items map[string]map[string]*Item) digest {
	var sum digest
	var buf []byte
	for kind, m := range items {
		for id, it := range m {
			buf = appendItem(buf[:0], kind, id, it.Raw)
			sum.add(sha256.Sum256(buf))
		}
	}
	return sum
}

func (d *digest) add(x digest) {
	var carry uint64
	for i := 24; i >= 0; i -= 8 {
		var v uint64
		v, carry = bits.Add64(binary.BigEndian.Uint64(d[i:]), binary.BigEndian.Uint64(x[i:]), carry)
		binary.BigEndian.PutUint64(d[i:], v)
	}
}

func (d *digest) sub(x digest) {
	var borrow uint64
	for i := 24; i >= 0; i -= 8 {
		var v uint64
		v, borrow = bits.Sub64(binary.BigEndian.Uint64(d[i:]), binary.BigEndian.Uint64(x[i:]), borrow)
		binary.BigEndian.PutUint64(d[i:], v)
	}
}

func (d digest) String() string { return hex.EncodeToString(d[:]) }
