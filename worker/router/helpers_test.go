package router

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var allModes = []Mode{HostURI, URI, URIWithParameter}

// rt is a terse route constructor for tables: rt("id", "/uri", opts...).
func rt(id string, uris ...string) Route { return Route{ID: id, URIs: uris} }

func (r Route) host(h ...string) Route     { r.Hosts = h; return r }
func (r Route) prio(p int) Route           { r.Priority = p; return r }
func (r Route) meth(m ...string) Route     { r.Methods = m; return r }
func (r Route) addrs(a ...string) Route    { r.RemoteAddrs = a; return r }
func (r Route) vars(v ...any) Route        { r.Vars = v; return r }
func (r Route) status(s int) Route         { r.Status = &s; return r }
func (r Route) withValue(v any) Route      { r.Value = v; return r }
func (r Route) withURIs(u ...string) Route { r.URIs = u; return r }

// rq is a request; the zero method is GET and the zero address 10.0.0.1.
type rq struct {
	method, host, hostHeader, path, addr string
	vars                                 map[string]string
	lists                                map[string][]string
}

func (q rq) request() *Request {
	r := &Request{Method: q.method, Host: q.host, HostHeader: q.hostHeader, Path: q.path}
	if r.Method == "" {
		r.Method = "GET"
	}
	a := q.addr
	if a == "" {
		a = "10.0.0.1"
	}
	if a != "-" {
		r.RemoteAddr = netip.MustParseAddr(a)
	}
	if q.vars != nil {
		vs := q.vars
		r.Var = func(n string) (string, bool) { v, ok := vs[n]; return v, ok }
	}
	if q.lists != nil {
		ls := q.lists
		r.VarList = func(n string) ([]string, bool) { v, ok := ls[n]; return v, ok }
	}
	return r
}

type mcase struct {
	req    rq
	want   string            // route ID, "" = no match
	params map[string]string // checked when non-nil
}

func mustBuild(t testing.TB, mode Mode, routes ...Route) *Router {
	t.Helper()
	r, err := Build(mode, routes)
	if err != nil {
		t.Fatalf("Build(%s): %v", mode, err)
	}
	return r
}

func matchID(r *Router, q rq) (string, Match) {
	m, ok := r.Match(q.request())
	if !ok {
		return "", m
	}
	return m.Route.ID, m
}

// check runs a table against one router, naming each case by its request.
func check(t *testing.T, r *Router, cases []mcase) {
	t.Helper()
	for _, c := range cases {
		name := fmt.Sprintf("%s_%s%s", c.req.method, c.req.host, c.req.path)
		t.Run(strings.ReplaceAll(name, "/", "|"), func(t *testing.T) {
			t.Helper()
			got, m := matchID(r, c.req)
			if got != c.want {
				t.Fatalf("%+v: got route %q, want %q", c.req, got, c.want)
			}
			if c.params != nil && !reflect.DeepEqual(m.Params, c.params) {
				t.Fatalf("%+v: params %v, want %v", c.req, m.Params, c.params)
			}
		})
	}
}

// forModes runs body once per listed mode as a subtest.
func forModes(t *testing.T, modes []Mode, body func(t *testing.T, mode Mode)) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) { body(t, m) })
	}
}

func p(path string) rq                       { return rq{path: path} }
func hp(host, path string) rq                { return rq{host: host, path: path} }
func mp(method, path string) rq              { return rq{method: method, path: path} }
func ap(addr, path string) rq                { return rq{addr: addr, path: path} }
func vp(v map[string]string, path string) rq { return rq{vars: v, path: path} }
