package router

// trie is a byte-keyed, path-compressed radix tree. It answers one question
// per request: which stored keys are prefixes of this key, longest first.
// A walk touches one node per edge along the key, so its cost is bounded by
// the key length, never by the number of stored keys. The same structure
// serves uri prefixes (walked forwards) and wildcard hosts (stored reversed,
// walked backwards from the last byte of the request host).
type trie[V any] struct {
	root tnode[V]
}

type tnode[V any] struct {
	label string      // edge label from the parent; "" only at the root
	keys  []byte      // first byte of each child's label, sorted
	kids  []*tnode[V] // children, parallel to keys
	val   V
	set   bool // a stored key ends exactly here (the root = the empty key)
}

// child finds the child whose label starts with b. Nodes near the root of a
// large table can have dozens of children; binary search keeps that cheap
// without a 256-slot array per node.
func (n *tnode[V]) child(b byte) *tnode[V] {
	lo, hi := 0, len(n.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch k := n.keys[m]; {
		case k == b:
			return n.kids[m]
		case k < b:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

// setChild inserts or replaces the child for c.label[0], keeping keys sorted.
func (n *tnode[V]) setChild(c *tnode[V]) {
	b := c.label[0]
	i := 0
	for i < len(n.keys) && n.keys[i] < b {
		i++
	}
	if i < len(n.keys) && n.keys[i] == b {
		n.kids[i] = c
		return
	}
	n.keys = append(n.keys, 0)
	n.kids = append(n.kids, nil)
	copy(n.keys[i+1:], n.keys[i:])
	copy(n.kids[i+1:], n.kids[i:])
	n.keys[i] = b
	n.kids[i] = c
}

// node returns the node for key, creating it (and splitting edges) as
// needed. Build time only.
func (t *trie[V]) node(key string) *tnode[V] {
	n := &t.root
	for key != "" {
		c := n.child(key[0])
		if c == nil {
			nn := &tnode[V]{label: key}
			n.setChild(nn)
			return nn
		}
		l := 0
		for l < len(key) && l < len(c.label) && key[l] == c.label[l] {
			l++
		}
		if l < len(c.label) {
			mid := &tnode[V]{label: c.label[:l]}
			c.label = c.label[l:]
			mid.setChild(c)
			n.setChild(mid)
			c = mid
		}
		key = key[l:]
		n = c
	}
	return n
}

// prefixes appends, shortest first, every node holding a stored key that is
// a prefix of key. Callers pass a stack buffer and read it backwards.
func (t *trie[V]) prefixes(key string, hits []*tnode[V]) []*tnode[V] {
	n := &t.root
	i := 0
	for {
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
}

// suffixes is prefixes for a trie whose keys were stored reversed: it walks
// key from its last byte, so it finds every stored suffix of key without
// reversing (and allocating) the request host.
func (t *trie[V]) suffixes(key string, hits []*tnode[V]) []*tnode[V] {
	n := &t.root
	i := 0 // bytes consumed from the end
	for {
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
}

// each visits every node holding a value. Build time only.
func (t *trie[V]) each(fn func(*tnode[V])) {
	var walk func(n *tnode[V])
	walk = func(n *tnode[V]) {
		if n.set {
			fn(n)
		}
		for _, c := range n.kids {
			walk(c)
		}
	}
	walk(&t.root)
}

func reverse(s string) string {
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[len(s)-1-i] = s[i]
	}
	return string(b)
}
