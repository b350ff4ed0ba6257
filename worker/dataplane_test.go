package worker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/store"
)

// item validates raw as an item of kind, as the store does.
func item(t testing.TB, kind resource.Kind, id, raw string) *store.Item {
	t.Helper()
	v, err := resource.Validate(kind, []byte(raw))
	if err != nil {
		t.Fatalf("%s/%s: %v", kind, id, err)
	}
	return &store.Item{Kind: string(kind), ID: id, Key: "/apisix/" + string(kind) + "/" + id, Value: v, Raw: []byte(raw)}
}

// A route the router cannot compile is left out; the others are served.
func TestBuildLeavesOutUncompilableRoutes(t *testing.T) {
	items := map[string]map[string]*store.Item{"routes": {}}
	for id, raw := range map[string]string{
		"good": `{"uri":"/good","upstream":{"nodes":{"127.0.0.1:1980":1}}}`,
		// Look-ahead: valid PCRE, accepted by the schema, not by Go's RE2.
		"bad": `{"uri":"/bad","vars":[["arg_x","~~","^(?=a)"]],"upstream":{"nodes":{"127.0.0.1:1980":1}}}`,
	} {
		items["routes"][id] = item(t, resource.Routes, id, raw)
	}
	dp, err := buildDataPlane(store.NewSnapshot(items, 1), router.HostURI, &builder{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dp.skipped == nil {
		t.Error("the bad route was not reported")
	}
	if _, ok := dp.router.Match(&router.Request{Method: "GET", Host: "x", Path: "/good"}); !ok {
		t.Error("the good route is not served")
	}
}

// randomChange puts or deletes one route, service or upstream. Routes reach
// their upstream inline, by upstream_id or through a service (which may be
// missing), may inherit the service's hosts, and are now and then disabled
// or uncompilable; every upstream has a single node naming its version, so
// the node picked tells which version a route resolved to.
func randomChange(t testing.TB, rng *rand.Rand, version int) store.Change {
	kind := []resource.Kind{resource.Routes, resource.Routes, resource.Services, resource.Upstreams}[rng.IntN(4)]
	n := rng.IntN(4)
	id := fmt.Sprintf("%c%d", kind[0], n)
	c := store.Change{Kind: string(kind), ID: id}
	if rng.IntN(5) == 0 {
		return c
	}
	inline := fmt.Sprintf(`{"nodes":{"10.%d.%d.%d:80":1}}`, rng.IntN(3), n, version%250)
	var raw string
	switch kind {
	case resource.Upstreams:
		raw = fmt.Sprintf(`{"nodes":{"10.9.%d.%d:80":1},"timeout":{"connect":%d,"send":1,"read":1}}`, n, version%250, rng.IntN(3)+1)
	case resource.Services:
		fields := []string{fmt.Sprintf(`"upstream":%s`, inline), fmt.Sprintf(`"upstream_id":"u%d"`, rng.IntN(4))}
		raw = "{" + fields[rng.IntN(2)]
		if rng.IntN(2) == 0 {
			raw += fmt.Sprintf(`,"hosts":["h%d.com"]`, rng.IntN(2))
		}
		raw += "}"
	default:
		uri := []string{fmt.Sprintf("/p%d", rng.IntN(3)), fmt.Sprintf("/p%d/*", rng.IntN(3))}[rng.IntN(2)]
		raw = fmt.Sprintf(`{"uri":%q,"priority":%d`, uri, rng.IntN(3))
		switch rng.IntN(3) {
		case 0:
			raw += `,"upstream":` + inline
		case 1:
			raw += fmt.Sprintf(`,"upstream_id":"u%d"`, rng.IntN(4))
		default:
			raw += fmt.Sprintf(`,"service_id":"s%d"`, rng.IntN(4))
		}
		if rng.IntN(3) == 0 {
			raw += fmt.Sprintf(`,"host":"h%d.com"`, rng.IntN(2))
		}
		switch rng.IntN(10) {
		case 0:
			raw += `,"status":0`
		case 1:
			raw += `,"vars":[["arg_x","~~","^(?=a)"]]`
		}
		raw += "}"
	}
	c.Item = item(t, kind, id, raw)
	return c
}

// serves describes what dp does with a request: the route, its status or
// its upstream settings and the node picked.
func serves(dp *dataPlane, host, path string) string {
	m, ok := dp.router.Match(&router.Request{Method: "GET", Host: host, Path: path})
	if !ok {
		return "404"
	}
	tg := m.Route.Value.(*target)
	if tg.status != 0 {
		return fmt.Sprintf("%s: %d", m.Route.ID, tg.status)
	}
	u := tg.upstream
	node, err := u.Pick(&reqVars{r: httptest.NewRequest("GET", path, nil)}, 0, nil)
	return fmt.Sprintf("%s: %v %s tries %d %+v %v", m.Route.ID, m.Route.Hosts, u.PassHost, u.Tries, u.Pool, []any{node, err})
}

// Building from the previous build equals building from scratch, after
// every kind of change, and balancers outlive the builds that keep using
// them while those of gone upstream versions are dropped.
func TestIncrementalBuildEqualsFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var reqs [][2]string
	for _, host := range []string{"h0.com", "h1.com", "x.com"} {
		for k := range 3 {
			reqs = append(reqs, [2]string{host, fmt.Sprintf("/p%d", k)}, [2]string{host, fmt.Sprintf("/p%d/x", k)})
		}
	}
	b := &builder{}
	snap := store.NewSnapshot(nil, 1)
	for step := range 400 {
		var changes []store.Change
		for range rng.IntN(3) + 1 {
			changes = append(changes, randomChange(t, rng, step))
		}
		snap = snap.Apply(int64(step+2), changes...)
		before := maps.Clone(b.pickers)
		dp, err := buildDataPlane(snap, router.HostURI, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		fresh := &builder{}
		full, err := buildDataPlane(snap, router.HostURI, fresh, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range reqs {
			if got, want := serves(dp, q[0], q[1]), serves(full, q[0], q[1]); got != want {
				t.Fatalf("step %d, %s%s: incremental %q, full %q", step, q[0], q[1], got, want)
			}
		}
		if !maps.EqualFunc(b.pickers, fresh.pickers, func(a, b *sharedPicker) bool { return a.refs == b.refs }) {
			t.Fatalf("step %d: %d balancers, a full build has %d (or other reference counts)", step, len(b.pickers), len(fresh.pickers))
		}
		for key, sp := range b.pickers {
			if old := before[key]; old != nil && old != sp {
				t.Fatalf("step %d: balancer of %s replaced though it did not change", step, key.Key)
			}
		}
		// An incremental build reports the routes it left out among those it
		// compiled again; a full build reports them all.
		if dp.skipped != nil && !strings.Contains(fmt.Sprint(full.skipped), dp.skipped.Error()) {
			t.Fatalf("step %d: skipped %v, full build %v", step, dp.skipped, full.skipped)
		}
	}
}

// benchTable is a snapshot of n routes shaped like bench/load's.
func benchTable(b *testing.B, n int) *store.Snapshot {
	routes := make(map[string]*store.Item, n)
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		routes[id] = item(b, resource.Routes, id, fmt.Sprintf(`{"uri":"/r/%d/*","upstream":{"nodes":{"127.0.0.1:1980":1}}}`, i))
	}
	return store.NewSnapshot(map[string]map[string]*store.Item{string(resource.Routes): routes}, 1)
}

// BenchmarkBuildFull10kRoutes: a worker's first build of 10,000 routes.
func BenchmarkBuildFull10kRoutes(b *testing.B) {
	snap := benchTable(b, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildDataPlane(snap, router.HostURI, &builder{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOneChange10kRoutes: what one route put costs a worker serving
// 10,000 routes, etcd aside: validating the value, publishing the snapshot
// (store) and building the data plane from the previous one.
func BenchmarkOneChange10kRoutes(b *testing.B) {
	snap := benchTable(b, 10000)
	bld := &builder{}
	if _, err := buildDataPlane(snap, router.HostURI, bld, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	rev := snap.Revision
	for b.Loop() {
		rev++
		it := item(b, resource.Routes, "fresh", fmt.Sprintf(`{"uri":"/fresh/%d","upstream":{"nodes":{"127.0.0.1:1980":1}}}`, rev))
		snap = snap.Apply(rev, store.Change{Kind: it.Kind, ID: it.ID, Item: it})
		if _, err := buildDataPlane(snap, router.HostURI, bld, nil); err != nil {
			b.Fatal(err)
		}
	}
}
