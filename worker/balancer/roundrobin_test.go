package balancer

import (
	"strings"
	"sync"
	"testing"
)

func sequence(t *testing.T, p Picker, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(name(mustPick(t, p, nil, nil, nil)))
	}
	return b.String()
}

// nginx's smooth WRR: {5,1,1} interleaves, where APISIX's resty.roundrobin
// gives aaaaabc.
func TestRoundRobinSmoothSequence(t *testing.T) {
	for _, c := range []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{[]int{1, 1, 1}, "abcabc"},
		{[]int{2, 1}, "abaaba"},
		{[]int{4, 2, 1}, "abacaba"},
		{[]int{10, 20}, "babbab"}, // the GCD changes nothing
		{[]int{3, 0, 2}, "acaca"},
	} {
		p := mustNew(t, Config{Kind: RoundRobin, Nodes: mkNodes(c.weights...), Deterministic: true})
		if got := sequence(t, p, len(c.want)); got != c.want {
			t.Errorf("weights %v: %s, want %s", c.weights, got, c.want)
		}
	}
}

// Exact: the sequence repeats every sum(weights/gcd) picks, so 10,000 picks
// (a multiple of 10) give exactly 5000/3000/2000, from any start.
func TestRoundRobinExactDistribution(t *testing.T) {
	for _, det := range []bool{true, false} {
		p := mustNew(t, Config{Kind: RoundRobin, Nodes: mkNodes(5, 3, 2, 0), Deterministic: det})
		got := map[string]int{}
		for range 10000 {
			got[name(mustPick(t, p, nil, nil, nil))]++
		}
		if got["a"] != 5000 || got["b"] != 3000 || got["c"] != 2000 || got["d"] != 0 {
			t.Errorf("deterministic=%v: %v, want a:5000 b:3000 c:2000", det, got)
		}
	}
}

// Without Deterministic each picker starts at a random point of its cycle,
// as APISIX starts at a random node, so workers do not move in step.
func TestRoundRobinRandomStart(t *testing.T) {
	first := map[string]int{}
	for range 400 {
		p := mustNew(t, Config{Kind: RoundRobin, Nodes: mkNodes(1, 1, 1, 1)})
		first[name(mustPick(t, p, nil, nil, nil))]++
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if first[n] < 50 { // expect 100 each
			t.Errorf("first picks %v: not spread", first)
		}
	}
	for range 20 {
		p := mustNew(t, Config{Kind: RoundRobin, Nodes: mkNodes(1, 1, 1, 1), Deterministic: true})
		if n := name(mustPick(t, p, nil, nil, nil)); n != "a" {
			t.Fatalf("deterministic picker started at %s", n)
		}
	}
}

// Exact under concurrency: the mutex serialises picks, so 8 goroutines
// making 10,000 picks in all still get exactly 5000/3000/2000.
func TestRoundRobinConcurrent(t *testing.T) {
	p := mustNew(t, Config{Kind: RoundRobin, Nodes: mkNodes(5, 3, 2)})
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := map[string]int{}
			for range 1250 {
				n, err := p.Pick(nil, nil, nil)
				if err != nil {
					t.Error(err)
					return
				}
				local[name(n)]++
			}
			mu.Lock()
			for k, v := range local {
				got[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if got["a"] != 5000 || got["b"] != 3000 || got["c"] != 2000 {
		t.Errorf("%v, want a:5000 b:3000 c:2000", got)
	}
}

// Retries skip tried nodes without disturbing the others' share: with a
// tried, b and c alternate by weight.
func TestRoundRobinRetryKeepsShares(t *testing.T) {
	p := mustNew(t, Config{Kind: RoundRobin, Nodes: mkNodes(5, 2, 1), Deterministic: true})
	got := map[string]int{}
	for range 3000 {
		var tried Tried
		tried.Add(mkNodes(5)[0]) // a
		got[name(mustPick(t, p, nil, &tried, nil))]++
	}
	if got["a"] != 0 || got["b"] != 2000 || got["c"] != 1000 {
		t.Errorf("retries after a: %v, want b:2000 c:1000", got)
	}
}
