package router

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// radixtree_uri_with_parameter, after lua-resty-radixtree's t/parameter.t.
func TestParameterMode(t *testing.T) {
	type tc struct {
		name   string
		routes []Route
		cases  []mcase
	}
	m := func(kv ...string) map[string]string {
		out := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, c := range []tc{
		{"named-wildcard", []Route{rt("r", "/name/*name")}, []mcase{
			{req: p("/name/json"), want: "r", params: m("name", "json")},
			{req: p("/name/"), want: "r", params: m("name", "")},
			{req: p("/name/a/b/c"), want: "r", params: m("name", "a/b/c")},
			{req: p("/name"), want: ""},
		}},
		{"bare-wildcard-is-ext", []Route{rt("r", "/name/*")}, []mcase{
			{req: p("/name/json/foo/bar"), want: "r", params: m(":ext", "json/foo/bar")},
			{req: p("/name/"), want: "r", params: m(":ext", "")},
		}},
		{"two-params", []Route{rt("r", "/name/:name/id/:id")}, []mcase{
			{req: p("/name/json/id/1"), want: "r", params: m("name", "json", "id", "1")},
			{req: p("/name/json/id/"), want: ""},
			{req: p("/name/json"), want: ""},
			{req: p("/name/json/id/1/2"), want: ""},
			{req: p("/name//id/1"), want: ""},
		}},
		{"params-and-rest", []Route{rt("r", "/name/:name/id/:id/*other")}, []mcase{
			{req: p("/name/json/id/1/foo/bar/gloo"), want: "r", params: m("name", "json", "id", "1", "other", "foo/bar/gloo")},
			{req: p("/name/json/id/1"), want: ""},
		}},
		{"param-then-literal", []Route{rt("r", "/name/:name/foo")}, []mcase{
			{req: p("/name/json/foo"), want: "r", params: m("name", "json")},
			{req: p("/name/json"), want: ""},
			{req: p("/name/json/foo/x"), want: ""},
			{req: p("/name/json/fo"), want: ""},
		}},
		{"leading-param", []Route{rt("r", "/:name/foo")}, []mcase{
			{req: p("/json/"), want: ""},
			{req: p("/json/bar"), want: ""},
			{req: p("/json/foo"), want: "r", params: m("name", "json")},
			{req: p("/json/foo/bar"), want: ""},
		}},
		{"special-chars", []Route{rt("r", "/file/:filename")}, []mcase{
			{req: p("/file/123&45@dd:d=test;"), want: "r", params: m("filename", "123&45@dd:d=test;")},
			{req: p("/file/test_a-b+c.lua$"), want: "r", params: m("filename", "test_a-b+c.lua$")},
			{req: p("/file/t!e*s't,(file)"), want: "r", params: m("filename", "t!e*s't,(file)")},
			{req: p("/file/json%20space"), want: "r", params: m("filename", "json%20space")},
			{req: p("/file/a b"), want: "r", params: m("filename", "a b")},
		}},
		{"same-key-longer-first", []Route{rt("short", "/user/:user"), rt("long", "/user/:user/age/:age")}, []mcase{
			{req: p("/user/foo"), want: "short", params: m("user", "foo")},
			{req: p("/user/foo/age/26"), want: "long", params: m("user", "foo", "age", "26")},
			{req: p("/user/foo/age"), want: ""},
		}},
		{"long-medium-short", []Route{
			rt("long", "/api/:version/test/api/projects/:project_id/clusters/:cluster_id/nodes/?"),
			rt("medium", "/api/:version/test/api/projects/:project_id"),
			rt("short", "/api/:version/test/*subpath"),
		}, []mcase{
			{req: p("/api/v4/test/api/projects/saas/clusters/123/nodes/"), want: "long"},
			{req: p("/api/v4/test/api/projects/saas/clusters/123/nodes"), want: "long"},
			{req: p("/api/v4/test/api"), want: "short", params: m("version", "v4", "subpath", "api")},
			{req: p("/api/v4/test/api/projects/saas"), want: "medium", params: m("version", "v4", "project_id", "saas")},
		}},
		{"trailing-slash", []Route{rt("r", "/name/:name/")}, []mcase{
			{req: p("/name/json/"), want: "r", params: m("name", "json")},
			{req: p("/name/json"), want: ""},
		}},
		{"exact-beats-param", []Route{rt("param", "/user/:id").prio(100), rt("exact", "/user/me")}, []mcase{
			{req: p("/user/me"), want: "exact"},
			{req: p("/user/you"), want: "param", params: m("id", "you")},
		}},
		{"longer-prefix-beats-param", []Route{rt("param", "/a/:x/c").prio(100), rt("pfx", "/a/b/*")}, []mcase{
			{req: p("/a/b/c"), want: "pfx"},
			{req: p("/a/z/c"), want: "param", params: m("x", "z")},
		}},
		{"colon-mid-item-is-prefix", []Route{rt("r", "/a:b")}, []mcase{
			// radixtree cuts at the first ':' and the item does not start
			// with ':', so no name: a plain prefix "/a".
			{req: p("/a"), want: "r"},
			{req: p("/axyz"), want: "r"},
			{req: p("/a:b"), want: "r"},
			{req: p("/b"), want: ""},
		}},
		{"empty-name", []Route{rt("r", "/x/:")}, []mcase{
			{req: p("/x/1"), want: "r", params: m("", "1")},
		}},
		{"param-fails-falls-through", []Route{rt("param", "/a/:x").prio(5), rt("rest", "/a/*")}, []mcase{
			{req: p("/a/1"), want: "param", params: m("x", "1")},
			{req: p("/a/1/2"), want: "rest", params: m(":ext", "1/2")},
			{req: p("/a/"), want: "rest", params: m(":ext", "")},
		}},
		{"literal-items-are-regexp", []Route{rt("r", "/v1.0/:id"), rt("plus", "/a+b/*")}, []mcase{
			{req: p("/v1.0/7"), want: "r", params: m("id", "7")},
			// radixtree: the literal "a+b" is regexp text, so "/a+b/x"
			// passes the prefix but not the pattern.
			{req: p("/a+b/x"), want: ""},
		}},
		{"colon-cuts-before-star", []Route{rt("r", "/f/*path/:file")}, []mcase{
			// Parameter mode cuts the stored prefix at the first ':', so
			// "*path" is part of the literal prefix (radixtree does this).
			{req: p("/f/a/b/c.txt"), want: ""},
			{req: p("/f/*path/c.txt"), want: "r", params: m("path", "*path", "file", "c.txt")},
		}},
	} {
		t.Run(c.name, func(t *testing.T) { check(t, mustBuild(t, URIWithParameter, c.routes...), c.cases) })
	}
}

// Outside parameter mode `:name` is literal; a named wildcard still
// captures; a bare `*` exposes nothing (no allocation).
func TestParamsOtherModes(t *testing.T) {
	for _, mode := range []Mode{HostURI, URI} {
		t.Run(string(mode), func(t *testing.T) {
			r := mustBuild(t, mode,
				rt("lit", "/name/:name"),
				rt("named", "/rest/*rest"),
				rt("bare", "/bare/*"),
				rt("mixed", "/m/:id/*"),
				rt("mid", "/f/*path/:file"),
			)
			check(t, r, []mcase{
				{req: p("/name/:name"), want: "lit"},
				{req: p("/name/json"), want: ""},
				{req: p("/rest/a/b"), want: "named", params: map[string]string{"rest": "a/b"}},
				{req: p("/rest/"), want: "named", params: map[string]string{"rest": ""}},
				// `:id` is literal in the stored prefix; the pattern then
				// captures it like radixtree does.
				{req: p("/m/:id/x"), want: "mixed", params: map[string]string{"id": ":id"}},
				{req: p("/m/7/x"), want: ""},
				{req: p("/f/a/b/c.txt"), want: "mid", params: map[string]string{"path": "a/b", "file": "c.txt"}},
				{req: p("/f/c.txt"), want: ""},
			})
			m, ok := r.Match(p("/bare/x/y").request())
			if !ok || m.Route.ID != "bare" || m.Params != nil {
				t.Fatalf("bare: %+v %v", m, ok)
			}
		})
	}
}

// The item walker (pattern.segs) must give exactly the regexp's answer and
// captures: generated uris and paths, both engines, every combination.
func TestPatternWalkMatchesRegexp(t *testing.T) {
	items := []string{"a", "b", ":x", ":y", "", "ab", "*", "*r", "a-b", "é"}
	pathItems := []string{"a", "b", "", "ab", "x", "a-b", "é", "a/b", "\n"}
	rng := rand.New(rand.NewSource(7))
	walked := 0
	for i := 0; i < 3000; i++ {
		var u strings.Builder
		for n := rng.Intn(4) + 1; n > 0; n-- {
			u.WriteString("/" + items[rng.Intn(len(items))])
		}
		if rng.Intn(3) == 0 {
			u.WriteString("/")
		}
		uri := u.String()
		if !strings.ContainsAny(uri, ":*") {
			continue
		}
		s, err := parseURI(uri, true)
		if err != nil {
			t.Fatal(err)
		}
		if s.pat == nil || s.pat.segs == nil {
			continue
		}
		walked++
		viaRE := *s.pat
		viaRE.segs, viaRE.trivial = nil, false
		if err := viaRE.compile(); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 30; k++ {
			var pb strings.Builder
			for n := rng.Intn(5); n >= 0; n-- {
				pb.WriteString("/" + pathItems[rng.Intn(len(pathItems))])
			}
			path := pb.String()
			if rng.Intn(2) == 0 {
				path = s.key + strings.TrimPrefix(path, "/")
			}
			if !strings.HasPrefix(path, s.key) {
				continue // the trie never hands such a path to the pattern
			}
			for _, ext := range []bool{false, true} {
				g1, ok1 := s.pat.match(path, ext)
				g2, ok2 := viaRE.match(path, ext)
				if ok1 != ok2 || !reflect.DeepEqual(g1, g2) {
					t.Fatalf("uri %q path %q ext=%v: walk %v %v, regexp %v %v", uri, path, ext, g1, ok1, g2, ok2)
				}
			}
		}
	}
	if walked < 500 {
		t.Fatalf("only %d walkable uris generated", walked)
	}
}
