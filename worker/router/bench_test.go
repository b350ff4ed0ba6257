package router

import (
	"fmt"
	"net/netip"
	"testing"
)

// benchVars are three conditions of the usual kinds (string, numeric,
// regex), all true for benchReq.
func benchVars() []any {
	return []any{
		[]any{"arg_a", "==", "1"},
		[]any{"http_x_n", ">", 5},
		[]any{"cookie_c", "~~", "^ab"},
	}
}

var benchVals = map[string]string{"arg_a": "1", "http_x_n": "6", "cookie_c": "abc"}

func benchVar(n string) (string, bool) { v, ok := benchVals[n]; return v, ok }

// benchTable builds n routes of one shape; route i answers path(i).
func benchTable(b *testing.B, mode Mode, n int, shape func(i int) Route) *Router {
	routes := make([]Route, n)
	for i := range routes {
		routes[i] = shape(i)
	}
	r, err := Build(mode, routes)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func runBench(b *testing.B, r *Router, req *Request, want string) {
	if m, ok := r.Match(req); !ok || m.Route.ID != want {
		b.Fatalf("benchmark request matched %v %v, want %s", m.Route, ok, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Match(req)
	}
}

func BenchmarkMatch(b *testing.B) {
	exact := func(i int) Route { return rt(fmt.Sprint(i), fmt.Sprintf("/api/v1/svc%d/resource", i)) }
	prefix := func(i int) Route { return rt(fmt.Sprint(i), fmt.Sprintf("/api/v1/svc%d/*", i)) }
	vars := func(i int) Route { return prefix(i).vars(benchVars()...) }
	hosted := func(i int) Route { return prefix(i).host(fmt.Sprintf("svc%d.example.com", i)) }
	wild := func(i int) Route { return prefix(i).host(fmt.Sprintf("*.svc%d.example.com", i)) }
	param := func(i int) Route { return rt(fmt.Sprint(i), fmt.Sprintf("/api/v1/svc%d/:id", i)) }

	type bc struct {
		name  string
		mode  Mode
		shape func(int) Route
		req   func(i int) *Request
	}
	get := func(path, host string) *Request {
		return &Request{Method: "GET", Host: host, Path: path, RemoteAddr: netip.MustParseAddr("10.0.0.1"), Var: benchVar}
	}
	for _, c := range []bc{
		{"exact", HostURI, exact, func(i int) *Request { return get(fmt.Sprintf("/api/v1/svc%d/resource", i), "x.com") }},
		{"prefix", HostURI, prefix, func(i int) *Request { return get(fmt.Sprintf("/api/v1/svc%d/users/42", i), "x.com") }},
		{"vars3", HostURI, vars, func(i int) *Request { return get(fmt.Sprintf("/api/v1/svc%d/users/42", i), "x.com") }},
		{"host", HostURI, hosted, func(i int) *Request {
			return get(fmt.Sprintf("/api/v1/svc%d/users/42", i), fmt.Sprintf("svc%d.example.com", i))
		}},
		{"wildhost", HostURI, wild, func(i int) *Request {
			return get(fmt.Sprintf("/api/v1/svc%d/users/42", i), fmt.Sprintf("a.svc%d.example.com", i))
		}},
		{"uri-host", URI, hosted, func(i int) *Request {
			return get(fmt.Sprintf("/api/v1/svc%d/users/42", i), fmt.Sprintf("svc%d.example.com", i))
		}},
		{"param", URIWithParameter, param, func(i int) *Request { return get(fmt.Sprintf("/api/v1/svc%d/42", i), "x.com") }},
	} {
		for _, n := range []int{1, 10000} {
			mid := n / 2
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				runBench(b, benchTable(b, c.mode, n, c.shape), c.req(mid), fmt.Sprint(mid))
			})
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, p := range []string{"/api/v1/users/42", "/api/v1/%75sers/../users/42"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, _ = Normalize(p)
			}
		})
	}
}

// benchRoutes is BenchmarkBuild's table: two uris, a host shared by 100
// routes and three vars per route.
func benchRoutes(n int) []Route {
	routes := make([]Route, n)
	for i := range routes {
		routes[i] = rt(fmt.Sprint(i), fmt.Sprintf("/api/v1/svc%d/*", i), fmt.Sprintf("/api/v2/svc%d", i)).
			host(fmt.Sprintf("svc%d.example.com", i%100)).vars(benchVars()...)
	}
	return routes
}

// Build cost matters too: a full build runs at start and on every re-read.
func BenchmarkBuild(b *testing.B) {
	routes := benchRoutes(10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Build(HostURI, routes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate is one route put into BenchmarkBuild's table: what every
// config change costs. The host-less exact uri is the worst case, since it
// copies the hashed map of its table; the others copy trie paths only.
func BenchmarkUpdate(b *testing.B) {
	base, err := Build(HostURI, benchRoutes(10000))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		route Route
	}{
		{"replace", benchRoutes(5001)[5000].prio(1)},
		{"new-prefix", rt("new", "/fresh/*")},
		{"new-exact-hosted", rt("new", "/fresh").host("svc7.example.com")},
		{"new-exact", rt("new", "/fresh")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := base.Update(nil, []Route{c.route}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
