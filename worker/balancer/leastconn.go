package balancer

// lcState is APISIX's least_conn: the eligible node with the lowest
// (1 + active tries) / weight wins; Pick counts a try in, Done counts it
// out. Scores are compared exactly, as (1+a)*wb < (1+b)*wa. A tie goes to
// the first tied node at or after the group's cursor, which moves past
// every winner, so ties rotate instead of piling onto the first node.
// A linear scan under the picker's lock replaces APISIX's heap: it
// filters tried and unhealthy nodes without reordering anything, and
// upstreams are small.
type lcState struct {
	active []int64 // by node index; guarded by picker.mu
	cursor []int   // by group: offset in the group where tie-breaking starts
}

func (l *lcState) init(p *picker) {
	l.active = make([]int64, len(p.nodes))
	l.cursor = make([]int, len(p.groups))
}

func (l *lcState) pick(p *picker, g int, s *sel) int {
	gr := p.groups[g]
	size := gr.hi - gr.lo
	p.mu.Lock()
	best := -1
	off := l.cursor[g]
	for k := 0; k < size; k++ {
		i := gr.lo + off
		if off++; off == size {
			off = 0
		}
		if !s.ok(i) {
			continue
		}
		if best < 0 || (1+l.active[i])*s.weights[best] < (1+l.active[best])*s.weights[i] {
			best = i
		}
	}
	if best >= 0 {
		l.active[best]++
		l.cursor[g] = (best - gr.lo + 1) % size
	}
	p.mu.Unlock()
	return best
}

func (l *lcState) done(p *picker, n Node) {
	i := p.lookup(n)
	if i < 0 {
		return
	}
	p.mu.Lock()
	if l.active[i] > 0 {
		l.active[i]--
	}
	p.mu.Unlock()
}
