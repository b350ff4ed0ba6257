package balancer

import "slices"

// group is the nodes of one priority: p.nodes[lo:hi].
type group struct {
	lo, hi   int
	priority int
}

// group deduplicates nodes (last host:port wins) and orders them by
// priority, highest first, keeping the configured order inside a priority.
func (p *picker) group(in []Node) {
	p.index = make(map[addr]int, len(in))
	nodes := make([]Node, 0, len(in))
	for _, n := range in {
		a := addr{n.Host, n.Port}
		if i, ok := p.index[a]; ok {
			nodes[i] = n
			continue
		}
		p.index[a] = len(nodes)
		nodes = append(nodes, n)
	}
	slices.SortStableFunc(nodes, func(a, b Node) int {
		switch {
		case a.Priority > b.Priority:
			return -1
		case a.Priority < b.Priority:
			return 1
		}
		return 0
	})
	p.weights = make([]int64, len(nodes))
	for i, n := range nodes {
		p.index[addr{n.Host, n.Port}] = i
		p.weights[i] = int64(n.Weight)
		if len(p.groups) == 0 || p.groups[len(p.groups)-1].priority != n.Priority {
			p.groups = append(p.groups, group{lo: i, hi: i, priority: n.Priority})
		}
		p.groups[len(p.groups)-1].hi = i + 1
	}
	p.nodes = nodes
}

// sel is the per-try selection state. It lives on Pick's stack: every
// function that takes it is a concrete method, so it never escapes.
type sel struct {
	nodes   []Node
	weights []int64 // nodes' weights, compact
	tried   *Tried
	healthy func(Node) bool // nil once health is ignored
	hash    uint32          // chash key hash
	plain   bool            // nothing tried and no health: weight alone decides
}

func newSel(p *picker, tried *Tried, healthy func(Node) bool) sel {
	s := sel{nodes: p.nodes, weights: p.weights, tried: tried, healthy: healthy}
	s.setPlain()
	return s
}

func (s *sel) setPlain() {
	s.plain = (s.tried == nil || s.tried.n == 0) && s.healthy == nil
}

// ok reports whether node i may take this try.
func (s *sel) ok(i int) bool {
	if s.plain {
		return s.weights[i] > 0
	}
	return s.check(i)
}

func (s *sel) check(i int) bool {
	n := &s.nodes[i]
	if n.Weight <= 0 {
		return false
	}
	if s.tried != nil && s.tried.n > 0 && s.tried.has(n.Host, n.Port) {
		return false
	}
	return s.healthy == nil || s.healthy(*n)
}

func (p *picker) Pick(req *Request, tried *Tried, healthy func(Node) bool) (Node, error) {
	if p.valid == 0 {
		return Node{}, ErrNoNode
	}
	if p.single {
		// APISIX bypasses the balancer: retries land on the node again.
		n := p.nodes[0]
		if tried != nil {
			tried.Add(n)
		}
		return n, nil
	}
	s := newSel(p, tried, healthy)
	if p.kind == CHash {
		s.hash = p.ch.key.hash(req)
	}
	i := p.pickGroups(&s)
	if i < 0 && healthy != nil && !p.anyHealthy(healthy) {
		// Every node is unhealthy: APISIX then balances over all of them.
		s.healthy = nil
		s.setPlain()
		i = p.pickGroups(&s)
	}
	if i < 0 {
		return Node{}, ErrNoNode
	}
	n := p.nodes[i]
	if tried != nil {
		tried.Add(n)
	}
	return n, nil
}

// pickGroups walks the priorities from the highest: a lower one is used
// only when no node of the higher ones is eligible (all tried or unhealthy).
func (p *picker) pickGroups(s *sel) int {
	for g := range p.groups {
		var i int
		switch p.kind {
		case RoundRobin:
			i = p.rr.pick(p, g, s)
		case CHash:
			i = p.ch.pick(p, g, s)
		case LeastConn:
			i = p.lc.pick(p, g, s)
		case EWMA:
			i = p.ew.pick(p, g, s)
		}
		if i >= 0 {
			return i
		}
	}
	return -1
}

// anyHealthy reports whether some node that can take traffic is healthy.
func (p *picker) anyHealthy(healthy func(Node) bool) bool {
	for _, n := range p.nodes {
		if n.Weight > 0 && healthy(n) {
			return true
		}
	}
	return false
}
