package health

import (
	"fmt"
	"testing"

	"github.com/portico-gw/portico/ipc"
)

func TestTable(t *testing.T) {
	z, err := ipc.CreateZone("health-test", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	tb := NewTable(z)
	a, b := Key("/apisix/upstreams/1", "127.0.0.1:80"), Key("/apisix/upstreams/1", "127.0.0.1:81")
	if a == b || a == 0 {
		t.Fatal("keys collide")
	}
	if !tb.Healthy(a) {
		t.Error("an unknown target must read healthy")
	}
	tb.Set(a, false)
	if tb.Healthy(a) || !tb.Healthy(b) {
		t.Error("verdicts mixed up")
	}
	tb.Set(a, true)
	if !tb.Healthy(a) {
		t.Error("verdict not updated")
	}
	// Fill well beyond the buckets: lookups stay bounded and correct for
	// what fitted.
	stored := map[int64]bool{}
	for i := 0; i < 1000; i++ {
		k := Key("owner", fmt.Sprint(i))
		if tb.Set(k, i%2 == 0) {
			stored[k] = i%2 == 0
		}
	}
	for k, healthy := range stored {
		if tb.Healthy(k) != healthy {
			t.Fatalf("key %d: wrong verdict", k)
		}
	}
	// A second view of the same memory (another process) sees the same.
	if !NewTable(z).Healthy(a) {
		t.Error("a second view disagrees")
	}
}
