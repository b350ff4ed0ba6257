package router

import (
	"cmp"
	"maps"
	"slices"
)

// candidate is one (route, uri) pair as stored in a uri table. A route with
// several uris, or several hosts in host_uri mode, has several candidates
// sharing one *Route.
type candidate struct {
	route    *Route
	methods  uint16     // 0 = any
	addrs    *ipSet     // nil = any
	hosts    []hostCond // uri modes only; nil = any host
	vars     *expr      // nil = none
	pat      *pattern   // prefix candidates with capture segments
	priority int
	pathLen  int // len of the uri as written: the tie-break after priority
	uri      int // position of the uri in the route's list: the last tie-break, after the route id
}

// cands is the candidate list stored under one key, in precedence order.
type cands struct {
	list []*candidate
	gen  uint64 // the generation that created it; see tnode.gen
}

// uriTable is one radixtree: exact uris hashed, prefixes in a trie. Each
// key holds its candidates in precedence order. A table reachable from a
// published Router is never modified: Update edits copies (own).
type uriTable struct {
	exact  map[string]*cands
	prefix trie[*cands]
	// gen and exactGen are the generations that created the struct and
	// the exact map; see tnode.gen. The map is copied only when an edit
	// touches an exact uri, so prefix edits never pay for it.
	gen, exactGen uint64
}

// own returns t if generation gen created it, else a copy gen may edit.
func (t *uriTable) own(gen uint64) *uriTable {
	if t == nil {
		return &uriTable{gen: gen}
	}
	if t.gen == gen {
		return t
	}
	c := *t
	c.gen = gen
	return &c
}

func (t *uriTable) empty() bool { return len(t.exact) == 0 && t.prefix.root == nil }

// cands returns the list under key (exact or prefix) for gen to edit,
// creating the key if needed. first reports that gen had not touched the
// key before: the list is then a new copy. t must belong to gen.
func (t *uriTable) cands(gen uint64, key string, exact bool) (cs *cands, first bool) {
	own := func(old *cands) *cands {
		if old != nil && old.gen == gen {
			return old
		}
		cs := &cands{gen: gen}
		if old != nil {
			cs.list = slices.Clone(old.list)
		}
		first = true
		return cs
	}
	if !exact {
		t.prefix = t.prefix.update(gen, key, func(old *cands, _ bool) (*cands, bool) {
			cs = own(old)
			return cs, true
		})
		return cs, first
	}
	old := t.exact[key]
	if cs = own(old); cs == old {
		return cs, false
	}
	if t.exactGen != gen {
		t.exact = maps.Clone(t.exact)
		t.exactGen = gen
	}
	if t.exact == nil {
		t.exact = map[string]*cands{}
	}
	t.exact[key] = cs
	return cs, true
}

// clear removes key. t must belong to gen.
func (t *uriTable) clear(gen uint64, key string, exact bool) {
	if !exact {
		t.prefix = t.prefix.update(gen, key, func(*cands, bool) (*cands, bool) { return nil, false })
		return
	}
	if t.exactGen != gen {
		t.exact = maps.Clone(t.exact)
		t.exactGen = gen
	}
	delete(t.exact, key)
}

// sortCandidates orders a key's candidates: priority desc, then longer uri
// as written, then route id, then the uri's position in its route. Priority
// only reorders routes sharing one stored key; it never moves a candidate
// across keys, which is what keeps exact before prefix and longer prefix
// before shorter. The order depends on the routes only, never on the order
// they were added in, so an updated table equals one built from scratch.
func sortCandidates(cs []*candidate) {
	slices.SortFunc(cs, func(a, b *candidate) int {
		if a.priority != b.priority {
			return cmp.Compare(b.priority, a.priority)
		}
		if a.pathLen != b.pathLen {
			return cmp.Compare(b.pathLen, a.pathLen)
		}
		if c := cmp.Compare(a.route.ID, b.route.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.uri, b.uri)
	})
}
