package router

import (
	"fmt"
	"strings"
)

// Router is an immutable, concurrency-safe route table.
type Router struct {
	mode   Mode
	hosts  *hostTable // HostURI: host-bound routes; nil when there are none
	plain  *uriTable  // HostURI: host-less routes; URI modes: every route
	routes []Route    // the enabled routes, copied; candidates point here
	exprs  exprCompiler
}

// Build compiles routes into an immutable, concurrency-safe Router. It
// returns an error naming the route id and field for an invalid uri, host,
// method, remote_addr or vars expression (e.g. `route 7: vars: invalid
// operator 'X'`), never a partially built router. Routes whose status is set
// and not 1 are skipped without validation, as APISIX never loads them. An
// empty mode means the default, HostURI.
func Build(mode Mode, routes []Route) (*Router, error) {
	switch mode {
	case "":
		mode = HostURI
	case HostURI, URI, URIWithParameter:
	default:
		return nil, fmt.Errorf("unknown router mode %q", mode)
	}
	r := &Router{mode: mode, plain: newURITable()}
	for i := range routes {
		if st := routes[i].Status; st == nil || *st == 1 {
			r.routes = append(r.routes, routes[i])
		}
	}
	seq := 0
	for i := range r.routes {
		rt := &r.routes[i]
		if err := r.add(rt, &seq); err != nil {
			return nil, fmt.Errorf("route %s: %w", rt.ID, err)
		}
	}
	r.plain.finish()
	if r.hosts != nil {
		r.hosts.finish()
	}
	r.exprs = exprCompiler{} // Build-time only
	return r, nil
}

// fieldErr prefixes an error with the route field it concerns.
func fieldErr(field string, err error) error {
	return fmt.Errorf("%s: %w", field, err)
}

func (r *Router) add(rt *Route, seq *int) error {
	if len(rt.URIs) == 0 {
		return fieldErr("uris", fmt.Errorf("missing uri"))
	}
	base := candidate{route: rt, priority: rt.Priority}
	var err error
	if base.methods, err = methodMask(rt.Methods); err != nil {
		return fieldErr("methods", err)
	}
	if len(rt.RemoteAddrs) > 0 {
		if base.addrs, err = parseIPSet(rt.RemoteAddrs); err != nil {
			return fieldErr("remote_addrs", err)
		}
	}
	if base.vars, err = r.exprs.vars(rt.Vars); err != nil {
		return fieldErr("vars", err)
	}
	// Copy before lower-casing: the caller's slice is not ours to edit.
	hosts := make([]string, len(rt.Hosts))
	conds := make([]hostCond, len(rt.Hosts))
	for i, h := range rt.Hosts {
		name, wild, err := compileHost(h)
		if err != nil {
			return fieldErr("hosts", err)
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
			return fieldErr("uris", err)
		}
	}
	rt.URIs = append([]string(nil), rt.URIs...)
	rt.Methods = append([]string(nil), rt.Methods...)
	rt.RemoteAddrs = append([]string(nil), rt.RemoteAddrs...)

	for i, s := range specs {
		c := base
		c.pat, c.pathLen, c.seq = s.pat, len(rt.URIs[i]), *seq
		*seq++
		if r.mode != HostURI || len(conds) == 0 {
			if len(conds) > 0 {
				c.hosts = conds
			}
			cc := c
			r.plain.add(s, &cc)
			continue
		}
		// host_uri: the host tree decides the host, so its candidates
		// carry no host condition.
		if r.hosts == nil {
			r.hosts = newHostTable()
		}
		for _, hc := range conds {
			cc := c
			r.hosts.table(hc.name, hc.wild).add(s, &cc)
		}
	}
	return nil
}
