package ipc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestZoneBasics(t *testing.T) {
	z, err := CreateZone("basics", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	page := int64(os.Getpagesize())
	if z.Name() != "basics" || z.Size() != page || z.Slots() != int(page/8) {
		t.Fatalf("name %q size %d slots %d", z.Name(), z.Size(), z.Slots())
	}
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(z.File().Fd()))); err == nil && !strings.Contains(link, "portico:basics") {
		t.Errorf("memfd link %q lacks name", link)
	}
	flags, err := unix.FcntlInt(z.File().Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("memfd flags %#x, %v: want FD_CLOEXEC", flags, err)
	}

	last := z.Slots() - 1
	if z.Load(last) != 0 {
		t.Fatal("new zone not zeroed")
	}
	if v := z.Add(last, 5); v != 5 {
		t.Fatalf("Add = %d", v)
	}
	if v := z.Add(last, -7); v != -2 {
		t.Fatalf("Add = %d", v)
	}
	z.Store(0, 40)
	if z.CompareAndSwap(0, 41, 1) || !z.CompareAndSwap(0, 40, 42) || z.Load(0) != 42 {
		t.Fatalf("CompareAndSwap misbehaved: %d", z.Load(0))
	}

	// A second mapping of the inherited memfd (as a child or an upgraded
	// master would have) sees the same memory.
	dup, err := unix.FcntlInt(z.File().Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	z2, err := OpenZone("basics", os.NewFile(uintptr(dup), "dup"))
	if err != nil {
		t.Fatal(err)
	}
	if z2.Size() != z.Size() || z2.Load(0) != 42 || z2.Load(last) != -2 {
		t.Fatalf("second mapping: size %d, slot0 %d", z2.Size(), z2.Load(0))
	}
	z2.Store(1, 99)
	if err := z2.Close(); err != nil {
		t.Fatal(err)
	}
	if z.Load(1) != 99 {
		t.Fatal("store through second mapping not visible")
	}
}

func TestZoneErrors(t *testing.T) {
	for _, size := range []int64{0, -1} {
		if _, err := CreateZone("bad", size); err == nil {
			t.Errorf("CreateZone(size %d) succeeded", size)
		}
	}
	if _, err := CreateZone("", 10); err == nil {
		t.Error("CreateZone(empty name) succeeded")
	}
	f, err := os.CreateTemp(t.TempDir(), "empty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := OpenZone("empty", f); err == nil {
		t.Error("OpenZone(empty file) succeeded")
	}
}

func TestZoneOutOfRangePanics(t *testing.T) {
	z, err := CreateZone("range", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for _, slot := range []int{-1, z.Slots()} {
		func() {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, "out of range") || !strings.Contains(msg, `"range"`) {
					t.Errorf("slot %d: panic %v, want out-of-range message", slot, r)
				}
			}()
			z.Add(slot, 1)
		}()
	}
}

func TestZoneConcurrentGoroutines(t *testing.T) {
	z, err := CreateZone("goroutines", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				z.Add(0, 1)
			}
		}()
	}
	wg.Wait()
	if v := z.Load(0); v != 80000 {
		t.Fatalf("Load = %d, want 80000", v)
	}
}

// TestZoneCrossProcess has two child processes and this one increment the
// same counters through the inherited memfd.
func TestZoneCrossProcess(t *testing.T) {
	z, err := CreateZone("test-counters", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var cmds []*exec.Cmd
	for i := 0; i < zoneProcs-1; i++ {
		cmd := helperCmd(t, "zone", z.File())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		cmds = append(cmds, cmd)
	}
	if err := zoneWork(z); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	if v := z.Load(slotCounter); v != zoneProcs*zoneIters {
		t.Errorf("Add counter = %d, want %d", v, zoneProcs*zoneIters)
	}
	if v := z.Load(slotCAS); v != zoneProcs*casIters {
		t.Errorf("CompareAndSwap counter = %d, want %d", v, zoneProcs*casIters)
	}
}

func BenchmarkZoneAdd(b *testing.B) {
	z, err := CreateZone("bench", 8)
	if err != nil {
		b.Fatal(err)
	}
	defer z.Close()
	b.ReportAllocs()
	for b.Loop() {
		z.Add(0, 1)
	}
}
