package balancer

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestNewErrors(t *testing.T) {
	ok := mkNodes(1)
	for _, c := range []struct {
		c    Config
		want string
	}{
		{Config{Kind: "random", Nodes: ok}, `balancer: type: unsupported balancer type "random"`},
		{Config{Nodes: []Node{{Host: "a", Port: 80, Weight: 1}, {Port: 80, Weight: 1}}}, "balancer: nodes[1].host: empty"},
		{Config{Nodes: []Node{{Host: "a", Weight: 1}}}, "balancer: nodes[0].port: 0 out of range 1..65535"},
		{Config{Nodes: []Node{{Host: "a", Port: 65536, Weight: 1}}}, "balancer: nodes[0].port: 65536 out of range 1..65535"},
		{Config{Nodes: []Node{{Host: "a", Port: 80, Weight: -1}}}, "balancer: nodes[0].weight: -1 out of range 0..2147483647"},
		{Config{Nodes: []Node{{Host: "a", Port: 80, Weight: 1 << 31}}}, "balancer: nodes[0].weight: 2147483648 out of range 0..2147483647"},
		{Config{Kind: CHash, Nodes: ok}, "balancer: key: missing key (required for hash_on vars)"},
	} {
		_, err := New(c.c)
		if err == nil || err.Error() != c.want {
			t.Errorf("New(%+v) = %v, want %s", c.c, err, c.want)
		}
	}
	// hash_on and key only matter to chash.
	if _, err := New(Config{Kind: LeastConn, Nodes: ok, HashOn: "bogus"}); err != nil {
		t.Errorf("hash_on on least_conn: %v", err)
	}
}

func TestNodeKey(t *testing.T) {
	for n, want := range map[Node]string{
		{Host: "127.0.0.1", Port: 8080}: "127.0.0.1:8080",
		{Host: "[::1]", Port: 443}:      "[::1]:443",
		{Host: "example.com", Port: 80}: "example.com:80",
	} {
		if got := n.Key(); got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
	}
}

func TestDefaultKindIsRoundRobin(t *testing.T) {
	p := mustNew(t, Config{Nodes: mkNodes(1, 1)})
	if p.kind != RoundRobin {
		t.Fatalf("kind %q", p.kind)
	}
}

// Duplicate host:port: the last one wins, as in APISIX's node map.
func TestDuplicateNodesLastWins(t *testing.T) {
	nodes := append(mkNodes(5, 1), Node{Host: "10.0.0.1", Port: 80, Weight: 0})
	p := mustNew(t, Config{Kind: RoundRobin, Nodes: nodes})
	if len(p.nodes) != 2 || p.nodes[0].Weight != 0 {
		t.Fatalf("nodes %+v", p.nodes)
	}
	for range 10 {
		if n := mustPick(t, p, nil, nil, nil); name(n) != "b" {
			t.Fatalf("picked %s, weight 0 after dedup", name(n))
		}
	}
}

func TestNoValidNode(t *testing.T) {
	for _, k := range allKinds {
		for _, nodes := range [][]Node{nil, mkNodes(0), mkNodes(0, 0, 0)} {
			p := mustNew(t, Config{Kind: k, Nodes: nodes})
			if _, err := p.Pick(varReq("x"), nil, nil); !errors.Is(err, ErrNoNode) || err.Error() != "no valid upstream node" {
				t.Errorf("%s with %d nodes of weight 0: %v", k, len(nodes), err)
			}
		}
	}
}

func TestWeightZeroTakesNoTraffic(t *testing.T) {
	for _, k := range allKinds {
		p := mustNew(t, Config{Kind: k, Nodes: mkNodes(1, 0, 3, 0)})
		for _, key := range randomKeys(1000) {
			n := mustPick(t, p, varReq(key), nil, nil)
			if n.Weight == 0 {
				t.Fatalf("%s picked %s of weight 0", k, n.Host)
			}
			p.Done(n, time.Millisecond, false)
		}
		// Not as a last resort either.
		var tried Tried
		mustPick(t, p, varReq("k"), &tried, nil)
		mustPick(t, p, varReq("k"), &tried, nil)
		if n, err := p.Pick(varReq("k"), &tried, nil); !errors.Is(err, ErrNoNode) {
			t.Fatalf("%s: third try got %s, %v", k, n.Host, err)
		}
	}
}

// One node and kind != least_conn: always that node, retries included,
// whatever its health.
func TestSingleNode(t *testing.T) {
	for _, k := range []Kind{RoundRobin, CHash, EWMA} {
		p := mustNew(t, Config{Kind: k, Nodes: mkNodes(7)})
		var tried Tried
		for i := range 5 {
			n := mustPick(t, p, varReq("k"), &tried, unhealthy("a"))
			if name(n) != "a" {
				t.Fatalf("%s try %d: %s", k, i, n.Host)
			}
		}
		if tried.Len() != 1 {
			t.Fatalf("%s: tried holds %d", k, tried.Len())
		}
	}
}

func TestRetriesNeverRepeat(t *testing.T) {
	for _, k := range allKinds {
		p := mustNew(t, Config{Kind: k, Nodes: mkNodes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)})
		for _, key := range randomKeys(50) {
			var tried Tried
			seen := map[string]bool{}
			for i := range 12 {
				n := mustPick(t, p, varReq(key), &tried, nil)
				if seen[n.Host] {
					t.Fatalf("%s try %d re-picked %s", k, i, n.Host)
				}
				seen[n.Host] = true
				p.Done(n, time.Millisecond, true)
			}
			if _, err := p.Pick(varReq(key), &tried, nil); !errors.Is(err, ErrNoNode) {
				t.Fatalf("%s: 13th try: %v", k, err)
			}
		}
	}
}

