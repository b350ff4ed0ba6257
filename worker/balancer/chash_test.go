package balancer

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// find is resty.chash's find over a ring built by makeRing.
func find(ring []point, ids []string, key string) (string, int) {
	i := search(ring, crcString(0, key))
	return ids[ring[i].node], i
}

// The figures of lua-resty-balancer's t/chash.t TEST 1: the ring holds
// the same points as resty.chash, so keys land on the same servers.
func TestCHashMatchesRestyFind(t *testing.T) {
	ids := []string{"server1", "server2", "server3"}
	ring := makeRing(ids, []int64{10, 2, 1})
	if len(ring) != 2080 {
		t.Fatalf("points = %d, want 2080", len(ring))
	}
	got := map[string]int{}
	for i := 1; i <= 100000; i++ {
		id, _ := find(ring, ids, strconv.Itoa(i))
		got[id]++
	}
	want := map[string]int{"server1": 77075, "server2": 14743, "server3": 8182}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("%s: %d keys, resty.chash gives %d", id, got[id], n)
		}
	}
}

// t/chash.t TEST 3: find("foo") and 100 steps of next.
func TestCHashMatchesRestyFindNext(t *testing.T) {
	ids := []string{"server3", "server1", "server2"} // configured order is irrelevant
	ring := makeRing(ids, []int64{1, 2, 2})
	id, idx := find(ring, ids, "foo")
	if id != "server1" || idx != 434 {
		t.Fatalf("find(foo) = %s, %d; want server1, 434", id, idx)
	}
	idx = (idx + 100) % len(ring)
	if id := ids[ring[idx].node]; id != "server2" || idx != 534 {
		t.Fatalf("100 x next = %s, %d; want server2, 534", id, idx)
	}
}

// Point k hashes crc32(id ++ le32(point k-1)), as chash_point_init does
// with its continued CRC; the node id is "host\x00port" as APISIX makes it.
func TestCHashPointDerivation(t *testing.T) {
	n := Node{Host: "127.0.0.1", Port: 1985, Weight: 1}
	ring := buildRing([]Node{n}, group{lo: 0, hi: 1})
	if len(ring) != pointsPerWeight {
		t.Fatalf("points = %d", len(ring))
	}
	var want []uint32
	prev := []byte{0, 0, 0, 0}
	for range pointsPerWeight {
		h := crc32.ChecksumIEEE(append([]byte("127.0.0.1\x001985"), prev...))
		want = append(want, h)
		binary.LittleEndian.PutUint32(prev, h)
	}
	slices.Sort(want)
	for i, p := range ring {
		if p.hash != want[i] {
			t.Fatalf("point %d = %08x, want %08x", i, p.hash, want[i])
		}
	}
}

func TestCRCString(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		b := make([]byte, r.IntN(80))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		cut := r.IntN(len(b) + 1)
		if got, want := crcString(crcString(0, string(b[:cut])), string(b[cut:])), crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("crcString(%q) = %08x, want %08x", b, got, want)
		}
	}
}

