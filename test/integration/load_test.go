package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadResult counts what a client loop saw, per failure class.
type loadResult struct {
	ok       atomic.Int64
	failures atomic.Int64
	mu       sync.Mutex
	samples  []string
	starts   []time.Time // when each failed request was sent
}

func (r *loadResult) fail(start time.Time, format string, args ...any) {
	r.failures.Add(1)
	r.mu.Lock()
	r.starts = append(r.starts, start)
	if len(r.samples) < 10 {
		r.samples = append(r.samples, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

// failedAfter counts failed requests that were sent after t.
func (r *loadResult) failedAfter(t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.starts {
		if s.After(t) {
			n++
		}
	}
	return n
}

func (r *loadResult) check(t *testing.T, min int64) {
	t.Helper()
	t.Logf("client loop: %d ok, %d failed", r.ok.Load(), r.failures.Load())
	if f := r.failures.Load(); f != 0 {
		t.Errorf("%d failed requests, e.g. %v", f, r.samples)
	}
	if r.ok.Load() < min {
		t.Errorf("only %d requests succeeded, want at least %d", r.ok.Load(), min)
	}
}

// clientLoop runs bounded concurrent clients against url until ctx ends or
// maxRequests were sent: half reuse keep-alive connections, half open a new
// connection per request. Every answer must be the 404 JSON.
func clientLoop(ctx context.Context, url string, maxRequests int64) (*loadResult, func()) {
	return clientLoopWant(ctx, url, maxRequests, http.StatusNotFound)
}

// clientLoopWant is clientLoop where every answer must have status want
// (and, for 404, the 404 JSON).
func clientLoopWant(ctx context.Context, url string, maxRequests int64, want int) (*loadResult, func()) {
	res := &loadResult{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	worker := func(client *http.Client, kind string) {
		defer wg.Done()
		for ctx.Err() == nil && sent.Add(1) <= maxRequests {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				res.fail(start, "%s: %v", kind, err)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				res.fail(start, "read body: %v", err)
			case resp.StatusCode != want || want == 404 && string(body) != `{"error_msg":"404 Route Not Found"}`+"\n":
				res.fail(start, "status %d body %q", resp.StatusCode, body)
			default:
				res.ok.Add(1)
			}
		}
	}
	keepAlive := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go worker(keepAlive, "keep-alive")
		go worker(fresh, "new conn")
	}
	return res, wg.Wait
}

// waitOK waits until the loop has seen n successful requests.
func (r *loadResult) waitOK(t *testing.T, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if got := r.ok.Load(); got < n {
			return fmt.Errorf("%d of %d requests done", got, n)
		}
		return nil
	})
}
