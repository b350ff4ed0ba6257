package router

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// dump renders a router's structure canonically: every table, trie edge
// and candidate list, and the id index. Two routers with equal dumps are
// the same table (generations and pointers aside).
func dump(r *Router) string {
	var b strings.Builder
	list := func(cs *cands) string {
		var parts []string
		for _, c := range cs.list {
			parts = append(parts, fmt.Sprintf("%s#%d/%d", c.route.ID, c.uri, c.priority))
		}
		return strings.Join(parts, ",")
	}
	table := func(name string, t *uriTable) {
		fmt.Fprintf(&b, "table %q\n", name)
		for _, k := range slices.Sorted(maps.Keys(t.exact)) {
			fmt.Fprintf(&b, "  exact %q: %s\n", k, list(t.exact[k]))
		}
		dumpTrie(&b, t.prefix.root, "  ", list)
	}
	table("", r.plain)
	if r.hosts != nil {
		for _, h := range slices.Sorted(maps.Keys(r.hosts.exact)) {
			table(h, r.hosts.exact[h])
		}
		dumpTrie(&b, r.hosts.wild.root, "wild ", func(t *uriTable) string {
			var sub strings.Builder
			dumpTrie(&sub, t.prefix.root, "", list)
			return fmt.Sprintf("%d exact %s", len(t.exact), sub.String())
		})
	}
	dumpTrie(&b, r.ids.root, "id ", func(e *entry) string { return e.route.ID })
	return b.String()
}

func dumpTrie[V any](b *strings.Builder, n *tnode[V], indent string, val func(V) string) {
	if n == nil {
		return
	}
	fmt.Fprintf(b, "%s%q", indent, n.label)
	if n.set {
		fmt.Fprintf(b, " = %s", val(n.val))
	}
	b.WriteString("\n")
	for i, c := range n.kids {
		if c.label[0] != n.keys[i] {
			fmt.Fprintf(b, "%sBAD KEY %q for %q\n", indent, n.keys[i], c.label)
		}
		if !c.set && len(c.kids) < 2 {
			fmt.Fprintf(b, "%sNOT COMPACT %q\n", indent, c.label)
		}
		dumpTrie(b, c, indent+"  ", val)
	}
}

// Update equals Build over the resulting routes: random batches of adds,
// replacements, disables and deletes agree with the reference, leave the
// structure a fresh Build gives (compact tries, no empty tables), and never
// change an earlier version.
func TestUpdateEqualsBuild(t *testing.T) {
	g := routeGen{rand.New(rand.NewSource(7))}
	for round := 0; round < 60; round++ {
		for _, mode := range allModes {
			type version struct {
				r      *Router
				routes []Route
				dump   string
			}
			cur := map[string]Route{}
			r := mustBuild(t, mode)
			var versions []version
			for step := 0; step < 25; step++ {
				var del []string
				var add []Route
				for k := g.rng.Intn(4) + 1; k > 0; k-- {
					id := fmt.Sprint("r", g.rng.Intn(12))
					if g.rng.Intn(3) == 0 {
						del = append(del, id)
					} else if !slices.ContainsFunc(add, func(r Route) bool { return r.ID == id }) {
						add = append(add, g.route(id))
					}
				}
				for _, id := range del {
					delete(cur, id)
				}
				for _, rt := range add {
					cur[rt.ID] = rt // a disabled route stays listed: neither side serves it
				}
				next, err := r.Update(del, add)
				if err != nil {
					t.Fatal(err)
				}
				routes := slices.Collect(maps.Values(cur))
				agrees(t, g, mode, next, routes, 20)
				d := dump(next)
				if want := dump(mustBuild(t, mode, routes...)); d != want {
					t.Fatalf("%s: after Update(%v, %d routes):\n%s\nBuild gives:\n%s", mode, del, len(add), d, want)
				}
				versions = append(versions, version{next, routes, d})
				r = next
			}
			for i, v := range versions {
				if d := dump(v.r); d != v.dump {
					t.Fatalf("%s: version %d changed after later updates:\n%s\nwas:\n%s", mode, i, d, v.dump)
				}
				agrees(t, g, mode, v.r, v.routes, 10)
			}
		}
	}
}

// A failing Update returns no router and leaves the one it was called on
// serving as before.
func TestUpdateError(t *testing.T) {
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		r := mustBuild(t, mode, rt("a", "/a"), rt("b", "/b/*"))
		before := dump(r)
		for _, add := range [][]Route{
			{rt("c", "/c"), rt("bad", "/x").vars([]any{"arg_x", "X", "1"})},
			{rt("c", "/c"), rt("c", "/d")},
			{rt("a", "/a2"), rt("nouri")},
		} {
			if nr, err := r.Update([]string{"b"}, add); err == nil || nr != nil {
				t.Errorf("Update(%v) = %v, %v; want an error", add, nr, err)
			}
		}
		if dump(r) != before {
			t.Fatal("a failed Update changed the router")
		}
		check(t, r, []mcase{{req: p("/a"), want: "a"}, {req: p("/b/x"), want: "b"}, {req: p("/c"), want: ""}})
	})
}

// Build rejects an id given twice, disabled or not.
func TestBuildDuplicateID(t *testing.T) {
	if _, err := Build(HostURI, []Route{rt("a", "/a"), rt("a", "/b").status(0)}); err == nil || !strings.Contains(err.Error(), "route a: duplicate id") {
		t.Fatalf("err = %v", err)
	}
}
