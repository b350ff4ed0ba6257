package router

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// refMatch states spec 4.1-4.3 as directly as possible: no hashing, no
// tries, every candidate listed and sorted per request. The Router must
// agree with it on every generated table and request. (uri parsing,
// patterns, ip sets and vars are shared: they have their own tests.)
func refMatch(t testing.TB, mode Mode, routes []Route, req *Request) (string, map[string]string) {
	type cand struct {
		r     *Route
		spec  uriSpec
		plen  int
		uri   int      // position in the route's uris
		hosts []string // lower-cased; uri modes only
	}
	var all []cand
	for i := range routes {
		r := &routes[i]
		if r.Status != nil && *r.Status != 1 {
			continue
		}
		for j, u := range r.URIs {
			s, err := parseURI(u, mode == URIWithParameter)
			if err != nil {
				t.Fatal(err)
			}
			var hosts []string
			for _, h := range r.Hosts {
				hosts = append(hosts, strings.ToLower(h))
			}
			all = append(all, cand{r, s, len(u), j, hosts})
		}
	}
	host := canonicalHost(req.Host)
	addr := req.RemoteAddr.Unmap().WithZone("")
	hostOK := func(c cand) bool {
		if mode == HostURI || len(c.hosts) == 0 {
			return true
		}
		for _, h := range c.hosts {
			subject := host
			if strings.Contains(h, ":") && req.HostHeader != "" {
				subject = req.HostHeader
			}
			if strings.HasPrefix(h, "*") && strings.HasSuffix(subject, h[1:]) || h == subject {
				return true
			}
		}
		return false
	}
	accept := func(c cand) bool {
		if len(c.r.Methods) > 0 && !slices.Contains(c.r.Methods, req.Method) {
			return false
		}
		if len(c.r.RemoteAddrs) > 0 {
			s, _ := parseIPSet(c.r.RemoteAddrs)
			if !s.contains(addr) {
				return false
			}
		}
		if !hostOK(c) {
			return false
		}
		x, _ := compileVars(c.r.Vars)
		return x == nil || x.eval(req)
	}
	order := func(cs []cand) {
		sort.SliceStable(cs, func(i, j int) bool {
			a, b := cs[i], cs[j]
			if len(a.spec.key) != len(b.spec.key) {
				return len(a.spec.key) > len(b.spec.key)
			}
			if a.r.Priority != b.r.Priority {
				return a.r.Priority > b.r.Priority
			}
			if a.plen != b.plen {
				return a.plen > b.plen
			}
			if a.r.ID != b.r.ID {
				return a.r.ID < b.r.ID
			}
			return a.uri < b.uri
		})
	}
	level := func(cs []cand) (string, map[string]string, bool) {
		var exact, prefix []cand
		for _, c := range cs {
			if c.spec.exact && c.spec.key == req.Path {
				exact = append(exact, c)
			} else if !c.spec.exact && strings.HasPrefix(req.Path, c.spec.key) {
				prefix = append(prefix, c)
			}
		}
		order(exact)
		order(prefix)
		for _, c := range exact {
			if accept(c) {
				return c.r.ID, nil, true
			}
		}
		for _, c := range prefix {
			if !accept(c) {
				continue
			}
			if c.spec.pat == nil {
				return c.r.ID, nil, true
			}
			if ps, ok := c.spec.pat.match(req.Path, mode == URIWithParameter); ok {
				return c.r.ID, ps, true
			}
		}
		return "", nil, false
	}
	if mode != HostURI {
		id, ps, _ := level(all)
		return id, ps
	}
	// host_uri: exact host, wildcard suffixes longest first, host-less.
	var exactHost, hostless []cand
	wild := map[string][]cand{}
	for _, c := range all {
		if len(c.r.Hosts) == 0 {
			hostless = append(hostless, c)
			continue
		}
		for _, h := range c.r.Hosts {
			h = strings.ToLower(h)
			if strings.HasPrefix(h, "*") {
				if strings.HasSuffix(host, h[1:]) {
					wild[h[1:]] = append(wild[h[1:]], c)
				}
			} else if h == host {
				exactHost = append(exactHost, c)
			}
		}
	}
	if id, ps, ok := level(exactHost); ok {
		return id, ps
	}
	var sufs []string
	for s := range wild {
		sufs = append(sufs, s)
	}
	sort.Slice(sufs, func(i, j int) bool { return len(sufs[i]) > len(sufs[j]) })
	for _, s := range sufs {
		if id, ps, ok := level(wild[s]); ok {
			return id, ps
		}
	}
	id, ps, _ := level(hostless)
	return id, ps
}

