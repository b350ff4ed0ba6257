package health

import "github.com/portico-gw/portico/resource"

// Outcome is how one proxy try to a node ended: an HTTP status, or a
// failure before any response.
type Outcome uint16

const (
	// TCPFailure: no connection, or the connection failed before a whole
	// response header arrived (nginx's "error").
	TCPFailure Outcome = 1
	// Timeout: connecting, sending or reading timed out (nginx's "timeout").
	Timeout Outcome = 2
)

// Status is the outcome of a try answered with an HTTP status; a code
// outside 100..599 counts for nothing.
func Status(code int) Outcome {
	if code < 100 || code > 599 {
		return 0
	}
	return Outcome(code)
}

// statusSet holds HTTP statuses 0..639 as bits.
type statusSet [10]uint64

func (s *statusSet) add(code int) {
	if code >= 0 && code < 640 {
		s[code/64] |= 1 << (code % 64)
	}
}

func (s *statusSet) has(o Outcome) bool { return o < 640 && s[o/64]&(1<<(o%64)) != 0 }

// Passive is an upstream's checks.passive, compiled for Report. Build it
// once per upstream version, off the request path.
type Passive struct {
	healthy, unhealthy statusSet
	limit              [4]uint8 // by counter; 0 turns the counter off
}

// NewPassive compiles c, whose defaults are filled (resource.Upstream's
// Defaults); nil gives nil, and Report ignores a nil Passive.
func NewPassive(c *resource.PassiveCheck) *Passive {
	if c == nil {
		return nil
	}
	p := &Passive{}
	for _, code := range c.Healthy.HTTPStatuses {
		p.healthy.add(code)
	}
	for _, code := range c.Unhealthy.HTTPStatuses {
		p.unhealthy.add(code)
	}
	p.limit[ctrSuccess] = uint8(*c.Healthy.Successes)
	p.limit[ctrHTTP] = uint8(*c.Unhealthy.HTTPFailures)
	p.limit[ctrTCP] = uint8(*c.Unhealthy.TCPFailures)
	p.limit[ctrTimeout] = uint8(*c.Unhealthy.Timeouts)
	return p
}

// classify maps an outcome to its counter and threshold; a zero threshold
// means the outcome counts for nothing (a status in neither list, as
// lua-resty-healthcheck ignores it, or a counter turned off).
func (p *Passive) classify(o Outcome) (counter, uint8) {
	switch {
	case o == TCPFailure:
		return ctrTCP, p.limit[ctrTCP]
	case o == Timeout:
		return ctrTimeout, p.limit[ctrTimeout]
	case o < 100:
		return 0, 0
	case p.healthy.has(o):
		return ctrSuccess, p.limit[ctrSuccess]
	case p.unhealthy.has(o):
		return ctrHTTP, p.limit[ctrHTTP]
	}
	return 0, 0
}

// Report counts one proxy try's outcome against target key under the
// passive checks p. Workers call it after every try; it takes no lock and
// costs a few atomic loads, plus one compare-and-swap when the outcome
// changes a counter (a failure, or a success after failures). Reaching a
// threshold that changes the verdict raises a flag; the agent, the only
// writer of verdicts, turns it into one within PassiveTick. Reports for a
// target the agent has not registered yet are dropped.
func (t *Table) Report(key int64, p *Passive, o Outcome) {
	if p == nil {
		return
	}
	c, limit := p.classify(o)
	if limit == 0 {
		return
	}
	b, ok := t.find(key)
	if !ok {
		return
	}
	s := slot(b, slotCounters)
	for {
		old := uint64(t.z.Load(s))
		healthy := t.healthy(b)
		if !counts(healthy, old, c) {
			return
		}
		w, n := count(old, c)
		if crosses(healthy, c, n, limit) {
			w |= flagFor(c)
		}
		if t.z.CompareAndSwap(s, int64(old), int64(w)) {
			return
		}
	}
}
