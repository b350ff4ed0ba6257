package health

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portico-gw/portico/ipc"
)

func newZone(t *testing.T, size int64) *ipc.Zone {
	t.Helper()
	z, err := ipc.CreateZone("health-test", size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}

// reopen maps z again, as another process inheriting it would.
func reopen(t *testing.T, z *ipc.Zone) *ipc.Zone {
	t.Helper()
	fd, err := unix.FcntlInt(z.File().Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	z2, err := ipc.OpenZone(z.Name(), os.NewFile(uintptr(fd), "dup"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z2.Close() })
	return z2
}

func TestTable(t *testing.T) {
	z := newZone(t, 4096)
	tb := NewTable(z)
	if tb.Err() != nil || z.Load(0) != layout {
		t.Fatalf("fresh zone not claimed: %v, header %#x", tb.Err(), z.Load(0))
	}
	if want := (4096/8 - 1) / bucketSlots; tb.buckets != want {
		t.Fatalf("%d buckets, want %d", tb.buckets, want)
	}
	a, b := Key("/apisix/upstreams/1", "127.0.0.1:80"), Key("/apisix/upstreams/1", "127.0.0.1:81")
	if a == b || a == 0 {
		t.Fatal("keys collide")
	}
	if !tb.Healthy(a) {
		t.Error("an unknown target must read healthy")
	}
	ba, ok := tb.register(a)
	if !ok || !tb.Healthy(a) {
		t.Fatal("a registered target starts healthy")
	}
	tb.setHealthy(ba, false)
	if tb.Healthy(a) || !tb.Healthy(b) {
		t.Error("verdicts mixed up")
	}
	// Registering again (an agent restart, a config change) keeps the
	// bucket and its verdict.
	if again, ok := tb.register(a); !ok || again != ba || tb.Healthy(a) {
		t.Error("re-registering moved the target or reset its verdict")
	}
	tb.setHealthy(ba, true)
	if !tb.Healthy(a) {
		t.Error("verdict not updated")
	}

	// Fill well beyond the buckets: registration fails for some keys, and
	// lookups stay bounded and right for every key that fitted.
	stored := map[int64]bool{}
	failed := 0
	for i := 0; i < 1000; i++ {
		k := Key("owner", fmt.Sprint(i))
		bk, ok := tb.register(k)
		if !ok {
			failed++
			continue
		}
		tb.setHealthy(bk, i%2 == 0)
		stored[k] = i%2 == 0
	}
	if failed == 0 || len(stored) > tb.buckets {
		t.Fatalf("%d stored, %d failed, in %d buckets", len(stored), failed, tb.buckets)
	}
	for k, healthy := range stored {
		if tb.Healthy(k) != healthy {
			t.Fatalf("key %d: wrong verdict", k)
		}
		if _, ok := tb.find(k); !ok {
			t.Fatalf("key %d: registered but not found", k)
		}
	}
	if _, ok := tb.find(Key("owner", "never registered")); ok {
		t.Error("found a key never registered")
	}

	// A second view of the same memory (another process) sees the same and
	// accepts the header.
	tb2 := NewTable(reopen(t, z))
	if tb2.Err() != nil || !tb2.Healthy(a) {
		t.Errorf("a second view disagrees: %v", tb2.Err())
	}
	for k, healthy := range stored {
		if tb2.Healthy(k) != healthy {
			t.Fatalf("second view, key %d: wrong verdict", k)
		}
	}
}

func TestTableRefusesForeignLayout(t *testing.T) {
	z := newZone(t, 4096)
	z.Store(0, layout+1) // another binary's layout
	key := Key("/apisix/upstreams/1", "127.0.0.1:80")
	z.Store(slot(int(uint64(key)%uint64((z.Slots()-1)/bucketSlots)), slotKey), key)
	tb := NewTable(z)
	if tb.Err() == nil || !strings.Contains(tb.Err().Error(), "layout") {
		t.Fatalf("Err = %v, want a layout mismatch", tb.Err())
	}
	if _, ok := tb.register(key); ok {
		t.Error("an inert table registered a target")
	}
	if !tb.Healthy(key) {
		t.Error("an inert table must read every node healthy")
	}
	tb.Report(key, testPassive(t, `{}`), TCPFailure)
	if z.Load(0) != layout+1 {
		t.Error("an inert table wrote its header")
	}
}

func TestCounters(t *testing.T) {
	var w uint64
	w, n := count(w, ctrTCP)
	w, n2 := count(w, ctrTimeout)
	if n != 1 || n2 != 1 || uint8(w>>16) != 1 || uint8(w>>24) != 1 {
		t.Fatalf("failures count apart: %#x", w)
	}
	w, n = count(w, ctrSuccess)
	if n != 1 || w != 1 {
		t.Fatalf("a success must clear every failure counter: %#x", w)
	}
	w, n = count(w|flagUnhealthy, ctrHTTP)
	if n != 1 || w != flagUnhealthy|1<<8 {
		t.Fatalf("a failure must clear the success counter and keep flags: %#x", w)
	}
	for range 300 {
		w, n = count(w, ctrHTTP)
	}
	if n != 255 || uint8(w>>8) != 255 || uint8(w>>16) != 0 {
		t.Fatalf("counts saturate at 255 without overflowing: %#x", w)
	}

	// The steady state writes nothing: a healthy node with no failure
	// ignores successes; an unhealthy one with no success ignores failures.
	for _, c := range []struct {
		healthy bool
		w       uint64
		ctr     counter
		want    bool
	}{
		{true, 0, ctrSuccess, false},
		{true, 3, ctrSuccess, false},
		{true, 1 << 16, ctrSuccess, true},
		{true, 0, ctrTCP, true},
		{false, 0, ctrTCP, false},
		{false, 1 << 8, ctrTimeout, false},
		{false, 1, ctrTimeout, true},
		{false, 0, ctrSuccess, true},
	} {
		if got := counts(c.healthy, c.w, c.ctr); got != c.want {
			t.Errorf("counts(healthy %v, %#x, %d) = %v", c.healthy, c.w, c.ctr, got)
		}
	}
	if !flagged(flagHealthy) || flagged(flagUnhealthy|1) || !flagged(flagMask|1) || flagged(flagMask|1<<8) {
		t.Error("flagged misreads the flags")
	}
}