func TestCHashKey(t *testing.T) {
	vars := map[string]string{
		"arg_k":          "k1",
		"http_x_user_id": "u7",
		"cookie_sid":     "s9",
		"host":           "example.com",
		"remote_addr":    "198.51.100.4",
		"empty":          "",
		"a.b":            "dotted",
	}
	req := &Request{
		Var: func(n string) (string, bool) {
			v, ok := vars[n]
			return v, ok
		},
		RemoteAddr: "198.51.100.4",
		Consumer:   "jack",
	}
	const fallback = "198.51.100.4"
	for _, c := range []struct {
		hashOn, key string
		want        string // the string whose crc32 is the key hash
	}{
		{"", "arg_k", "k1"},
		{"vars", "arg_k", "k1"},
		{"vars", "arg_missing", fallback},
		{"vars", "empty", fallback},
		{"header", "X-User-Id", "u7"},
		{"header", "x_user_id", "u7"},
		{"header", "X-Missing", fallback},
		{"cookie", "sid", "s9"},
		{"cookie", "nope", fallback},
		{"consumer", "", "jack"},
		{"vars_combinations", "$host$arg_k", "example.comk1"},
		{"vars_combinations", "$host-${arg_k}-x", "example.com-k1-x"},
		{"vars_combinations", "${ arg_missing ?? dflt }/$arg_k", "dflt/k1"},
		{"vars_combinations", "$arg_missing:$host", ":example.com"},
		{"vars_combinations", "$a.b", "dotted"},
		{"vars_combinations", `\$host:$arg_k`, `\$host:k1`},
		{"vars_combinations", "$ ${}$$arg_k$", "$ ${}$k1$"},
		{"vars_combinations", "$empty", fallback},                   // resolved but empty
		{"vars_combinations", "$arg_missing-", fallback},            // nothing resolved
		{"vars_combinations", "no variables", fallback},             // nothing resolved
		{"vars_combinations", "${arg_missing??}x", "x"},             // empty default counts
		{"vars_combinations", "${arg_k ?? a ?? b}", "k1"},           // value wins
		{"vars_combinations", "${nope ?? a ?? b}", "a"},             // first default only
		{"vars_combinations", "$host${arg_k", "example.com${arg_k"}, // unclosed brace
	} {
		k, err := newCHashKey(c.hashOn, c.key)
		if err != nil {
			t.Fatalf("%s %q: %v", c.hashOn, c.key, err)
		}
		if got, want := k.hash(req), crc32.ChecksumIEEE([]byte(c.want)); got != want {
			t.Errorf("%s %q: hash %08x, want crc32(%q) = %08x", c.hashOn, c.key, got, c.want, want)
		}
	}

	anon := &Request{RemoteAddr: fallback}
	for _, on := range []string{"consumer", "vars", "header", "cookie", "vars_combinations"} {
		k, _ := newCHashKey(on, "$x")
		if got := k.hash(anon); got != crc32.ChecksumIEEE([]byte(fallback)) {
			t.Errorf("%s without Var/consumer: not the client address", on)
		}
	}
}

func TestCHashKeyErrors(t *testing.T) {
	for _, c := range []struct{ hashOn, key, want string }{
		{"vars", "", "balancer: key: missing key (required for hash_on vars)"},
		{"", "", "balancer: key: missing key (required for hash_on vars)"},
		{"header", "", "balancer: key: missing key (required for hash_on header)"},
		{"uri", "x", `balancer: hash_on: unsupported "uri" (want vars, header, cookie, consumer or vars_combinations)`},
	} {
		_, err := New(Config{Kind: CHash, Nodes: mkNodes(1, 1), HashOn: c.hashOn, Key: c.key})
		if err == nil || err.Error() != c.want {
			t.Errorf("hash_on %q key %q: err %v, want %s", c.hashOn, c.key, err, c.want)
		}
	}
	if _, err := New(Config{Kind: CHash, Nodes: mkNodes(1, 1), HashOn: "consumer"}); err != nil {
		t.Errorf("consumer without key: %v", err)
	}
}

// randomKeys returns n distinct pseudo-random keys, the same on every run.
func randomKeys(n int) []string {
	r := rand.New(rand.NewPCG(7, 7))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%016x", r.Uint64())
	}
	return keys
}

// arcShares is the fraction of the hash space each node owns on ring.
func arcShares(ring []point, nodes int) []float64 {
	s := make([]float64, nodes)
	prev := ring[len(ring)-1].hash
	for _, p := range ring {
		s[p.node] += float64(p.hash-prev) / (1 << 32) // wraps for the first point
		prev = p.hash
	}
	return s
}

