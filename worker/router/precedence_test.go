package router

import (
	"fmt"
	"strings"
	"testing"
)

// Spec 4.2: exact candidates are checked first, whatever the priorities.
func TestExactBeforePrefix(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("exact", "/foo"),
			rt("star", "/foo*").prio(100),
			rt("slash", "/foo/*").prio(200),
			rt("root", "/*").prio(1000),
			rt("exact2", "/foo/bar").prio(-5),
			rt("any", "*").prio(5000),
		)
		check(t, r, []mcase{
			{req: p("/foo"), want: "exact"},
			{req: p("/foo/bar"), want: "exact2"},
			{req: p("/foo/"), want: "slash"},
			{req: p("/foo/baz"), want: "slash"},
			{req: p("/foo/bar/"), want: "slash"},
			{req: p("/foob"), want: "star"},
			{req: p("/foo.json"), want: "star"},
			{req: p("/bar"), want: "root"},
			{req: p("/"), want: "root"},
			{req: p("/fo"), want: "root"},
			{req: p("x"), want: "any"},
			{req: p(""), want: "any"},
		})
	})
}

// An exact route exists for every prefix of a deep path, plus catch-all
// prefixes with ever higher priority: each exact path still wins.
func TestExactBeforePrefixGenerated(t *testing.T) {
	segs := []string{"api", "v1", "users", "42", "orders", "7", "items"}
	var routes []Route
	var cases []mcase
	path := ""
	for i, s := range segs {
		path += "/" + s
		routes = append(routes,
			rt("e"+path, path).prio(-100),
			rt("p"+path, path+"*").prio(100*(i+1)),
			rt("s"+path, path+"/*").prio(1000*(i+1)),
		)
		cases = append(cases,
			mcase{req: p(path), want: "e" + path},
			mcase{req: p(path + "/"), want: "s" + path},
			mcase{req: p(path + "x"), want: "p" + path},
			mcase{req: p(path + "/zzz"), want: "s" + path},
		)
	}
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		check(t, mustBuild(t, mode, routes...), cases)
	})
}

// Longest stored prefix first; priority is inversely related to length so
// that a priority-first implementation would fail every case.
func TestLongestPrefixFirst(t *testing.T) {
	keys := []string{"", "/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/ab", "/abc/", "/b/"}
	var routes []Route
	for i, k := range keys {
		routes = append(routes, rt("k"+k, k+"*").prio(1000-100*len(k)-i))
	}
	var cases []mcase
	for _, path := range []string{
		"/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/a/b/cd", "/a/b/c/d",
		"/ab", "/abc", "/abc/", "/abc/d", "/b", "/b/", "/b/x", "/c", "", "x",
		"/a/bx", "/a/x", "/ax", "/a/b/x/y/z",
	} {
		want := ""
		for _, k := range keys {
			if strings.HasPrefix(path, k) && len(k) >= len(strings.TrimPrefix(want, "k")) {
				want = "k" + k
			}
		}
		cases = append(cases, mcase{req: p(path), want: want})
	}
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		check(t, mustBuild(t, mode, routes...), cases)
	})
}

// `*` truncates the stored prefix: `/foo*` is a byte prefix, `/foo/*`
// needs the slash, text after the `*` (not a `*name` item) is ignored.
func TestStarTruncates(t *testing.T) {
	type tc struct {
		uri   string
		match []string
		miss  []string
	}
	for _, c := range []tc{
		{"/foo*", []string{"/foo", "/foobar", "/foo/", "/foo/x", "/foo.json"}, []string{"/fo", "/", "/FOO", "/bar/foo"}},
		{"/foo/*", []string{"/foo/", "/foo/x", "/foo/x/y", "/foo//"}, []string{"/foo", "/foox", "/fo"}},
		{"/foo/bar*", []string{"/foo/bar", "/foo/barbaz", "/foo/bar/"}, []string{"/foo/ba", "/foo/"}},
		{"*", []string{"/", "/x", "", "anything"}, nil},
		{"/*", []string{"/", "/x", "/x/y/z"}, []string{"", "x"}},
		{"/a*b", []string{"/a", "/ab", "/axyz", "/a/c"}, []string{"/", "/b"}},
		{"/a/*/b", []string{"/a/x/b", "/a/x/y/b", "/a//b"}, []string{"/a/b", "/a/x", "/a/x/b/c", "/a/"}},
		{"/a/*/*", []string{"/a/x/y", "/a/x/", "/a//"}, []string{"/a/x", "/a/"}},
		{"/static/*.js", []string{"/static/", "/static/x.css"}, []string{"/static"}},
	} {
		forModes(t, allModes, func(t *testing.T, mode Mode) {
			r := mustBuild(t, mode, rt("r", c.uri))
			var cases []mcase
			for _, m := range c.match {
				cases = append(cases, mcase{req: p(m), want: "r"})
			}
			for _, m := range c.miss {
				cases = append(cases, mcase{req: p(m), want: ""})
			}
			t.Run(strings.ReplaceAll(c.uri, "/", "|"), func(t *testing.T) { check(t, r, cases) })
		})
	}
}

