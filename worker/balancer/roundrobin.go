package balancer

import "math/rand/v2"

// maxStartSteps bounds the random start: New advances each priority's
// cycle by a random number of picks below min(cycle length, maxStartSteps).
const maxStartSteps = 1024

// rrState is nginx's smooth weighted round-robin
// (ngx_http_upstream_get_peer), one cycle per priority: every eligible
// node adds its weight to its current weight, the largest current weight
// wins (the first in config order on a tie) and loses the sum of the
// eligible weights. Over any cycle of sum(weights/gcd) picks each node is
// picked exactly weight/gcd times, spread as evenly as possible.
type rrState struct {
	cw []int64 // current weight, by node index; guarded by picker.mu
}

func (r *rrState) init(p *picker, deterministic bool) {
	r.cw = make([]int64, len(p.nodes))
	if deterministic {
		return
	}
	all := newSel(p, nil, nil)
	for g, gr := range p.groups {
		var d, cycle int64
		for _, n := range p.nodes[gr.lo:gr.hi] {
			d = gcd(d, int64(n.Weight))
		}
		if d == 0 {
			continue
		}
		for _, n := range p.nodes[gr.lo:gr.hi] {
			cycle += int64(n.Weight) / d
		}
		for range rand.Int64N(min(cycle, maxStartSteps)) {
			r.pick(p, g, &all)
		}
	}
}

// pick returns the index of the chosen node of group g, or -1 when none
// of its nodes is eligible. Ineligible nodes neither gain nor lose current
// weight, as nginx skips tried and down peers.
func (r *rrState) pick(p *picker, g int, s *sel) int {
	gr := p.groups[g]
	p.mu.Lock()
	best := -1
	var total int64
	for i := gr.lo; i < gr.hi; i++ {
		if !s.ok(i) {
			continue
		}
		w := s.weights[i]
		r.cw[i] += w
		total += w
		if best < 0 || r.cw[i] > r.cw[best] {
			best = i
		}
	}
	if best >= 0 {
		r.cw[best] -= total
	}
	p.mu.Unlock()
	return best
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
