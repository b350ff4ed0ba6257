package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
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
}

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

// change is one pending key update: item nil deletes kind/id.
type change struct {
	kind, id string
	item     *Item
}

// newSnapshot hashes items, which it takes ownership of.
// NewSnapshot builds a snapshot from items (for providers other than etcd,
// such as the standalone file); the hash is computed as for etcd's.
func NewSnapshot(items map[string]map[string]*Item, rev int64) *Snapshot {
	return newSnapshot(items, rev, false)
}

func newSnapshot(items map[string]map[string]*Item, rev int64, stale bool) *Snapshot {
	return &Snapshot{Revision: rev, Hash: hashItems(items), Items: items, Stale: stale}
}

// with returns the snapshot that results from applying changes at rev.
// Kinds without changes share their map with s; s itself is not modified.
// Without changes only the revision moves and the hash is reused.
func (s *Snapshot) with(changes map[string]change, rev int64) *Snapshot {
	if len(changes) == 0 {
		return &Snapshot{Revision: rev, Hash: s.Hash, Items: s.Items}
	}
	byKind := make(map[string][]change)
	for _, c := range changes {
		byKind[c.kind] = append(byKind[c.kind], c)
	}
	items := maps.Clone(s.Items)
	if items == nil {
		items = make(map[string]map[string]*Item, len(byKind))
	}
	for kind, cs := range byKind {
		m := make(map[string]*Item, len(s.Items[kind])+len(cs))
		maps.Copy(m, s.Items[kind])
		for _, c := range cs {
			if c.item == nil {
				delete(m, c.id)
			} else {
				m[c.id] = c.item
			}
		}
		if len(m) == 0 {
			delete(items, kind)
		} else {
			items[kind] = m
		}
	}
	return newSnapshot(items, rev, false)
}

// hashItems is the content hash described in the package doc.
func hashItems(items map[string]map[string]*Item) string {
	h := sha256.New()
	var buf []byte
	kinds := slices.Sorted(maps.Keys(items))
	var ids []string
	for _, kind := range kinds {
		m := items[kind]
		ids = append(ids[:0], slices.Collect(maps.Keys(m))...)
		slices.Sort(ids)
		for _, id := range ids {
			it := m[id]
			buf = binary.BigEndian.AppendUint64(buf[:0], uint64(len(kind)))
			buf = append(buf, kind...)
			buf = binary.BigEndian.AppendUint64(buf, uint64(len(id)))
			buf = append(buf, id...)
			buf = binary.BigEndian.AppendUint64(buf, uint64(len(it.Raw)))
			h.Write(buf)
			h.Write(it.Raw)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
