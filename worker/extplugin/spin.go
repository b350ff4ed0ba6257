package extplugin

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// spinFor bounds how long a call waits for the runner's answer by polling
// the socket before it parks in the netpoller. A no-op plugin in the
// official Go runner answers in 40-70 µs on loopback.
const spinFor = 100 * time.Microsecond

// spinner decides whether a call polls for its answer instead of parking.
//
// Parking costs a wake-up: the worker's CPU goes idle while the runner
// works, and the answer has to wake it again. On the 2-CPU VM bench/load
// runs on, that wake-up is most of the ext-plugin overhead (a bare unix
// socket round trip between the two processes is 50 µs; the call's own
// work is a few µs). Polling a socket a worker is about to read anyway
// keeps the CPU awake and takes the answer the moment it lands, as Linux's
// busy polling does for NICs.
//
// It only pays when the CPU has nothing better to do, so a call polls only
// when it is the worker's only call in flight (under load the others keep
// the CPU busy and parking costs nothing), only while answers have been
// arriving within spinFor (a plugin that takes milliseconds would burn CPU
// for nothing), and it yields the CPU to any runnable goroutine between
// polls. What a poll can delay is the netpoller's notice of other sockets:
// at most spinFor, once per call.
type spinner struct {
	inflight atomic.Int32
	// wait is a moving average of how long answers took to arrive, in ns.
	wait atomic.Int64
}

func (s *spinner) begin() { s.inflight.Add(1) }
func (s *spinner) end()   { s.inflight.Add(-1) }

// observe records that an answer took d to arrive (weight 1/8).
func (s *spinner) observe(d time.Duration) {
	old := s.wait.Load()
	s.wait.Store(old + (int64(d)-old)/8)
}

// worthwhile tells whether a call should poll for its answer now.
func (s *spinner) worthwhile() bool {
	return s.inflight.Load() == 1 && time.Duration(s.wait.Load()) <= spinFor
}

// await polls rc until it is readable, for at most spinFor, when polling
// is worthwhile. It returns early, leaving the read to park as usual, on
// any error.
func (s *spinner) await(rc syscall.RawConn) {
	if rc == nil || !s.worthwhile() {
		return
	}
	deadline := time.Now().Add(spinFor)
	_ = rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(pfd, 0)
			if n != 0 || err != nil && err != unix.EINTR || time.Now().After(deadline) {
				return
			}
			runtime.Gosched()
		}
	})
}