// Same stored key: priority desc, then longer uri as written, then route
// id. Methods tell which candidate was reached first.
func TestSameKeyOrdering(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("low", "/s*"),
			rt("b", "/s*").prio(5).meth("POST", "PUT"),
			rt("c-long", "/s*xyz").prio(5).meth("POST"),
			rt("d-later", "/s*").prio(5).meth("PUT", "PATCH"),
			rt("neg", "/s*").prio(-5).meth("DELETE", "GET"),
			rt("e1", "/e").prio(1).meth("POST"),
			rt("e2", "/e").prio(2).meth("POST", "PUT"),
			rt("e3", "/e"),
			rt("e9-later", "/e").prio(2),
		)
		check(t, r, []mcase{
			{req: mp("POST", "/s"), want: "c-long"},
			{req: mp("PUT", "/s"), want: "b"},
			{req: mp("PATCH", "/s"), want: "d-later"},
			{req: mp("GET", "/s"), want: "low"},
			{req: mp("DELETE", "/s"), want: "low"},
			{req: mp("POST", "/e"), want: "e2"},
			{req: mp("PUT", "/e"), want: "e2"},
			{req: mp("GET", "/e"), want: "e9-later"},
		})
	})
}

// The route id breaks full ties, for both exact and prefix keys, then the
// uri's position in its route; the order the routes are given in does not
// matter (etcd lists them by key, so APISIX's insertion order is id order
// after a full load).
func TestIDTieBreak(t *testing.T) {
	for n := 2; n <= 6; n++ {
		var routes []Route
		for i := n - 1; i >= 0; i-- {
			routes = append(routes, rt(fmt.Sprint("x", i), "/t", "/p/*"))
		}
		// One route, two uris of one length on one key: the first one
		// listed is tried first, which shows in the capture names.
		routes = append(routes, rt("y", "/q/:id", "/q/*ab"), rt("z", "/r/*ab", "/r/:id"))
		forModes(t, allModes, func(t *testing.T, mode Mode) {
			cases := []mcase{
				{req: p("/t"), want: "x0"},
				{req: p("/p/q"), want: "x0"},
			}
			if mode == URIWithParameter {
				cases = append(cases,
					mcase{req: p("/q/1"), want: "y", params: map[string]string{"id": "1"}},
					mcase{req: p("/r/1"), want: "z", params: map[string]string{"ab": "1"}})
			}
			check(t, mustBuild(t, mode, routes...), cases)
		})
	}
}

// Priority never lets a shorter prefix beat a longer one, nor a prefix
// beat an exact path.
func TestPriorityNeverCrossesKeys(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		for _, hi := range []int{1, 100, 1 << 30} {
			r := mustBuild(t, mode,
				rt("exact", "/a/b/c").prio(-hi),
				rt("long", "/a/b/*").prio(-hi/2),
				rt("short", "/a/*").prio(hi),
				rt("root", "/*").prio(2*hi),
			)
			check(t, r, []mcase{
				{req: p("/a/b/c"), want: "exact"},
				{req: p("/a/b/x"), want: "long"},
				{req: p("/a/b/c/d"), want: "long"},
				{req: p("/a/x"), want: "short"},
				{req: p("/a/b"), want: "short"},
				{req: p("/x"), want: "root"},
			})
		}
	})
}

// When the longer key's candidates all fail their conditions, the next
// shorter key is tried (and exact failures fall through to prefixes).
func TestFallThroughOnFailedConditions(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("exact-post", "/a/b").meth("POST"),
			rt("long-put", "/a/b*").meth("PUT"),
			rt("mid-del", "/a/*").meth("DELETE"),
			rt("root", "/*"),
		)
		check(t, r, []mcase{
			{req: mp("POST", "/a/b"), want: "exact-post"},
			{req: mp("PUT", "/a/b"), want: "long-put"},
			{req: mp("DELETE", "/a/b"), want: "mid-del"},
			{req: mp("GET", "/a/b"), want: "root"},
			{req: mp("POST", "/a/bc"), want: "root"},
			{req: mp("PUT", "/a/bc"), want: "long-put"},
		})
	})
}

