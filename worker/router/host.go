package router

import (
	"fmt"
	"maps"
	"strings"
)

// compileHost validates and lower-cases one route host. The accepted shape
// is APISIX's host_def (`^\*?[0-9a-zA-Z-._\[\]:]+$`) plus `*` alone, which
// radixtree treats as "any host". It returns the host and whether it is a
// wildcard, whose suffix is then host[1:] ("*.foo.com" -> ".foo.com", so it
// matches a.foo.com and a.b.foo.com but not foo.com; "*" -> "").
func compileHost(h string) (string, bool, error) {
	if h == "" {
		return "", false, fmt.Errorf("invalid host %q", h)
	}
	wild := h[0] == '*'
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '-' || c == '.' || c == '_' || c == '[' || c == ']' || c == ':' ||
			c == '*' && i == 0
		if !ok {
			return "", false, fmt.Errorf("invalid host %q", h)
		}
	}
	return strings.ToLower(h), wild, nil
}

// hostCond is one host of a route in the uri modes, checked per candidate.
type hostCond struct {
	name string // exact host, or the suffix after `*`
	wild bool
	raw  bool // contains ':': compared with the raw Host header, port included
}

func matchHosts(hs []hostCond, host, hostHeader string) bool {
	for i := range hs {
		h := &hs[i]
		subject := host
		if h.raw && hostHeader != "" {
			// radixtree compares these with $http_host as sent (no
			// lower-casing), falling back to $host without a header.
			subject = hostHeader
		}
		if h.wild {
			if strings.HasSuffix(subject, h.name) {
				return true
			}
		} else if subject == h.name {
			return true
		}
	}
	return false
}

// hostTable is radixtree_host_uri's first level: a uri table per exact host
// and a reversed-suffix trie of uri tables per wildcard. Lookup order: the
// exact host, then wildcard suffixes longest first, `*` last. Lookups use
// $host, which has no port, so route hosts with a port never match here.
// Like uriTable, a published hostTable is never modified.
type hostTable struct {
	exact         map[string]*uriTable
	wild          trie[*uriTable]
	gen, exactGen uint64 // see uriTable
}

// own returns h if generation gen created it, else a copy gen may edit.
func (h *hostTable) own(gen uint64) *hostTable {
	if h == nil {
		return &hostTable{gen: gen}
	}
	if h.gen == gen {
		return h
	}
	c := *h
	c.gen = gen
	return &c
}

func (h *hostTable) empty() bool { return len(h.exact) == 0 && h.wild.root == nil }

// table returns the uri table of host name (for a wildcard, its suffix)
// for gen to edit, creating it if the host had none. h must belong to gen.
func (h *hostTable) table(gen uint64, name string, wild bool) *uriTable {
	if wild {
		var t *uriTable
		h.wild = h.wild.update(gen, reverse(name), func(old *uriTable, _ bool) (*uriTable, bool) {
			t = old.own(gen)
			return t, true
		})
		return t
	}
	old := h.exact[name]
	t := old.own(gen)
	if t != old {
		if h.exactGen != gen {
			h.exact = maps.Clone(h.exact)
			h.exactGen = gen
		}
		if h.exact == nil {
			h.exact = map[string]*uriTable{}
		}
		h.exact[name] = t
	}
	return t
}

// drop removes the table of host name. h must belong to gen.
func (h *hostTable) drop(gen uint64, name string, wild bool) {
	if wild {
		h.wild = h.wild.update(gen, reverse(name), func(*uriTable, bool) (*uriTable, bool) { return nil, false })
		return
	}
	if h.exactGen != gen {
		h.exact = maps.Clone(h.exact)
		h.exactGen = gen
	}
	delete(h.exact, name)
}

// canonicalHost makes $host out of whatever the caller passed: lower-case,
// port stripped, one trailing dot dropped (nginx does all three). The common
// case, an already canonical host, returns without allocating.
func canonicalHost(h string) string {
	clean := true
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' || c == ':' {
			clean = false
			break
		}
	}
	if clean && (h == "" || h[len(h)-1] != '.') {
		return h
	}
	if h != "" && h[0] == '[' {
		// IPv6 literal: the port, if any, follows the bracket.
		if i := strings.IndexByte(h, ']'); i >= 0 {
			h = h[:i+1]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}
