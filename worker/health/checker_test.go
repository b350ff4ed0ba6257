package health

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/store"
)

// snapWithCheck is a snapshot holding upstream 1 with an active check of
// the given interval, decoded afresh as every snapshot's items are.
func snapWithCheck(t *testing.T, interval int) *store.Snapshot {
	t.Helper()
	raw := fmt.Sprintf(`{"nodes":{"127.0.0.1:1":1},"checks":{"active":{"type":"tcp","timeout":1,"healthy":{"interval":%d},"unhealthy":{"interval":%d}}}}`, interval, interval)
	v, err := resource.Validate(resource.Upstreams, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &store.Snapshot{Items: map[string]map[string]*store.Item{
		string(resource.Upstreams): {"1": {Kind: "upstreams", ID: "1", Key: "/apisix/upstreams/1", Value: v, Raw: []byte(raw)}},
	}}
}

// TestUpdateKeepsUnchangedProbes: a snapshot that leaves a check as it was
// keeps its probe running (its counters and its interval's rhythm); one
// that changes the check restarts it. The check's version used to print
// pointer fields, which are new in every snapshot, so every config change
// restarted every probe and, with changes faster than the interval, no
// probe ever ran.
func TestUpdateKeepsUnchangedProbes(t *testing.T) {
	c := NewChecker(NewTable(newZone(t, 1<<16)), nil, zerolog.Nop())
	defer c.Stop()
	only := func() *target {
		t.Helper()
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.targets) != 1 {
			t.Fatalf("%d targets, want 1", len(c.targets))
		}
		for _, tg := range c.targets {
			return tg
		}
		return nil
	}
	c.Update(snapWithCheck(t, 5))
	first := only()
	c.Update(snapWithCheck(t, 5))
	if only() != first {
		t.Error("an unchanged check was restarted")
	}
	c.Update(snapWithCheck(t, 6))
	if only() == first {
		t.Error("a changed interval did not restart the probe")
	}
}