// routeGen draws small random tables and requests that hit them often:
// few path segments, overlapping hosts, every kind of uri.
type routeGen struct{ rng *rand.Rand }

var (
	genSegs      = []string{"a", "b", "ab", ":x", "c", "a.b"}
	genHostPool  = []string{"a.com", "b.a.com", "*.a.com", "*a.com", "*", "c.b.a.com", "*.b.a.com", "a.com:8080", "*.com", "Z.com"}
	genReqHosts  = []string{"a.com", "b.a.com", "c.b.a.com", "x.b.a.com", "z.com", "A.COM", "a.com:8080", "xa.com", ""}
	genMethods   = []string{"GET", "POST", "PUT"}
	genAddresses = []string{"10.1.1.1", "192.168.1.1"}
)

func (g routeGen) pick(l []string) string { return l[g.rng.Intn(len(l))] }

func (g routeGen) path(maxDepth int) string {
	var b strings.Builder
	for d := g.rng.Intn(maxDepth + 1); d > 0; d-- {
		b.WriteString("/" + g.pick(genSegs))
	}
	if b.Len() == 0 || g.rng.Intn(4) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

func (g routeGen) uri() string {
	u := g.path(3)
	switch g.rng.Intn(8) {
	case 0:
		u += "*"
	case 1:
		u = strings.TrimSuffix(u, "/") + "/*"
	case 2:
		u = strings.TrimSuffix(u, "/") + "/*rest"
	case 3:
		u = strings.TrimSuffix(u, "/") + "/:id"
	case 4:
		u = "*"
	}
	return u
}

func (g routeGen) route(id string) Route {
	rng := g.rng
	r := rt(id, g.uri())
	if rng.Intn(5) == 0 {
		r.URIs = append(r.URIs, g.uri())
	}
	if rng.Intn(2) == 0 {
		r.Hosts = []string{g.pick(genHostPool)}
		if rng.Intn(3) == 0 {
			r.Hosts = append(r.Hosts, g.pick(genHostPool))
		}
	}
	if rng.Intn(3) == 0 {
		r.Methods = []string{g.pick(genMethods)}
	}
	r.Priority = rng.Intn(3) - 1
	if rng.Intn(10) == 0 {
		r = r.status(0)
	}
	if rng.Intn(6) == 0 {
		r.Vars = []any{[]any{"arg_k", "==", "1"}}
	}
	if rng.Intn(8) == 0 {
		r.RemoteAddrs = []string{"10.0.0.0/8"}
	}
	return r
}

func (g routeGen) request() rq {
	h := g.pick(genReqHosts)
	q := rq{method: g.pick(genMethods), host: h, hostHeader: h, path: g.path(4), addr: g.pick(genAddresses)}
	if g.rng.Intn(2) == 0 {
		q.vars = map[string]string{"arg_k": g.pick([]string{"1", "2"})}
	}
	return q
}

// agrees checks router against the reference on n generated requests and
// reports how many matched.
func agrees(t *testing.T, g routeGen, mode Mode, router *Router, routes []Route, n int) int {
	t.Helper()
	matched := 0
	for k := 0; k < n; k++ {
		q := g.request()
		req := q.request()
		wantID, wantPs := refMatch(t, mode, routes, req)
		m, ok := router.Match(req)
		gotID := ""
		if ok {
			gotID = m.Route.ID
			matched++
		}
		if gotID != wantID || !reflect.DeepEqual(m.Params, wantPs) {
			for _, r := range routes {
				t.Logf("%+v", r)
			}
			t.Fatalf("%s %+v: got %q %v, reference %q %v", mode, q, gotID, m.Params, wantID, wantPs)
		}
	}
	return matched
}

func TestAgainstReference(t *testing.T) {
	g := routeGen{rand.New(rand.NewSource(42))}
	total, matched := 0, 0
	for round := 0; round < 400; round++ {
		var routes []Route
		for i := g.rng.Intn(30) + 1; i > 0; i-- {
			routes = append(routes, g.route(fmt.Sprint("r", len(routes))))
		}
		for _, mode := range allModes {
			matched += agrees(t, g, mode, mustBuild(t, mode, routes...), routes, 60)
			total += 60
		}
	}
	if matched < total/5 {
		t.Fatalf("generator too weak: %d of %d requests matched", matched, total)
	}
	t.Logf("%d requests, %d matched", total, matched)
}
