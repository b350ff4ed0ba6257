package router

import "slices"

// trie is a byte-keyed, path-compressed radix tree. It answers one question
// per request: which stored keys are prefixes of this key, longest first.
// A walk touches one node per edge along the key, so its cost is bounded by
// the key length, never by the number of stored keys. The same structure
// serves uri prefixes (walked forwards), wildcard hosts (stored reversed,
// walked backwards from the last byte of the request host) and the route
// index by id.
//
// A trie is persistent: update returns a new trie and leaves the old one
// intact for the requests still reading it. Only the nodes along the
// updated key are copied; the rest is shared.
type trie[V any] struct {
	root *tnode[V] // nil = empty
}

type tnode[V any] struct {
	label string      // edge label from the parent; "" only at the root
	keys  []byte      // first byte of each child's label, sorted
	kids  []*tnode[V] // children, parallel to keys
	val   V
	set   bool // a stored key ends exactly here (the root = the empty key)
	// gen is the Router generation that created the node. A node of the
	// generation being built is reachable from that version only, so it
	// is edited in place instead of copied (Build inserts a whole table
	// without copying anything).
	gen uint64
}

// child finds the child whose label starts with b. Nodes near the root of a
// large table can have dozens of children; binary search keeps that cheap
// without a 256-slot array per node.
func (n *tnode[V]) child(b byte) *tnode[V] {
	if i, ok := n.index(b); ok {
		return n.kids[i]
	}
	return nil
}

// index is where the child for b is, or would be inserted.
func (n *tnode[V]) index(b byte) (int, bool) {
	lo, hi := 0, len(n.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch k := n.keys[m]; {
		case k == b:
			return m, true
		case k < b:
			lo = m + 1
		default:
			hi = m
		}
	}
	return lo, false
}

// own returns n if generation gen created it, else a copy of n that gen
// may edit: the copy gets its own child slices, so editing them leaves n
// (and every version sharing it) untouched.
func (n *tnode[V]) own(gen uint64) *tnode[V] {
	if n.gen == gen {
		return n
	}
	c := *n
	c.gen = gen
	c.keys = slices.Clone(n.keys)
	c.kids = slices.Clone(n.kids)
	return &c
}

// update returns the trie with fn applied at key: fn gets the value stored
// there (and whether one is) and returns the value to store (and whether to
// store one). t is not modified. Nodes left without value or children are
// removed and a valueless node with one child is merged into it, so the
// trie stays as compact as if it had been built from its keys directly.
func (t trie[V]) update(gen uint64, key string, fn func(V, bool) (V, bool)) trie[V] {
	root := t.root
	if root == nil {
		root = &tnode[V]{gen: gen}
	}
	root = root.update(gen, key, fn)
	if !root.set && len(root.kids) == 0 {
		root = nil
	}
	return trie[V]{root: root}
}

// update applies fn at key (relative to n) and returns n's replacement:
// n itself when nothing changed or n belongs to gen, else a copy.
func (n *tnode[V]) update(gen uint64, key string, fn func(V, bool) (V, bool)) *tnode[V] {
	var zero V
	if key == "" {
		v, ok := fn(n.val, n.set)
		if !ok && !n.set {
			return n
		}
		if !ok {
			v = zero // let the old value be collected
		}
		n = n.own(gen)
		n.val, n.set = v, ok
		return n
	}
	i, found := n.index(key[0])
	if !found {
		v, ok := fn(zero, false)
		if !ok {
			return n
		}
		n = n.own(gen)
		n.keys = slices.Insert(n.keys, i, key[0])
		n.kids = slices.Insert(n.kids, i, &tnode[V]{label: key, val: v, set: true, gen: gen})
		return n
	}
	c := n.kids[i]
	l := 0
	for l < len(key) && l < len(c.label) && key[l] == c.label[l] {
		l++
	}
	var nc *tnode[V]
	if l < len(c.label) {
		// key ends or leaves inside c's label: split the edge.
		v, ok := fn(zero, false)
		if !ok {
			return n
		}
		label := c.label // c may be tail itself when gen owns it
		tail := c.own(gen)
		tail.label = label[l:]
		nc = &tnode[V]{label: label[:l], keys: []byte{tail.label[0]}, kids: []*tnode[V]{tail}, gen: gen}
		if l == len(key) {
			nc.val, nc.set = v, true
		} else {
			nc = nc.update(gen, key[l:], func(V, bool) (V, bool) { return v, true })
		}
	} else {
		nc = c.update(gen, key[l:], fn).compact(gen)
		if nc == c {
			return n
		}
	}
	n = n.own(gen)
	if nc == nil {
		n.keys = slices.Delete(n.keys, i, i+1)
		n.kids = slices.Delete(n.kids, i, i+1)
	} else {
		n.kids[i] = nc // a merged label still starts with keys[i]
	}
	return n
}

// compact removes a non-root node that holds nothing, and merges one that
// only leads to a single child into that child.
func (n *tnode[V]) compact(gen uint64) *tnode[V] {
	if n.set {
		return n
	}
	switch len(n.kids) {
	case 0:
		return nil
	case 1:
		c := n.kids[0].own(gen)
		c.label = n.label + c.label
		return c
	}
	return n
}

// get returns the value stored at key.
func (t trie[V]) get(key string) (V, bool) {
	n := t.root
	for n != nil {
		if key == "" {
			return n.val, n.set
		}
		c := n.child(key[0])
		if c == nil || len(key) < len(c.label) || key[:len(c.label)] != c.label {
			break
		}
		key = key[len(c.label):]
		n = c
	}
	var zero V
	return zero, false
}

// prefixes appends, shortest first, every node holding a stored key that is
// a prefix of key. Callers pass a stack buffer and read it backwards.
func (t trie[V]) prefixes(key string, hits []*tnode[V]) []*tnode[V] {
	n := t.root
	i := 0
	for n != nil {
		if n.set {
			hits = append(hits, n)
		}
		if i >= len(key) {
			return hits
		}
		c := n.child(key[i])
		if c == nil || len(key)-i < len(c.label) || key[i:i+len(c.label)] != c.label {
			return hits
		}
		i += len(c.label)
		n = c
	}
	return hits
}

// suffixes is prefixes for a trie whose keys were stored reversed: it walks
// key from its last byte, so it finds every stored suffix of key without
// reversing (and allocating) the request host.
func (t trie[V]) suffixes(key string, hits []*tnode[V]) []*tnode[V] {
	n := t.root
	i := 0 // bytes consumed from the end
	for n != nil {
		if n.set {
			hits = append(hits, n)
		}
		if i >= len(key) {
			return hits
		}
		c := n.child(key[len(key)-1-i])
		if c == nil || len(key)-i < len(c.label) {
			return hits
		}
		for k := 0; k < len(c.label); k++ {
			if c.label[k] != key[len(key)-1-i-k] {
				return hits
			}
		}
		i += len(c.label)
		n = c
	}
	return hits
}

func reverse(s string) string {
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[len(s)-1-i] = s[i]
	}
	return string(b)
}
