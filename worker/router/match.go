package router

import "net/netip"

// state is what every candidate check needs, computed once per Match.
type state struct {
	req       *Request
	host      string
	method    uint16
	addr      netip.Addr
	exposeExt bool
}

// Match finds the route for req, or reports false (the caller answers 404).
// On the common path (a route without vars or captures) it does not
// allocate; its cost is the length of the path (and host) plus the
// candidates stored at the keys the path hits, whatever the table size.
func (r *Router) Match(req *Request) (Match, bool) {
	st := state{
		req:       req,
		host:      canonicalHost(req.Host),
		method:    methodBit(req.Method),
		addr:      req.RemoteAddr.Unmap().WithZone(""),
		exposeExt: r.mode == URIWithParameter,
	}
	if r.hosts != nil {
		if m, ok := r.hosts.match(&st); ok {
			return m, true
		}
	}
	return r.plain.match(&st)
}

// match walks the host levels in radixtree_host_uri order; the first host
// level whose uri table yields a route wins, so any host-bound route beats
// every host-less one.
func (h *hostTable) match(st *state) (Match, bool) {
	if t := h.exact[st.host]; t != nil {
		if m, ok := t.match(st); ok {
			return m, true
		}
	}
	var buf [8]*tnode[*uriTable]
	hits := h.wild.suffixes(st.host, buf[:0])
	for i := len(hits) - 1; i >= 0; i-- {
		if m, ok := hits[i].val.match(st); ok {
			return m, true
		}
	}
	return Match{}, false
}

// match is radixtree's match_route: the exact path's candidates first, then
// the stored prefixes of the path from the longest down.
func (t *uriTable) match(st *state) (Match, bool) {
	path := st.req.Path
	if cs := t.exact[path]; cs != nil {
		for _, c := range cs.list {
			if c.accept(st) {
				return Match{Route: c.route}, true
			}
		}
	}
	var buf [16]*tnode[*cands]
	hits := t.prefix.prefixes(path, buf[:0])
	for i := len(hits) - 1; i >= 0; i-- {
		for _, c := range hits[i].val.list {
			if !c.accept(st) {
				continue
			}
			if c.pat == nil {
				return Match{Route: c.route}, true
			}
			if params, ok := c.pat.match(path, st.exposeExt); ok {
				return Match{Route: c.route, Params: params}, true
			}
		}
	}
	return Match{}, false
}

// accept is radixtree's match_route_opts, in its order: methods,
// remote_addrs, hosts, vars. Cheap checks first also means a route's vars
// (which may read the body) are resolved only when everything else passed.
func (c *candidate) accept(st *state) bool {
	if c.methods != 0 && c.methods&st.method == 0 {
		return false
	}
	if c.addrs != nil && !c.addrs.contains(st.addr) {
		return false
	}
	if c.hosts != nil && !matchHosts(c.hosts, st.host, st.req.HostHeader) {
		return false
	}
	if c.vars != nil && !c.vars.eval(st.req) {
		return false
	}
	return true
}
