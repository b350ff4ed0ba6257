package integration

import (
	"fmt"
	"net/http"
	"syscall"
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

// While its worker is stopped, connections wait in the slot socket's accept
// queue (the master holds the socket, the kernel completes handshakes);
// status shows them, and they are all served once the worker runs again.
func TestStatusShowsAcceptQueue(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	w := workers(g.Status(), 0)[0]
	stopProcess(t, w.Pid)
	defer syscall.Kill(w.Pid, syscall.SIGCONT)
	const n = 5
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
			resp, err := client.Get(g.URL("/queued"))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 404 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			results <- err
		}()
	}
	eventually(t, 5*time.Second, func() error {
		for _, l := range g.Status().Listeners {
			if l.Role != "node" {
				continue
			}
			var q uint32
			for _, s := range l.Sockets {
				q += s.Queued
				if s.Backlog == 0 {
					return fmt.Errorf("socket %d: backlog 0", s.Slot)
				}
			}
			if q != n {
				return fmt.Errorf("%d queued, want %d", q, n)
			}
			return nil
		}
		return fmt.Errorf("no node listener in status")
	})
	syscall.Kill(w.Pid, syscall.SIGCONT)
	for i := 0; i < n; i++ {
		if err := <-results; err != nil {
			t.Errorf("queued request: %v", err)
		}
	}
}
