package router

import (
	"fmt"
	"slices"
	"strings"
)

// Router is an immutable, concurrency-safe route table. Update derives new
// versions from it that share every part the change did not touch.
type Router struct {
	mode  Mode
	hosts *hostTable // HostURI: host-bound routes; nil when there are none
	plain *uriTable  // HostURI: host-less routes; URI modes: every route; never nil
	ids   trie[*entry]
	gen   uint64 // this version's generation: see tnode.gen
}

// entry is one enabled route as the router holds it.
type entry struct {
	route Route       // the router's own copy; its candidates point here
	cands []candidate // stored at slots[i]: one allocation for them all
	slots []slot
}

// slot names the key of one uri table that holds a candidate.
type slot struct {
	hosted bool   // HostURI host tree; false: the plain table
	host   string // hosted: the host, or a wildcard's suffix
	wild   bool
	key    string // exact uri or stored prefix
	exact  bool
}

// Build compiles routes into an immutable, concurrency-safe Router. It
// returns an error naming the route id and field for an invalid uri, host,
// method, remote_addr or vars expression (e.g. `route 7: vars: invalid
// operator 'X'`), or for an id given twice, never a partially built
// router. Routes whose status is set and not 1 are skipped without
// validation, as APISIX never loads them. An empty mode means the default,
// HostURI.
func Build(mode Mode, routes []Route) (*Router, error) {
	switch mode {
	case "":
		mode = HostURI
	case HostURI, URI, URIWithParameter:
	default:
		return nil, fmt.Errorf("unknown router mode %q", mode)
	}
	return (&Router{mode: mode, plain: &uriTable{}}).Update(nil, routes)
}

// Update returns the Router that Build would return for r's routes without
// those whose id is in del and with add: a route in add replaces the one
// with its id, and one whose status disables it removes it. r is not
// modified and keeps serving. Its errors are Build's, and on error nothing
// is returned. The cost is that of the routes in del and add: the trie
// paths of their keys are copied, and so is each hashed map they edit (the
// exact uris of one uri table, the exact hosts), never the rest.
func (r *Router) Update(del []string, add []Route) (*Router, error) {
	nr := *r
	nr.gen++
	gen := nr.gen
	// Every list this call edits is its own copy (or new); they are
	// sorted, or removed when left empty, once all edits are in.
	type touched struct {
		s  slot
		t  *uriTable
		cs *cands
	}
	var lists []touched
	listAt := func(s slot) *cands {
		var t *uriTable
		if s.hosted {
			nr.hosts = nr.hosts.own(gen)
			t = nr.hosts.table(gen, s.host, s.wild)
		} else {
			nr.plain = nr.plain.own(gen)
			t = nr.plain
		}
		cs, first := t.cands(gen, s.key, s.exact)
		if first {
			lists = append(lists, touched{s, t, cs})
		}
		return cs
	}
	remove := func(id string) {
		old, ok := nr.ids.get(id)
		if !ok {
			return
		}
		nr.ids = nr.ids.update(gen, id, func(*entry, bool) (*entry, bool) { return nil, false })
		for _, s := range old.slots {
			cs := listAt(s)
			cs.list = slices.DeleteFunc(cs.list, func(c *candidate) bool { return c.route == &old.route })
		}
	}
	for _, id := range del {
		remove(id)
	}
	seen := make(map[string]bool, len(add))
	var ec exprCompiler // shares compiled regexps within this call
	for i := range add {
		rt := &add[i]
		if seen[rt.ID] {
			return nil, fmt.Errorf("route %s: duplicate id", rt.ID)
		}
		seen[rt.ID] = true
		remove(rt.ID)
		if st := rt.Status; st != nil && *st != 1 {
			continue
		}
		en, err := nr.compile(&ec, *rt)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rt.ID, err)
		}
		nr.ids = nr.ids.update(gen, rt.ID, func(*entry, bool) (*entry, bool) { return en, true })
		for j, s := range en.slots {
			cs := listAt(s)
			cs.list = append(cs.list, &en.cands[j])
		}
	}
	for _, l := range lists {
		if len(l.cs.list) > 0 {
			sortCandidates(l.cs.list)
			continue
		}
		l.t.clear(gen, l.s.key, l.s.exact)
		if l.s.hosted && l.t.empty() {
			nr.hosts.drop(gen, l.s.host, l.s.wild)
		}
	}
	if nr.hosts != nil && nr.hosts.empty() {
		nr.hosts = nil
	}
	return &nr, nil
}

// fieldErr prefixes an error with the route field it concerns.
func fieldErr(field string, err error) error {
	return fmt.Errorf("%s: %w", field, err)
}

// compile checks one route and returns the router's copy of it with its
// candidates.
func (r *Router) compile(ec *exprCompiler, route Route) (en *entry, err error) {
	if len(route.URIs) == 0 {
		return nil, fieldErr("uris", fmt.Errorf("missing uri"))
	}
	en = &entry{route: route}
	rt := &en.route
	base := candidate{route: rt, priority: rt.Priority}
	if base.methods, err = methodMask(rt.Methods); err != nil {
		return nil, fieldErr("methods", err)
	}
	if len(rt.RemoteAddrs) > 0 {
		if base.addrs, err = parseIPSet(rt.RemoteAddrs); err != nil {
			return nil, fieldErr("remote_addrs", err)
		}
	}
	if base.vars, err = ec.vars(rt.Vars); err != nil {
		return nil, fieldErr("vars", err)
	}
	// Copy before lower-casing: the caller's slice is not ours to edit.
	hosts := make([]string, len(rt.Hosts))
	conds := make([]hostCond, len(rt.Hosts))
	for i, h := range rt.Hosts {
		name, wild, err := compileHost(h)
		if err != nil {
			return nil, fieldErr("hosts", err)
		}
		hosts[i] = name
		if wild {
			name = name[1:]
		}
		conds[i] = hostCond{name: name, wild: wild, raw: strings.Contains(name, ":")}
	}
	if len(rt.Hosts) > 0 {
		rt.Hosts = hosts
	}
	specs := make([]uriSpec, len(rt.URIs))
	for i, u := range rt.URIs {
		if specs[i], err = parseURI(u, r.mode == URIWithParameter); err != nil {
			return nil, fieldErr("uris", err)
		}
	}
	rt.URIs = append([]string(nil), rt.URIs...)
	rt.Methods = append([]string(nil), rt.Methods...)
	rt.RemoteAddrs = append([]string(nil), rt.RemoteAddrs...)

	n := len(specs)
	if r.mode == HostURI && len(conds) > 0 {
		n *= len(conds)
	}
	en.slots = make([]slot, 0, n)
	en.cands = make([]candidate, 0, n)
	for i, s := range specs {
		c := base
		c.pat, c.pathLen, c.uri = s.pat, len(rt.URIs[i]), i
		if r.mode != HostURI || len(conds) == 0 {
			if len(conds) > 0 {
				c.hosts = conds
			}
			en.slots = append(en.slots, slot{key: s.key, exact: s.exact})
			en.cands = append(en.cands, c)
			continue
		}
		// host_uri: the host tree decides the host, so its candidates
		// carry no host condition.
		for _, hc := range conds {
			en.slots = append(en.slots, slot{hosted: true, host: hc.name, wild: hc.wild, key: s.key, exact: s.exact})
			en.cands = append(en.cands, c)
		}
	}
	return en, nil
}
