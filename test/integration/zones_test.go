package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The node-wide request counter lives in a shared-memory zone the master
// created: every worker adds to the same memory, and the zone (with its
// count) survives reloads and binary upgrades.
func TestSharedZoneCountsAcrossWorkersReloadAndUpgrade(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	base := g.Status().RequestsTotal // WaitServing's own requests

	hit := func(n int) {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		for i := 0; i < n; i++ {
			resp, err := client.Get(g.URL("/count"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	expect := func(want int64) {
		t.Helper()
		if got := g.Status().RequestsTotal; got != want {
			t.Fatalf("requests_total %d, want %d", got, want)
		}
	}

	// New connections spread over both workers' sockets.
	hit(200)
	expect(base + 200)

	g.MustRun("reload")
	hit(100)
	expect(base + 300)

	g.MustRun("upgrade")
	hit(100)
	// The new master's status is served once the old one stopped taking
	// control requests; count what its WaitServing-free path saw.
	eventually(t, 5*time.Second, func() error {
		if got := g.Status().RequestsTotal; got != base+400 {
			return fmt.Errorf("requests_total %d after upgrade, want %d", got, base+400)
		}
		return nil
	})
}