// Two tolerances, because two things are measured. The key hash spreads
// keys over the ring: each node's share of 10,000 random keys is within
// ±10% (relative) of the share of the hash space it owns. The ring itself
// is resty.chash's, 160 points per unit of weight after the GCD division,
// so the space a node owns is only roughly its weight share (arc shares
// of 160 points vary by about ±8% at one sigma; APISIX has the same
// skew): within ±20% for these node sets.
func TestCHashDistribution(t *testing.T) {
	keys := randomKeys(10000)
	for _, weights := range [][]int{{1, 1, 1, 1}, {5, 3, 2}, {1, 2, 3, 4, 5}, {10, 10, 10, 10, 10, 10, 10, 10, 10, 10}} {
		p := mustNew(t, Config{Kind: CHash, Nodes: mkNodes(weights...)})
		got := map[string]int{}
		for _, k := range keys {
			got[name(mustPick(t, p, varReq(k), nil, nil))]++
		}
		arcs := arcShares(p.ch.rings[0], len(weights))
		total := 0
		for _, w := range weights {
			total += w
		}
		var keyDev, arcDev float64
		for i, w := range weights {
			d := float64(got[string(rune('a'+i))])/(arcs[i]*float64(len(keys))) - 1
			keyDev = max(keyDev, d, -d)
			d = arcs[i]/(float64(w)/float64(total)) - 1
			arcDev = max(arcDev, d, -d)
		}
		t.Logf("weights %v: keys %v; worst key share vs arc %.1f%%, arc vs weight %.1f%%", weights, got, 100*keyDev, 100*arcDev)
		if keyDev > 0.10 {
			t.Errorf("weights %v: a node's key share is %.1f%% off its arc share", weights, 100*keyDev)
		}
		if arcDev > 0.20 {
			t.Errorf("weights %v: a node's arc is %.1f%% off its weight share", weights, 100*arcDev)
		}
	}
}