// Per candidate: methods, remote_addrs, hosts, vars; the first candidate
// passing all of them wins.
func TestCandidateChecks(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("m", "/c").prio(4).meth("POST"),
			rt("a", "/c").prio(3).addrs("192.168.0.0/16"),
			rt("v", "/c").prio(2).vars([]any{"arg_x", "==", "1"}),
			rt("mv", "/c").prio(1).meth("PUT").vars([]any{"arg_y", "==", "1"}),
			rt("any", "/c"),
		)
		check(t, r, []mcase{
			{req: rq{method: "POST", path: "/c", addr: "192.168.1.1"}, want: "m"},
			{req: rq{method: "GET", path: "/c", addr: "192.168.1.1"}, want: "a"},
			{req: rq{path: "/c", vars: map[string]string{"arg_x": "1"}}, want: "v"},
			{req: rq{method: "PUT", path: "/c", vars: map[string]string{"arg_y": "1"}}, want: "mv"},
			{req: rq{method: "PUT", path: "/c", vars: map[string]string{"arg_y": "2"}}, want: "any"},
			{req: rq{method: "GET", path: "/c", vars: map[string]string{"arg_y": "1"}}, want: "any"},
			{req: p("/c"), want: "any"},
		})
	})
}

// vars are the last check: a candidate failing on method or address never
// resolves a variable.
func TestVarsEvaluatedLast(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("m", "/c").meth("POST").vars([]any{"arg_x", "==", "1"}),
			rt("a", "/c").addrs("1.1.1.1").vars([]any{"arg_x", "==", "1"}),
			rt("h", "/c").host("h.com").vars([]any{"arg_x", "==", "1"}),
		)
		calls := 0
		req := &Request{Method: "GET", Host: "other.com", Path: "/c",
			Var: func(string) (string, bool) { calls++; return "1", true }}
		if _, ok := r.Match(req); ok || calls != 0 {
			t.Fatalf("matched=%v, Var calls=%d; want no match and no calls", ok, calls)
		}
	})
}

// Spec 4.1: only status absent or 1 participates.
func TestStatus(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("off", "/s").status(0).prio(10),
			rt("two", "/s").status(2).prio(9),
			rt("on", "/s").status(1),
			rt("off-only", "/o").status(0),
			rt("off-prefix", "/p/*").status(0),
			rt("off-host", "/h").status(0).host("h.com"),
			rt("nil", "/n"),
			// A disabled route is not even validated: APISIX never loads it.
			rt("off-bad", "/b").status(0).vars([]any{"x", "X", "y"}),
		)
		check(t, r, []mcase{
			{req: p("/s"), want: "on"},
			{req: p("/o"), want: ""},
			{req: p("/p/x"), want: ""},
			{req: hp("h.com", "/h"), want: ""},
			{req: p("/n"), want: "nil"},
			{req: p("/b"), want: ""},
		})
	})
}

// Routes with several uris answer on each; candidates keep their own key.
func TestMultipleURIs(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("multi", "/a", "/b/*", "/c*"),
			rt("other", "/b/x").prio(-1),
		)
		check(t, r, []mcase{
			{req: p("/a"), want: "multi"},
			{req: p("/a/"), want: ""},
			{req: p("/b/y"), want: "multi"},
			{req: p("/b/x"), want: "other"},
			{req: p("/cc"), want: "multi"},
		})
	})
}

// The matched route is the router's copy, carrying Value and lower-cased
// hosts; the caller's slice is untouched.
func TestMatchReturnsRouteCopy(t *testing.T) {
	in := []Route{rt("r", "/v").withValue(42).host("A.COM")}
	r := mustBuild(t, HostURI, in...)
	m, ok := r.Match(hp("a.com", "/v").request())
	if !ok || m.Route.Value != 42 || m.Route.Hosts[0] != "a.com" || m.Params != nil {
		t.Fatalf("got %+v %v", m, ok)
	}
	if in[0].Hosts[0] != "A.COM" {
		t.Fatalf("Build modified the caller's hosts: %v", in[0].Hosts)
	}
}
