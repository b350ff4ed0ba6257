package health

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/store"
)

// testUpstream decodes an upstream as the Admin API stores it.
func testUpstream(t *testing.T, js string) *resource.Upstream {
	t.Helper()
	var up resource.Upstream
	if err := json.Unmarshal([]byte(js), &up); err != nil {
		t.Fatal(err)
	}
	return &up
}

// testPassive compiles a checks.passive given as JSON, defaults filled.
func testPassive(t *testing.T, passive string) *Passive {
	t.Helper()
	up := testUpstream(t, `{"nodes": {"127.0.0.1:80": 1}, "checks": {"active": {}, "passive": `+passive+`}}`)
	return NewPassive(up.Defaults().Checks.Passive)
}

func TestPassiveClassify(t *testing.T) {
	p := testPassive(t, `{}`) // spec 3.6 defaults
	for o, want := range map[Outcome]counter{
		Status(200): ctrSuccess, Status(226): ctrSuccess, Status(308): ctrSuccess,
		Status(429): ctrHTTP, Status(500): ctrHTTP, Status(503): ctrHTTP,
		TCPFailure: ctrTCP, Timeout: ctrTimeout,
	} {
		if c, limit := p.classify(o); c != want || limit == 0 {
			t.Errorf("outcome %d: counter %d limit %d, want counter %d", o, c, limit, want)
		}
	}
	for _, o := range []Outcome{Status(404), Status(502), Status(0), Status(700), Outcome(1000)} {
		if _, limit := p.classify(o); limit != 0 {
			t.Errorf("outcome %d counted, want ignored", o)
		}
	}
	if _, l := p.classify(TCPFailure); l != 2 {
		t.Errorf("default tcp_failures %d, want 2", l)
	}
	if _, l := p.classify(Timeout); l != 7 {
		t.Errorf("default timeouts %d, want 7", l)
	}
	if _, l := p.classify(Status(500)); l != 5 {
		t.Errorf("default http_failures %d, want 5", l)
	}
	if _, l := p.classify(Status(200)); l != 5 {
		t.Errorf("default successes %d, want 5", l)
	}
	off := testPassive(t, `{"unhealthy": {"tcp_failures": 0, "http_statuses": [502]}}`)
	if _, l := off.classify(TCPFailure); l != 0 {
		t.Error("tcp_failures 0 must turn the counter off")
	}
	if c, _ := off.classify(Status(502)); c != ctrHTTP {
		t.Error("custom unhealthy statuses ignored")
	}
	if NewPassive(nil) != nil {
		t.Error("no passive checks must give nil")
	}
}

// agentFor is an agent-side checker collecting the passive reports of the
// given targets, without probes.
func agentFor(t *testing.T, tb *Table, keys ...int64) (*Checker, []*target) {
	t.Helper()
	c := NewChecker(tb, nil, zerolog.Nop())
	var tgs []*target
	for _, k := range keys {
		b, ok := tb.register(k)
		if !ok {
			t.Fatal("register failed")
		}
		tgs = append(tgs, &target{key: k, bucket: b, passive: true})
	}
	c.passive = tgs
	return c, tgs
}

func TestReportConsecutive(t *testing.T) {
	tb := NewTable(newZone(t, 4096))
	key := Key("/apisix/upstreams/1", "10.0.0.1:80")
	p := testPassive(t, `{"unhealthy": {"tcp_failures": 2}, "healthy": {"successes": 3}}`)
	tb.Report(key, p, TCPFailure) // not registered yet: dropped
	agent, tgs := agentFor(t, tb, key)
	counters := func() uint64 { return uint64(tb.z.Load(slot(tgs[0].bucket, slotCounters))) }
	if counters() != 0 {
		t.Fatal("a report before registration was counted")
	}

	tb.Report(key, p, TCPFailure)
	tb.Report(key, p, Status(200)) // resets the failure
	tb.Report(key, p, TCPFailure)
	agent.collect()
	if !tb.Healthy(key) || counters() != 1<<16 {
		t.Fatalf("failure, success, failure: healthy %v counters %#x; want healthy with one failure", tb.Healthy(key), counters())
	}
	tb.Report(key, p, Status(404)) // in neither list: no effect
	tb.Report(key, p, TCPFailure)
	if !tb.Healthy(key) || counters()&flagUnhealthy == 0 {
		t.Fatalf("the threshold raises a flag and only the agent writes verdicts: healthy %v counters %#x", tb.Healthy(key), counters())
	}
	agent.collect()
	if tb.Healthy(key) || counters()&flagMask != 0 {
		t.Fatalf("after collection: healthy %v counters %#x", tb.Healthy(key), counters())
	}
	// Unhealthy: failures change nothing, successes count toward recovery.
	before := counters()
	tb.Report(key, p, Timeout)
	if counters() != before {
		t.Error("a failure on an unhealthy node wrote the counters")
	}
	for range 3 {
		tb.Report(key, p, Status(200))
	}
	agent.collect()
	if !tb.Healthy(key) {
		t.Fatalf("3 successes (healthy.successes 3) did not bring the node back: %#x", counters())
	}
	// Healthy with no failure: successes are not even written.
	before = counters()
	tb.Report(key, p, Status(200))
	if counters() != before {
		t.Error("a success on a healthy node wrote the counters")
	}
}

