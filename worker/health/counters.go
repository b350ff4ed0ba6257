package health

// A target's counters live in one 64-bit slot so that a report is a single
// compare-and-swap, whoever makes it:
//
//	bits  0-7   consecutive successes
//	bits  8-15  consecutive HTTP failures
//	bits 16-23  consecutive TCP failures
//	bits 24-31  consecutive timeouts
//	bit  32     flagUnhealthy: a worker's report reached a failure threshold
//	            while the node was healthy
//	bit  33     flagHealthy: a worker's report reached the success threshold
//	            while the node was unhealthy
//
// This is lua-resty-healthcheck's multi-counter: one set of counters per
// target, shared by active and passive checks, each report compared with
// the threshold of the check that made it. A success clears the failure
// counters and a failure the success counter. Counts saturate at 255 (the
// thresholds are at most 254).

// counter indexes a byte of the counters word.
type counter uint8

const (
	ctrSuccess counter = iota
	ctrHTTP
	ctrTCP
	ctrTimeout
)

const (
	successMask   uint64 = 0xff
	failureMask   uint64 = 0xffffff00
	flagUnhealthy uint64 = 1 << 32
	flagHealthy   uint64 = 1 << 33
	flagMask             = flagUnhealthy | flagHealthy
)

// count returns w with one more outcome of kind c, and c's new count.
func count(w uint64, c counter) (uint64, uint8) {
	shift := 8 * uint(c)
	n := uint8(w >> shift)
	if n < 255 {
		n++
	}
	if c == ctrSuccess {
		w &^= failureMask
	} else {
		w &^= successMask
	}
	return w&^(0xff<<shift) | uint64(n)<<shift, n
}

// counts reports whether an outcome of kind c changes anything: a node
// judged healthy with no failure since its last success ignores successes,
// and one judged unhealthy with no success since its last failure ignores
// failures (lua-resty-healthcheck skips a report that matches the target's
// full state). This keeps the steady state free of writes.
func counts(healthy bool, w uint64, c counter) bool {
	if c == ctrSuccess {
		return !healthy || w&failureMask != 0
	}
	return healthy || w&successMask != 0
}

// crosses reports whether n outcomes of kind c, reaching limit, turn the
// verdict healthy.
func crosses(healthy bool, c counter, n, limit uint8) bool {
	return n >= limit && (c == ctrSuccess) != healthy
}

// flagFor is the flag a worker raises when its report crosses a threshold.
func flagFor(c counter) uint64 {
	if c == ctrSuccess {
		return flagHealthy
	}
	return flagUnhealthy
}

// flagged is the verdict the flags of w call for. When both were raised
// since the agent last looked, the counters tell which came last: the kind
// still counted (a success clears failures and the reverse).
func flagged(w uint64) bool {
	switch w & flagMask {
	case flagHealthy:
		return true
	case flagUnhealthy:
		return false
	}
	return w&successMask != 0
}