// Adding a node moves about 1/N of the keys, all of them to the new node;
// removing one moves exactly the keys it had.
func TestCHashRemap(t *testing.T) {
	keys := randomKeys(10000)
	assign := func(p Picker) map[string]string {
		m := make(map[string]string, len(keys))
		for _, k := range keys {
			m[k] = mustPick(t, p, varReq(k), nil, nil).Host
		}
		return m
	}
	ten := mkNodes(1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	eleven := mkNodes(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	before := assign(mustNew(t, Config{Kind: CHash, Nodes: ten}))
	after := assign(mustNew(t, Config{Kind: CHash, Nodes: eleven}))
	moved := 0
	for _, k := range keys {
		if before[k] != after[k] {
			moved++
			if after[k] != eleven[10].Host {
				t.Fatalf("key %s moved from %s to %s, not to the new node", k, before[k], after[k])
			}
		}
	}
	frac := float64(moved) / float64(len(keys))
	t.Logf("add 11th node: %.2f%% of keys moved (1/11 = 9.09%%)", 100*frac)
	if frac < 0.5/11 || frac > 1.5/11 {
		t.Errorf("adding a node moved %.2f%% of keys, want about 1/11", 100*frac)
	}

	removed := ten[3].Host
	nine := slices.Delete(slices.Clone(ten), 3, 4)
	after = assign(mustNew(t, Config{Kind: CHash, Nodes: nine}))
	moved = 0
	for _, k := range keys {
		if (before[k] != after[k]) != (before[k] == removed) {
			t.Fatalf("key %s: %s -> %s after removing %s", k, before[k], after[k], removed)
		}
		if before[k] != after[k] {
			moved++
		}
	}
	t.Logf("remove 1 of 10 nodes: %.2f%% of keys moved (1/10 = 10%%)", 100*float64(moved)/float64(len(keys)))
}

func TestCHashSameKeyAcrossPickers(t *testing.T) {
	nodes := mkNodes(3, 1, 4, 1, 5, 9, 2, 6)
	shuffled := slices.Clone(nodes)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	p1 := mustNew(t, Config{Kind: CHash, Nodes: nodes})
	p2 := mustNew(t, Config{Kind: CHash, Nodes: nodes})
	p3 := mustNew(t, Config{Kind: CHash, Nodes: shuffled})
	for _, k := range randomKeys(2000) {
		a := mustPick(t, p1, varReq(k), nil, nil)
		b := mustPick(t, p2, varReq(k), nil, nil)
		c := mustPick(t, p3, varReq(k), nil, nil)
		if a != b || a.Host != c.Host {
			t.Fatalf("key %s: %s, %s, %s", k, a.Host, b.Host, c.Host)
		}
	}
}

// ringOrder is the order in which distinct nodes follow key's point.
func ringOrder(p *picker, key string) []string {
	ring := p.ch.rings[0]
	start := search(ring, crcString(0, key))
	var order []string
	for k := range ring {
		h := p.nodes[ring[(start+k)%len(ring)].node].Host
		if !slices.Contains(order, h) {
			order = append(order, h)
		}
	}
	return order
}

func TestCHashRetriesWalkTheRing(t *testing.T) {
	p := mustNew(t, Config{Kind: CHash, Nodes: mkNodes(1, 2, 1, 3, 1)})
	for _, k := range randomKeys(200) {
		want := ringOrder(p, k)
		var tried Tried
		for i, h := range want {
			if n := mustPick(t, p, varReq(k), &tried, nil); n.Host != h {
				t.Fatalf("key %s try %d: %s, want %s (ring order %v)", k, i, n.Host, h, want)
			}
		}
		if _, err := p.Pick(varReq(k), &tried, nil); !errors.Is(err, ErrNoNode) {
			t.Fatalf("key %s after all tried: %v", k, err)
		}
	}
}

// An unhealthy node's keys go to the next node on the ring; the keys of
// the other nodes stay where they are.
func TestCHashSkipsUnhealthy(t *testing.T) {
	p := mustNew(t, Config{Kind: CHash, Nodes: mkNodes(1, 1, 1, 1)})
	down := unhealthy("b")
	for _, k := range randomKeys(2000) {
		order := ringOrder(p, k)
		n := mustPick(t, p, varReq(k), nil, down)
		want := order[0]
		if want == "10.0.0.2" {
			want = order[1]
		}
		if n.Host != want {
			t.Fatalf("key %s: %s, want %s", k, n.Host, want)
		}
	}
}

func TestCHashWeightsDividedByGCD(t *testing.T) {
	a := makeRing([]string{"x", "y", "z"}, []int64{2, 4, 6})
	b := makeRing([]string{"x", "y", "z"}, []int64{1, 2, 3})
	if len(a) != 6*pointsPerWeight || !slices.Equal(a, b) {
		t.Fatalf("weights 2,4,6 give %d points, not the ring of 1,2,3", len(a))
	}
	if r := makeRing([]string{"x", "y"}, []int64{0, 0}); len(r) != 0 {
		t.Fatalf("all-zero weights: %d points", len(r))
	}
}

// Huge co-prime weights are scaled down to maxPoints, keeping proportions.
func TestCHashRingIsBounded(t *testing.T) {
	ring := makeRing([]string{"x", "y", "z"}, []int64{3_000_000, 999_999, 1})
	if len(ring) > maxPoints+3*pointsPerWeight {
		t.Fatalf("ring of %d points", len(ring))
	}
	count := [3]int{}
	for _, p := range ring {
		count[p.node]++
	}
	if r := float64(count[0]) / float64(count[1]); r < 2.9 || r > 3.1 || count[2] != pointsPerWeight {
		t.Fatalf("points per node %v", count)
	}
}

// radixSort is a stable sort by hash: equal hashes keep their order.
func TestRadixSortStable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 2, 100, 5000} {
		a := make([]point, n)
		for i := range a {
			a[i] = point{hash: r.Uint32() % 64 << (8 * r.UintN(4)), node: int32(i)}
		}
		want := slices.Clone(a)
		slices.SortStableFunc(want, func(x, y point) int { return cmp.Compare(x.hash, y.hash) })
		if got := radixSort(a); !slices.Equal(got, want) {
			t.Fatalf("%d points: not a stable sort", n)
		}
	}
}