// TestPassiveWorkersAndAgent drives Report from several goroutines, each
// with its own mapping of the zone as a worker process has, against the
// agent's checker following a configuration, with active checks probing a
// real upstream.
func TestPassiveWorkersAndAgent(t *testing.T) {
	var activeStatus atomic.Int32
	activeStatus.Store(http.StatusTeapot) // in neither active list: probes count for nothing
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(activeStatus.Load()))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	node := u.Host
	up := testUpstream(t, fmt.Sprintf(`{
		"nodes": {%q: 1, "127.0.0.1:1": 1, "127.0.0.1:2": 1},
		"checks": {
			"active": {"http_path": "/status", "healthy": {"interval": 1, "successes": 2}, "unhealthy": {"interval": 1}},
			"passive": {"unhealthy": {"http_statuses": [500], "http_failures": 254}}
		}}`, node))
	owner := "/apisix/upstreams/1"
	snap := &store.Snapshot{Items: map[string]map[string]*store.Item{
		string(resource.Upstreams): {"1": {Kind: "upstreams", ID: "1", Key: owner, Value: up}},
	}}
	zone := newZone(t, 1<<16)
	agent := NewChecker(NewTable(zone), nil, zerolog.Nop())
	agent.Update(snap)
	defer agent.Stop()
	key := Key(owner, node)
	p := NewPassive(up.Defaults().Checks.Passive)

	const workers = 8
	views := make([]*Table, workers)
	for i := range views {
		views[i] = NewTable(reopen(t, zone))
	}
	reader := views[0]
	run := func(per int, report func(tb *Table, i int)) {
		var wg sync.WaitGroup
		for _, tb := range views {
			wg.Go(func() {
				for i := range per {
					report(tb, i)
				}
			})
		}
		wg.Wait()
	}

	// Contention loses no count: rounds of 8 x 25 failures, below the
	// threshold, each ended by a success that clears them.
	b, _ := reader.find(key)
	for round := range 100 {
		run(25, func(tb *Table, _ int) { tb.Report(key, p, Status(500)) })
		if w := uint64(reader.z.Load(slot(b, slotCounters))); w != 200<<8 {
			t.Fatalf("round %d: 200 concurrent failures counted as %#x", round, w)
		}
		reader.Report(key, p, Status(200))
	}
	run(25, func(tb *Table, _ int) { tb.Report(key, p, Status(500)) })
	if !reader.Healthy(key) {
		t.Fatal("unhealthy below the threshold")
	}
	// The 254th failure crosses the threshold: measure until every view
	// reads the verdict.
	run(6, func(tb *Table, _ int) { tb.Report(key, p, Status(500)) }) // 248
	for range 5 {                                                     // 253
		views[1].Report(key, p, Status(500))
	}
	if !reader.Healthy(key) {
		t.Fatal("unhealthy before the threshold")
	}
	start := time.Now()
	views[2].Report(key, p, Status(500))
	for reader.Healthy(key) {
		if time.Since(start) > time.Second {
			t.Fatal("no verdict a second after the threshold")
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("threshold to verdict: %s (PassiveTick %s)", took, PassiveTick)
	if took > 100*time.Millisecond {
		t.Errorf("verdict took %s, want <= 100ms", took)
	}
	for _, tb := range views {
		if tb.Healthy(key) {
			t.Fatal("a worker still reads the node healthy")
		}
	}

	// Active checks bring it back: 2 good probes, 1 s apart.
	activeStatus.Store(http.StatusOK)
	deadline := time.Now().Add(10 * time.Second)
	for !reader.Healthy(key) {
		if time.Now().After(deadline) {
			t.Fatal("active checks did not bring the node back")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Mixed outcomes from every worker on three targets while the agent
	// collects: a success and a failure are never counted together.
	keys := []int64{key, Key(owner, "127.0.0.1:1"), Key(owner, "127.0.0.1:2")}
	outcomes := []Outcome{Status(200), Status(500), TCPFailure, Timeout}
	run(2000, func(tb *Table, _ int) {
		tb.Report(keys[rand.IntN(len(keys))], p, outcomes[rand.IntN(len(outcomes))])
	})
	for _, k := range keys {
		b, _ := reader.find(k)
		if w := uint64(reader.z.Load(slot(b, slotCounters))); w&successMask != 0 && w&failureMask != 0 {
			t.Errorf("target %d counts successes and failures at once: %#x", k, w)
		}
	}
}
