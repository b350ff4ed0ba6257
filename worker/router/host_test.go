package router

import (
	"fmt"
	"testing"
)

// Spec 4.3, radixtree_host_uri: exact host, then longer wildcard suffixes,
// then shorter, `*` last, and host-less routes only after all of them.
func TestHostTreeOrder(t *testing.T) {
	r := mustBuild(t, HostURI,
		rt("exact", "/x").host("api.foo.com"),
		rt("exact-any", "/*").host("api.foo.com").prio(-10),
		rt("w-foo", "/*").host("*.foo.com"),
		rt("w-api", "/*").host("*.api.foo.com"),
		rt("w-bare", "/y").host("*foo.com"),
		rt("star", "/z/*").host("*"),
		rt("none", "/*").prio(1000),
		rt("none-exact", "/x").prio(1000),
	)
	check(t, r, []mcase{
		{req: hp("api.foo.com", "/x"), want: "exact"},
		{req: hp("api.foo.com", "/y"), want: "exact-any"},
		{req: hp("a.api.foo.com", "/y"), want: "w-api"},
		{req: hp("a.b.api.foo.com", "/y"), want: "w-api"},
		{req: hp("b.foo.com", "/y"), want: "w-foo"},
		{req: hp("a.b.foo.com", "/y"), want: "w-foo"},
		{req: hp("foo.com", "/y"), want: "w-bare"},
		{req: hp("xfoo.com", "/y"), want: "w-bare"},
		{req: hp("foo.com", "/x"), want: "none-exact"},
		{req: hp("foo.com", "/z/1"), want: "star"},
		{req: hp("other.com", "/z/1"), want: "star"},
		{req: hp("other.com", "/x"), want: "none-exact"},
		{req: hp("other.com", "/q"), want: "none"},
		{req: hp("", "/z/"), want: "star"},
		{req: hp("", "/q"), want: "none"},
		{req: hp("oo.com", "/y"), want: "none"},
	})
}

// Any matching host-bound route beats every host-less route, even an exact
// uri with a huge priority against a short prefix.
func TestHostBoundBeatsHostless(t *testing.T) {
	for _, prio := range []int{-1000, 0, 1000} {
		r := mustBuild(t, HostURI,
			rt("hosted", "/*").host("a.com").prio(prio),
			rt("hosted-wild", "/*").host("*.b.com").prio(prio),
			rt("free", "/api/v1/users").prio(1<<20),
			rt("free-prefix", "/api/*").prio(1<<20),
		)
		t.Run(fmt.Sprint(prio), func(t *testing.T) {
			check(t, r, []mcase{
				{req: hp("a.com", "/api/v1/users"), want: "hosted"},
				{req: hp("x.b.com", "/api/v1/users"), want: "hosted-wild"},
				{req: hp("c.com", "/api/v1/users"), want: "free"},
				{req: hp("b.com", "/api/x"), want: "free-prefix"},
			})
		})
	}
}

// A host-bound route whose other conditions fail lets the search continue,
// down to host-less routes.
func TestHostLevelFallThrough(t *testing.T) {
	r := mustBuild(t, HostURI,
		rt("exact-post", "/*").host("a.foo.com").meth("POST"),
		rt("wild-put", "/*").host("*.foo.com").meth("PUT"),
		rt("star-del", "/*").host("*").meth("DELETE"),
		rt("free", "/*"),
	)
	check(t, r, []mcase{
		{req: rq{method: "POST", host: "a.foo.com", path: "/"}, want: "exact-post"},
		{req: rq{method: "PUT", host: "a.foo.com", path: "/"}, want: "wild-put"},
		{req: rq{method: "DELETE", host: "a.foo.com", path: "/"}, want: "star-del"},
		{req: rq{method: "GET", host: "a.foo.com", path: "/"}, want: "free"},
	})
}

// In radixtree_uri modes a host is a per-route condition: ordering is by
// uri and priority only, so a higher-priority host-less route wins.
func TestURIModeHostIsCondition(t *testing.T) {
	routes := []Route{
		rt("hosted", "/x").host("a.com"),
		rt("free", "/x").prio(10),
		rt("hosted-hi", "/y").host("a.com").prio(10),
		rt("free-lo", "/y"),
		rt("wild", "/w").host("*.a.com"),
		rt("star", "/s").host("*"),
		rt("multi", "/m").host("b.com", "*.c.com", "d.com"),
	}
	for _, mode := range []Mode{URI, URIWithParameter} {
		t.Run(string(mode), func(t *testing.T) {
			check(t, mustBuild(t, mode, routes...), []mcase{
				{req: hp("a.com", "/x"), want: "free"},
				{req: hp("a.com", "/y"), want: "hosted-hi"},
				{req: hp("b.com", "/y"), want: "free-lo"},
				{req: hp("x.a.com", "/w"), want: "wild"},
				{req: hp("x.y.a.com", "/w"), want: "wild"},
				{req: hp("a.com", "/w"), want: ""},
				{req: hp("anything", "/s"), want: "star"},
				{req: hp("", "/s"), want: "star"},
				{req: hp("b.com", "/m"), want: "multi"},
				{req: hp("x.c.com", "/m"), want: "multi"},
				{req: hp("d.com", "/m"), want: "multi"},
				{req: hp("c.com", "/m"), want: ""},
				{req: hp("e.com", "/m"), want: ""},
			})
		})
	}
	// The same table in host_uri mode: host-bound first.
	check(t, mustBuild(t, HostURI, routes...), []mcase{
		{req: hp("a.com", "/x"), want: "hosted"},
		{req: hp("a.com", "/y"), want: "hosted-hi"},
		{req: hp("b.com", "/x"), want: "free"},
	})
}

