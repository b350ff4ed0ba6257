package balancer

import (
	"errors"
	"sync"
	"testing"
)

// Exact under controlled concurrency: 60 goroutines each hold a pick; the
// greedy lowest (1+active)/weight leaves exactly 30/20/10 on weights
// 3/2/1 whatever order the picks came in. Releasing three of b's makes b
// the least loaded again, for exactly three picks.
func TestLeastConnHeldPicks(t *testing.T) {
	p := mustNew(t, Config{Kind: LeastConn, Nodes: mkNodes(3, 2, 1)})
	picked := make(chan Node, 60)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			n, err := p.Pick(nil, nil, nil)
			if err != nil {
				t.Error(err)
				return
			}
			picked <- n
			<-release
		})
	}
	held := map[string][]Node{}
	for range 60 {
		n := <-picked
		held[name(n)] = append(held[name(n)], n)
	}
	if len(held["a"]) != 30 || len(held["b"]) != 20 || len(held["c"]) != 10 {
		t.Fatalf("held a:%d b:%d c:%d, want 30/20/10", len(held["a"]), len(held["b"]), len(held["c"]))
	}
	for _, n := range held["b"][:3] {
		p.Done(n, 0, false)
	}
	for i := range 3 {
		if n := mustPick(t, p, nil, nil, nil); name(n) != "b" {
			t.Fatalf("pick %d after releasing 3 of b: %s", i, name(n))
		}
	}
	if n := mustPick(t, p, nil, nil, nil); name(n) != "a" {
		t.Fatalf("then %s, want a (31/3 < 21/2)", name(n))
	}
	close(release)
	wg.Wait()
	if got := p.lc.active; got[0] != 31 || got[1] != 20 || got[2] != 10 {
		t.Fatalf("active %v", got)
	}
}

// Picks released at once keep every node tied: ties rotate.
func TestLeastConnTiesRotate(t *testing.T) {
	p := mustNew(t, Config{Kind: LeastConn, Nodes: mkNodes(1, 1, 1)})
	var seq string
	for range 6 {
		n := mustPick(t, p, nil, nil, nil)
		seq += name(n)
		p.Done(n, 0, false)
	}
	if seq != "abcabc" {
		t.Fatalf("sequence %s, want abcabc", seq)
	}
}

func TestLeastConnRetriesAndDone(t *testing.T) {
	p := mustNew(t, Config{Kind: LeastConn, Nodes: mkNodes(1, 1, 100)})
	var tried Tried
	seen := map[string]bool{}
	for range 3 {
		seen[name(mustPick(t, p, nil, &tried, nil))] = true
	}
	if len(seen) != 3 {
		t.Fatalf("retries picked %v", seen)
	}
	if _, err := p.Pick(nil, &tried, nil); !errors.Is(err, ErrNoNode) {
		t.Fatalf("after all tried: %v", err)
	}
	for _, n := range mkNodes(1, 1, 1) {
		p.Done(n, 0, true)
		p.Done(n, 0, true) // one too many: counts do not go negative
	}
	p.Done(Node{Host: "192.0.2.9", Port: 80}, 0, false) // not ours: ignored
	if got := p.lc.active; got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Fatalf("active %v after Done", got)
	}
}

// least_conn keeps counting with a single node (APISIX #12217): no
// shortcut, so a retry finds it tried.
func TestLeastConnSingleNode(t *testing.T) {
	p := mustNew(t, Config{Kind: LeastConn, Nodes: mkNodes(1)})
	var tried Tried
	mustPick(t, p, nil, &tried, nil)
	if p.lc.active[0] != 1 {
		t.Fatalf("active %v", p.lc.active)
	}
	if _, err := p.Pick(nil, &tried, nil); !errors.Is(err, ErrNoNode) {
		t.Fatalf("retry on the single node: %v", err)
	}
}
