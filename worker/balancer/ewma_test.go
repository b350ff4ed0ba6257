package balancer

import (
	"errors"
	"math"
	"testing"
	"time"
)

// fakeClock replaces p's ewma clock; advance it by assigning *now.
func fakeClock(p *picker) *int64 {
	now := int64(1)
	p.ew.now = func() int64 { return now }
	return &now
}

// simulate runs n sequential requests, each taking its node's latency and
// advancing the clock by step, and counts picks per node.
func simulate(t *testing.T, p *picker, now *int64, latency map[string]time.Duration, n int, step time.Duration) map[string]int {
	got := map[string]int{}
	for range n {
		node := mustPick(t, p, nil, nil, nil)
		got[name(node)]++
		p.Done(node, latency[name(node)], false)
		*now += int64(step)
	}
	return got
}

// Tolerance: after a warm-up of 1,000 requests, the fast node takes more
// than 80% of the next 10,000 when the other is 10x slower.
func TestEWMAPrefersFastNode(t *testing.T) {
	p := mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1), Deterministic: true})
	now := fakeClock(p)
	lat := map[string]time.Duration{"a": 100 * time.Millisecond, "b": 10 * time.Millisecond}
	simulate(t, p, now, lat, 1000, time.Millisecond)
	got := simulate(t, p, now, lat, 10000, time.Millisecond)
	share := float64(got["b"]) / 10000
	t.Logf("2 nodes, a 10x slower: %v, fast share %.1f%%", got, 100*share)
	if share <= 0.80 {
		t.Errorf("fast node took %.1f%% of picks, want > 80%%", 100*share)
	}

	// Three fast nodes and a slow one: the slow one only gets the
	// occasional pick once its idle score has decayed.
	p = mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1, 1, 1), Deterministic: true})
	now = fakeClock(p)
	lat = map[string]time.Duration{"a": 10 * time.Millisecond, "b": 10 * time.Millisecond, "c": 100 * time.Millisecond, "d": 10 * time.Millisecond}
	simulate(t, p, now, lat, 1000, time.Millisecond)
	got = simulate(t, p, now, lat, 10000, time.Millisecond)
	t.Logf("4 nodes, c 10x slower: %v", got)
	if got["c"] > 500 {
		t.Errorf("slow node took %d of 10000 picks", got["c"])
	}
}

// A failed try raises the score at once: the node is avoided, then tried
// again once its score has decayed below the others'.
func TestEWMAFailurePenalises(t *testing.T) {
	p := mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1), Deterministic: true})
	now := fakeClock(p)
	a, b := mkNodes(1, 1)[0], mkNodes(1, 1)[1]
	p.Done(a, 10*time.Millisecond, false)
	p.Done(b, 10*time.Millisecond, false)
	*now += int64(time.Millisecond)
	p.Done(a, time.Millisecond, true) // connection refused, fast
	if s := p.ew.score[0]; s < 1.0 {
		t.Fatalf("score after failure %.3fs, want >= 1.001s", s)
	}
	lat := map[string]time.Duration{"a": 10 * time.Millisecond, "b": 10 * time.Millisecond}
	if got := simulate(t, p, now, lat, 1000, time.Millisecond); got["a"] != 0 {
		t.Fatalf("failed node picked %d times in the next second", got["a"])
	}
	// Idle, a's 1 s decays towards b's 10 ms: after 60 s it is picked again.
	if got := simulate(t, p, now, lat, 60000, time.Millisecond); got["a"] == 0 {
		t.Fatalf("failed node never tried again: %v", got)
	}
}

func TestEWMADecay(t *testing.T) {
	p := mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1)})
	now := fakeClock(p)
	a := p.nodes[0]
	p.Done(a, 100*time.Millisecond, false) // first sample: taken as is
	if got := p.ew.current(0, *now); got != 0.1 {
		t.Fatalf("first sample: %v", got)
	}
	*now += int64(10 * time.Second)
	if got, want := p.ew.current(0, *now), 0.1*math.Exp(-1); math.Abs(got-want) > 1e-12 {
		t.Fatalf("read after 10 s: %v, want %v", got, want)
	}
	p.Done(a, 200*time.Millisecond, false)
	w := math.Exp(-1)
	if got, want := p.ew.score[0], 0.1*w+0.2*(1-w); math.Abs(got-want) > 1e-12 {
		t.Fatalf("second sample after 10 s: %v, want %v", got, want)
	}
}

// With equal scores the two draws are uniform: every node gets about a
// quarter of 10,000 picks (tolerance ±10% relative).
func TestEWMADrawsUniformly(t *testing.T) {
	for _, det := range []bool{true, false} {
		p := mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1, 1, 1), Deterministic: det})
		got := map[string]int{}
		for range 10000 {
			got[name(mustPick(t, p, nil, nil, nil))]++
		}
		for _, n := range []string{"a", "b", "c", "d"} {
			if got[n] < 2250 || got[n] > 2750 {
				t.Errorf("deterministic=%v: %v", det, got)
				break
			}
		}
	}
	// Retries sample among the untried: the full scan path.
	p := mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), Deterministic: true})
	got := map[string]int{}
	for range 10000 {
		var tried Tried
		for _, n := range p.nodes[:8] {
			tried.Add(n)
		}
		got[name(mustPick(t, p, nil, &tried, nil))]++
	}
	if got["i"] < 4500 || got["i"] > 5500 || got["i"]+got["j"] != 10000 {
		t.Errorf("retries with 8 of 10 tried: %v", got)
	}
}

func TestEWMARetries(t *testing.T) {
	p := mustNew(t, Config{Kind: EWMA, Nodes: mkNodes(1, 1, 1, 0, 1)})
	var tried Tried
	seen := map[string]bool{}
	for range 4 {
		seen[name(mustPick(t, p, nil, &tried, nil))] = true
	}
	if len(seen) != 4 || seen["d"] {
		t.Fatalf("retries picked %v", seen)
	}
	if _, err := p.Pick(nil, &tried, nil); !errors.Is(err, ErrNoNode) {
		t.Fatalf("after all tried: %v", err)
	}
}