func TestHealthFiltering(t *testing.T) {
	for _, k := range allKinds {
		p := mustNew(t, Config{Kind: k, Nodes: mkNodes(1, 1, 1, 1)})
		down := unhealthy("a", "c")
		for _, key := range randomKeys(500) {
			n := mustPick(t, p, varReq(key), nil, down)
			if name(n) == "a" || name(n) == "c" {
				t.Fatalf("%s picked unhealthy %s", k, name(n))
			}
			p.Done(n, time.Millisecond, false)
		}
		// The healthy ones tried: the unhealthy ones are not a fallback.
		var tried Tried
		mustPick(t, p, varReq("k"), &tried, down)
		mustPick(t, p, varReq("k"), &tried, down)
		if n, err := p.Pick(varReq("k"), &tried, down); !errors.Is(err, ErrNoNode) {
			t.Fatalf("%s: healthy nodes tried, got %s, %v", k, n.Host, err)
		}
		// All unhealthy: all are used, retries still move on.
		allDown := unhealthy("a", "b", "c", "d")
		tried.Reset()
		seen := map[string]bool{}
		for range 4 {
			seen[name(mustPick(t, p, varReq("k"), &tried, allDown))] = true
		}
		if len(seen) != 4 {
			t.Fatalf("%s all unhealthy: %v", k, seen)
		}
	}
}

// Priorities: the highest group first, a lower one only once every node
// above is tried or unhealthy (or of weight 0).
func TestPriorityGroups(t *testing.T) {
	nodes := mkNodes(1, 1, 1, 1, 1, 5)
	prio := []int{0, 10, 0, -5, 10, 0} // groups: 10 {b,e}, 0 {a,c,f}, -5 {d}
	for i := range nodes {
		nodes[i].Priority = prio[i]
	}
	groups := [][]string{{"b", "e"}, {"a", "c", "f"}, {"d"}}
	for _, k := range allKinds {
		p := mustNew(t, Config{Kind: k, Nodes: nodes})
		for _, key := range randomKeys(200) {
			var tried Tried
			for g, members := range groups {
				for range members {
					n := mustPick(t, p, varReq(key), &tried, nil)
					if !slices.Contains(members, name(n)) {
						t.Fatalf("%s key %s: picked %s while group %d %v has untried nodes", k, key, name(n), g, members)
					}
					p.Done(n, time.Millisecond, false)
				}
			}
			if _, err := p.Pick(varReq(key), &tried, nil); !errors.Is(err, ErrNoNode) {
				t.Fatalf("%s: all groups tried: %v", k, err)
			}
		}
		// The top group unhealthy: the next one serves first tries.
		for _, key := range randomKeys(100) {
			n := mustPick(t, p, varReq(key), nil, unhealthy("b", "e"))
			if !slices.Contains(groups[1], name(n)) {
				t.Fatalf("%s: top group down, picked %s", k, name(n))
			}
			p.Done(n, time.Millisecond, false)
		}
		// Every node down: health is ignored, the top group serves again.
		n := mustPick(t, p, varReq("k"), nil, func(Node) bool { return false })
		if !slices.Contains(groups[0], name(n)) {
			t.Fatalf("%s: all down, picked %s", k, name(n))
		}
		p.Done(n, time.Millisecond, false)
	}
	// A top group of weight 0 only is skipped.
	zero := mkNodes(0, 1)
	zero[0].Priority = 1
	for _, k := range allKinds {
		p := mustNew(t, Config{Kind: k, Nodes: zero})
		if n := mustPick(t, p, varReq("k"), nil, nil); name(n) != "b" {
			t.Fatalf("%s: picked %s", k, name(n))
		}
	}
}

func TestPickAllocations(t *testing.T) {
	req := varReq("some-user-key")
	healthy := func(Node) bool { return true }
	for _, k := range allKinds {
		for _, size := range []int{3, 100} {
			weights := make([]int, size)
			for i := range weights {
				weights[i] = 1 + i%5
			}
			p := mustNew(t, Config{Kind: k, Nodes: mkNodes(weights...)})
			var tried Tried
			allocs := testing.AllocsPerRun(1000, func() {
				tried.Reset()
				for range 3 { // a first try and two retries
					n, err := p.Pick(req, &tried, healthy)
					if err != nil {
						t.Fatal(err)
					}
					p.Done(n, time.Millisecond, false)
				}
			})
			if allocs != 0 {
				t.Errorf("%s with %d nodes: %.1f allocations per request", k, size, allocs)
			}
		}
	}
}

func TestTried(t *testing.T) {
	var tr Tried
	nodes := mkNodes(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	if tr.Has(nodes[0]) || tr.Len() != 0 {
		t.Fatal("zero Tried not empty")
	}
	if a := testing.AllocsPerRun(100, func() {
		tr.Reset()
		for _, n := range nodes[:8] {
			tr.Add(n)
		}
	}); a != 0 {
		t.Fatalf("8 nodes: %.1f allocations", a)
	}
	for _, n := range nodes {
		tr.Add(n)
		tr.Add(n)
	}
	if tr.Len() != 12 {
		t.Fatalf("Len %d", tr.Len())
	}
	for _, n := range nodes {
		if !tr.Has(n) {
			t.Fatalf("lost %s", n.Host)
		}
	}
	if tr.Has(Node{Host: "10.0.0.1", Port: 81}) {
		t.Fatal("port ignored")
	}
	tr.Reset()
	if tr.Len() != 0 || tr.Has(nodes[0]) || tr.Has(nodes[11]) {
		t.Fatal("Reset kept nodes")
	}
	if a := testing.AllocsPerRun(100, func() {
		tr.Reset()
		for _, n := range nodes {
			tr.Add(n)
		}
	}); a != 0 {
		t.Fatalf("reused Tried of 12: %.1f allocations", a)
	}
}
