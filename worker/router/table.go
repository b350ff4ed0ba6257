package router

import "sort"

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
	seq      int // input order: the tie-break after that (radixtree's insertion is stable)
}

// uriTable is one radixtree: exact uris hashed, prefixes in a trie. Each
// key holds its candidates in precedence order.
type uriTable struct {
	exact  map[string][]*candidate
	prefix trie[[]*candidate]
}

func newURITable() *uriTable {
	return &uriTable{exact: map[string][]*candidate{}}
}

func (t *uriTable) add(s uriSpec, c *candidate) {
	if s.exact {
		t.exact[s.key] = append(t.exact[s.key], c)
		return
	}
	n := t.prefix.node(s.key)
	n.val = append(n.val, c)
	n.set = true
}

// finish orders every candidate list: priority desc, then longer uri as
// written, then input order. Priority only reorders routes sharing one
// stored key; it never moves a candidate across keys, which is what keeps
// exact before prefix and longer prefix before shorter.
func (t *uriTable) finish() {
	for _, cs := range t.exact {
		sortCandidates(cs)
	}
	t.prefix.each(func(n *tnode[[]*candidate]) { sortCandidates(n.val) })
}

func sortCandidates(cs []*candidate) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.priority != b.priority {
			return a.priority > b.priority
		}
		if a.pathLen != b.pathLen {
			return a.pathLen > b.pathLen
		}
		return a.seq < b.seq
	})
}
