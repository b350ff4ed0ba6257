package ipc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Zone is a shared-memory zone: a memfd mapped MAP_SHARED, created by the
// master and inherited by children as a descriptor. Because the memfd itself
// is what gets passed on (ExtraFiles, or to a new master on upgrade), a zone
// outlives the process that created it as long as some process holds it.
//
// The zone doubles as an array of 64-bit counter slots. Slot methods are
// safe for concurrent use by any number of goroutines and processes; Close
// must not race with them.
type Zone struct {
	name string
	f    *os.File
	mem  []byte
}

// CreateZone creates a zone of at least size bytes (rounded up to the page
// size), zero-filled. The memfd is named "portico:<name>" and is
// close-on-exec; put Zone.File into exec.Cmd.ExtraFiles to share it.
func CreateZone(name string, size int64) (*Zone, error) {
	if name == "" {
		return nil, errors.New("ipc: create zone: empty name")
	}
	if size <= 0 || size > math.MaxInt-int64(os.Getpagesize()) {
		return nil, fmt.Errorf("ipc: create zone %q: invalid size %d", name, size)
	}
	page := int64(os.Getpagesize())
	size = (size + page - 1) / page * page

	fd, err := unix.MemfdCreate("portico:"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ipc: create zone %q: memfd_create: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "portico:"+name)
	if err := unix.Ftruncate(fd, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: create zone %q: ftruncate: %w", name, err)
	}
	z, err := mapZone(name, f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: create zone %q: %w", name, err)
	}
	return z, nil
}

// OpenZone maps an inherited zone descriptor (the child side, or a new
// master after an upgrade), e.g. OpenZone("stats", os.NewFile(3, "stats")).
// The size comes from fstat. The Zone takes ownership of f on success.
func OpenZone(name string, f *os.File) (*Zone, error) {
	if f == nil {
		return nil, fmt.Errorf("ipc: open zone %q: nil file", name)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ipc: open zone %q: %w", name, err)
	}
	size := fi.Size()
	if size <= 0 || size > math.MaxInt {
		return nil, fmt.Errorf("ipc: open zone %q: unusable size %d", name, size)
	}
	z, err := mapZone(name, f, size)
	if err != nil {
		return nil, fmt.Errorf("ipc: open zone %q: %w", name, err)
	}
	return z, nil
}

func mapZone(name string, f *os.File, size int64) (*Zone, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var mem []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		mem, merr = unix.Mmap(int(fd), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, fmt.Errorf("mmap: %w", merr)
	}
	return &Zone{name: name, f: f, mem: mem}, nil
}

// Name returns the zone's name (without the "portico:" prefix).
func (z *Zone) Name() string { return z.name }

// Size returns the mapped size in bytes.
func (z *Zone) Size() int64 { return int64(len(z.mem)) }

// File returns the memfd, for exec.Cmd.ExtraFiles or passing on upgrade. It
// remains owned by the Zone.
func (z *Zone) File() *os.File { return z.f }

// Close unmaps the zone and closes the memfd. The memory itself lives on in
// other processes that hold it.
func (z *Zone) Close() error {
	var err error
	if z.mem != nil {
		err = unix.Munmap(z.mem)
		z.mem = nil
	}
	if cerr := z.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ipc: close zone %q: %w", z.name, err)
	}
	return nil
}

// Slots returns the number of 64-bit counter slots (Size/8).
func (z *Zone) Slots() int { return len(z.mem) / 8 }

// slot returns a pointer to counter i.
//
// Why atomics on this memory work across processes: every process maps the
// same memfd MAP_SHARED, so slot i is the same physical memory in all of
// them, only at different virtual addresses. The mapping is page-aligned and
// slots are 8 bytes apart, so every slot is naturally aligned. On x86-64
// (LOCK-prefixed instructions, XCHG) and arm64 (LDADDAL/CASAL or LDAXR/STLXR
// loops) the instructions sync/atomic compiles to act on the cache line of
// that physical memory, which hardware cache coherence keeps consistent
// between cores regardless of which process's page tables mapped it. Nothing
// in sync/atomic depends on the Go heap or on the calling process, so the
// operations are atomic and sequentially consistent across processes too.
func (z *Zone) slot(i int) *int64 {
	if uint(i) >= uint(len(z.mem)/8) {
		z.outOfRange(i)
	}
	return (*int64)(unsafe.Pointer(&z.mem[i*8]))
}

func (z *Zone) outOfRange(i int) {
	panic(fmt.Sprintf("ipc: zone %q: slot %d out of range [0, %d)", z.name, i, z.Slots()))
}

// Add atomically adds delta to slot and returns the new value.
func (z *Zone) Add(slot int, delta int64) int64 { return atomic.AddInt64(z.slot(slot), delta) }

// Load atomically loads slot.
func (z *Zone) Load(slot int) int64 { return atomic.LoadInt64(z.slot(slot)) }

// Store atomically stores v into slot.
func (z *Zone) Store(slot int, v int64) { atomic.StoreInt64(z.slot(slot), v) }

// CompareAndSwap atomically sets slot to new if it holds old, and reports
// whether it did.
func (z *Zone) CompareAndSwap(slot int, old, new int64) bool {
	return atomic.CompareAndSwapInt64(z.slot(slot), old, new)
}