// Wildcard depth: `*.foo.com` matches any depth below foo.com, never
// foo.com itself, never a host merely ending in "foo.com".
func TestWildcardDepth(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode, rt("w", "/").host("*.foo.com"))
		var cases []mcase
		host := "foo.com"
		for d := 1; d <= 8; d++ {
			host = fmt.Sprintf("l%d.%s", d, host)
			cases = append(cases, mcase{req: hp(host, "/"), want: "w"})
		}
		for _, miss := range []string{"foo.com", "xfoo.com", "foo.com.evil", "foo.co", "oo.com", ".com", ""} {
			cases = append(cases, mcase{req: hp(miss, "/"), want: ""})
		}
		cases = append(cases, mcase{req: hp(".foo.com", "/"), want: "w"})
		check(t, r, cases)
	})
}

// Host case and ports: route hosts are lower-cased at Build; the request
// host is made $host-like (lower-case, no port, no trailing dot) if the
// caller did not.
func TestHostCaseAndPort(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode,
			rt("mixed", "/a").host("API.Example.COM"),
			rt("wild", "/b").host("*.Example.COM"),
			rt("v6", "/c").host("[::1]"),
			rt("v4", "/d").host("127.0.0.1"),
		)
		check(t, r, []mcase{
			{req: hp("api.example.com", "/a"), want: "mixed"},
			{req: hp("API.EXAMPLE.COM", "/a"), want: "mixed"},
			{req: hp("Api.Example.Com:8443", "/a"), want: "mixed"},
			{req: hp("api.example.com.", "/a"), want: "mixed"},
			{req: hp("api.example.com:80", "/a"), want: "mixed"},
			{req: hp("api.example.org", "/a"), want: ""},
			{req: hp("X.EXAMPLE.COM", "/b"), want: "wild"},
			{req: hp("x.example.com:9080", "/b"), want: "wild"},
			{req: hp("[::1]", "/c"), want: "v6"},
			{req: hp("[::1]:9080", "/c"), want: "v6"},
			{req: hp("127.0.0.1:9080", "/d"), want: "v4"},
			{req: hp("127.0.0.2", "/d"), want: ""},
		})
	})
}

// A route host with ':' (a port): radixtree_uri modes compare it with the
// raw Host header; radixtree_host_uri looks up $host, so it never matches.
func TestHostWithPort(t *testing.T) {
	routes := []Route{
		rt("port", "/p").host("a.com:8080"),
		rt("wport", "/w").host("*.a.com:8080"),
		rt("both", "/b").host("a.com:8080", "b.com"),
	}
	for _, mode := range []Mode{URI, URIWithParameter} {
		t.Run(string(mode), func(t *testing.T) {
			check(t, mustBuild(t, mode, routes...), []mcase{
				{req: rq{host: "a.com", hostHeader: "a.com:8080", path: "/p"}, want: "port"},
				{req: rq{host: "a.com", hostHeader: "a.com:9090", path: "/p"}, want: ""},
				{req: rq{host: "a.com", hostHeader: "a.com", path: "/p"}, want: ""},
				{req: rq{host: "a.com", path: "/p"}, want: ""},
				// As radixtree: the raw header is not lower-cased.
				{req: rq{host: "a.com", hostHeader: "A.COM:8080", path: "/p"}, want: ""},
				{req: rq{host: "x.a.com", hostHeader: "x.a.com:8080", path: "/w"}, want: "wport"},
				{req: rq{host: "a.com", hostHeader: "a.com:8080", path: "/w"}, want: ""},
				{req: rq{host: "b.com", hostHeader: "b.com:8080", path: "/b"}, want: "both"},
				{req: rq{host: "a.com", hostHeader: "a.com:8080", path: "/b"}, want: "both"},
			})
		})
	}
	check(t, mustBuild(t, HostURI, routes...), []mcase{
		{req: rq{host: "a.com", hostHeader: "a.com:8080", path: "/p"}, want: ""},
		{req: rq{host: "a.com:8080", hostHeader: "a.com:8080", path: "/p"}, want: ""},
		{req: rq{host: "x.a.com", hostHeader: "x.a.com:8080", path: "/w"}, want: ""},
		{req: rq{host: "b.com", hostHeader: "b.com:8080", path: "/b"}, want: "both"},
		{req: rq{host: "a.com", hostHeader: "a.com:8080", path: "/b"}, want: ""},
	})
}

// Many hosts: each request still finds its own, exact or wildcard.
func TestManyHosts(t *testing.T) {
	var routes []Route
	var cases []mcase
	for i := 0; i < 200; i++ {
		h := fmt.Sprintf("svc%d.example.com", i)
		routes = append(routes,
			rt("e"+h, "/*").host(h),
			rt("w"+h, "/*").host("*."+h),
		)
		cases = append(cases,
			mcase{req: hp(h, "/x"), want: "e" + h},
			mcase{req: hp("a."+h, "/x"), want: "w" + h},
		)
	}
	// In the uri modes a host is only a condition: the catch-all needs a
	// lower priority not to come first (its id sorts before "w...").
	routes = append(routes, rt("free", "/*").prio(-1))
	cases = append(cases, mcase{req: hp("svc200.example.com", "/x"), want: "free"})
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		check(t, mustBuild(t, mode, routes...), cases)
	})
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"a.com": "a.com", "A.Com": "a.com", "a.com:80": "a.com", "a.com.": "a.com",
		"A.COM.:8080": "a.com", "[::1]": "[::1]", "[::1]:80": "[::1]", "[FE80::1]:1": "[fe80::1]",
		"": "", "localhost": "localhost", "1.2.3.4:5": "1.2.3.4",
	} {
		if got := canonicalHost(in); got != want {
			t.Errorf("canonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}
