package store

import (
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential back-off with equal jitter: step n waits
// uniformly in [d/2, d] with d = min(max, initial * 2^n). Jitter spreads the
// workers of a gateway (and the gateways of a fleet) so they do not retry
// etcd in lockstep when it comes back.
type backoff struct {
	initial, max time.Duration
	cur          time.Duration // d of the next step; 0 = initial
	rnd          func() float64
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, rnd: rand.Float64}
}

// next returns the wait of the next step and advances.
func (b *backoff) next() time.Duration {
	d := b.cur
	if d == 0 {
		d = b.initial
	}
	if d > b.max {
		d = b.max
	}
	b.cur = min(2*d, b.max)
	return d/2 + time.Duration(b.rnd()*float64(d/2))
}

// reset makes the next step the initial one again.
func (b *backoff) reset() { b.cur = 0 }
