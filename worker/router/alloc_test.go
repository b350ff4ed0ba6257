package router

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// The common path (exact or prefix hit, no captures exposed, no vars)
// allocates nothing, in every mode and at every host level. In parameter
// mode a `/x/*` route exposes its capture as ":ext", and building that
// map is the only allocation (byte prefixes like `/x*` capture nothing).
func TestMatchNoAlloc(t *testing.T) {
	routes := []Route{
		rt("exact", "/api/v1/users"),
		rt("prefix", "/api/v1/*").meth("GET", "POST"),
		rt("byte-prefix", "/api/v2*").meth("GET", "POST"),
		rt("addr", "/addr/*").addrs("10.0.0.0/8", "::1"),
		rt("hosted", "/h/*").host("a.example.com"),
		rt("wild", "/w*").host("*.example.com"),
		rt("star", "/s*").host("*"),
	}
	for i := 0; i < 100; i++ {
		routes = append(routes, rt(fmt.Sprint("filler", i), fmt.Sprintf("/f%d/*", i)))
	}
	reqs := []struct {
		req     *Request
		capture bool // hits a route with a bare `*` item
	}{
		{&Request{Method: "GET", Host: "x.com", Path: "/api/v1/users"}, false},
		{&Request{Method: "POST", Host: "x.com", Path: "/api/v1/users/42"}, true},
		{&Request{Method: "POST", Host: "x.com", Path: "/api/v2/users/42"}, false},
		{&Request{Method: "GET", Host: "x.com", Path: "/addr/x", RemoteAddr: netip.MustParseAddr("10.1.1.1")}, true},
		{&Request{Method: "GET", Host: "a.example.com", Path: "/h/x"}, true},
		{&Request{Method: "GET", Host: "b.c.example.com", Path: "/w/x"}, false},
		{&Request{Method: "GET", Host: "Z.org:8080", Path: "/s/x"}, false},
		{&Request{Method: "GET", Host: "z.org", Path: "/s/x"}, false},
		{&Request{Method: "GET", Host: "x.com", Path: "/nothing/here"}, false},
		{&Request{Method: "GET", Host: "x.com", Path: "/f57/deep/path"}, true},
	}
	for _, mode := range allModes {
		r := mustBuild(t, mode, routes...)
		for _, c := range reqs {
			n := testing.AllocsPerRun(200, func() { r.Match(c.req) })
			m, _ := r.Match(c.req)
			switch {
			case c.req.Host == "Z.org:8080":
				// A non-canonical Host costs its lower-cased copy.
				if n > 1 {
					t.Errorf("%s %s%s: %v allocs/op", mode, c.req.Host, c.req.Path, n)
				}
			case mode == URIWithParameter && c.capture:
				if m.Params == nil || n > 2 {
					t.Errorf("%s %s%s: params %v, %v allocs/op", mode, c.req.Host, c.req.Path, m.Params, n)
				}
			case n != 0 || m.Params != nil:
				t.Errorf("%s %s%s: params %v, %v allocs/op", mode, c.req.Host, c.req.Path, m.Params, n)
			}
		}
	}
}

// Vars whose comparisons need no conversion do not allocate either.
func TestMatchVarsNoAlloc(t *testing.T) {
	r := mustBuild(t, HostURI, rt("v", "/v").vars(
		[]any{"arg_a", "==", "1"}, []any{"arg_b", ">", 5}, []any{"arg_c", "~~", "^x"},
		[]any{"arg_d", "in", []any{"p", "q"}}, []any{"remote_addr", "ipmatch", "10.0.0.0/8"}))
	vals := map[string]string{"arg_a": "1", "arg_b": "6", "arg_c": "xyz", "arg_d": "q", "remote_addr": "10.2.3.4"}
	req := &Request{Method: "GET", Path: "/v", Var: func(n string) (string, bool) { v, ok := vals[n]; return v, ok }}
	if _, ok := r.Match(req); !ok {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(200, func() { r.Match(req) }); n != 0 {
		t.Errorf("%v allocs/op", n)
	}
}

// One router, many goroutines (run with -race).
func TestConcurrentMatch(t *testing.T) {
	var routes []Route
	for i := 0; i < 500; i++ {
		routes = append(routes,
			rt(fmt.Sprint("e", i), fmt.Sprintf("/svc/%d", i)),
			rt(fmt.Sprint("p", i), fmt.Sprintf("/svc/%d/*", i)).host(fmt.Sprintf("*.h%d.com", i)),
			rt(fmt.Sprint("u", i), fmt.Sprintf("/user/%d/:id", i)).vars([]any{"arg_x", "~~", "^[0-9]+$"}),
		)
	}
	for _, mode := range allModes {
		r := mustBuild(t, mode, routes...)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					n := (i*7 + g) % 500
					q := rq{path: fmt.Sprintf("/svc/%d", n)}
					if id, _ := matchID(r, q); id != fmt.Sprint("e", n) {
						t.Errorf("%s: %v -> %q", mode, q, id)
						return
					}
					q = rq{host: fmt.Sprintf("a.h%d.com", n), path: fmt.Sprintf("/svc/%d/x", n)}
					if id, _ := matchID(r, q); id != fmt.Sprint("p", n) {
						t.Errorf("%s: %v -> %q", mode, q, id)
						return
					}
					q = rq{path: fmt.Sprintf("/user/%d/:id", n), vars: map[string]string{"arg_x": "12"}}
					if id, _ := matchID(r, q); id != fmt.Sprint("u", n) {
						t.Errorf("%s: %v -> %q", mode, q, id)
						return
					}
				}
			}(g)
		}
		wg.Wait()
	}
}
