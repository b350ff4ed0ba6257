package router

import (
	"fmt"
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
type hostTable struct {
	exact map[string]*uriTable
	wild  trie[*uriTable]
}

func newHostTable() *hostTable {
	return &hostTable{exact: map[string]*uriTable{}}
}

func (h *hostTable) table(name string, wild bool) *uriTable {
	if !wild {
		t := h.exact[name]
		if t == nil {
			t = newURITable()
			h.exact[name] = t
		}
		return t
	}
	n := h.wild.node(reverse(name))
	if !n.set {
		n.val, n.set = newURITable(), true
	}
	return n.val
}

func (h *hostTable) finish() {
	for _, t := range h.exact {
		t.finish()
	}
	h.wild.each(func(n *tnode[*uriTable]) { n.val.finish() })
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
