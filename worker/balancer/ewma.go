package balancer

import (
	"math"
	"math/rand/v2"
	"time"
)

const (
	// ewmaDecay is the time constant of the latency average (APISIX's
	// DECAY_TIME): a sample taken td after the previous one weighs
	// 1-exp(-td/ewmaDecay), and a score read td after its last sample
	// is worth score*exp(-td/ewmaDecay), so an idle node drifts back
	// towards 0 and is tried again.
	ewmaDecay = 10 * time.Second
	// ewmaFailPenalty is added to the duration of a failed try, and the
	// node's score is raised at once to at least that (a peak, not an
	// average): a node refusing connections must not look fast.
	ewmaFailPenalty = time.Second
	// ewmaDraws is how many random draws look for two eligible nodes
	// before a full scan samples them instead.
	ewmaDraws = 8
)

// ewmaState is APISIX's ewma ("power of two choices"): two distinct
// eligible nodes are drawn at random and the one with the lower decayed
// latency score wins; a node never measured scores 0. Weights only
// exclude weight 0 nodes, as in APISIX.
type ewmaState struct {
	score []float64 // seconds, as of last; guarded by picker.mu
	last  []int64   // clock reading of the last sample; 0: never sampled
	now   func() int64
	rng   *rand.Rand // guarded by picker.mu
}

func (e *ewmaState) init(p *picker, deterministic bool) {
	e.score = make([]float64, len(p.nodes))
	e.last = make([]int64, len(p.nodes))
	start := time.Now()
	e.now = func() int64 { return int64(time.Since(start)) + 1 }
	if deterministic {
		e.rng = rand.New(rand.NewPCG(1, 2))
	} else {
		e.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
}

func (e *ewmaState) pick(p *picker, g int, s *sel) int {
	gr := p.groups[g]
	p.mu.Lock()
	defer p.mu.Unlock()
	a, b := -1, -1
	for range ewmaDraws {
		i := gr.lo + e.rng.IntN(gr.hi-gr.lo)
		if i == a || !s.ok(i) {
			continue
		}
		if a < 0 {
			a = i
			continue
		}
		b = i
		break
	}
	if b < 0 {
		a, b = e.sample(gr, s)
	}
	if b < 0 {
		return a
	}
	now := e.now()
	if e.current(a, now) > e.current(b, now) {
		return b
	}
	return a
}

// sample draws two distinct eligible nodes of gr uniformly (reservoir
// sampling), in random order; b is -1 when only one is eligible, both are
// when none is.
func (e *ewmaState) sample(gr group, s *sel) (a, b int) {
	a, b = -1, -1
	seen := 0
	for i := gr.lo; i < gr.hi; i++ {
		if !s.ok(i) {
			continue
		}
		seen++
		switch seen {
		case 1:
			a = i
		case 2:
			b = i
		default:
			switch e.rng.IntN(seen) {
			case 0:
				a = i
			case 1:
				b = i
			}
		}
	}
	if b >= 0 && e.rng.IntN(2) == 0 {
		a, b = b, a
	}
	return a, b
}

// current is node i's score decayed to now.
func (e *ewmaState) current(i int, now int64) float64 {
	if e.last[i] == 0 {
		return 0
	}
	return e.score[i] * decayWeight(now-e.last[i])
}

func (e *ewmaState) done(p *picker, n Node, took time.Duration, failed bool) {
	i := p.lookup(n)
	if i < 0 {
		return
	}
	rtt := took.Seconds()
	p.mu.Lock()
	now := e.now()
	score := rtt
	if e.last[i] != 0 {
		w := decayWeight(now - e.last[i])
		score = e.score[i]*w + rtt*(1-w)
	}
	if failed {
		score = max(score, (took + ewmaFailPenalty).Seconds())
	}
	e.score[i], e.last[i] = score, now
	p.mu.Unlock()
}

// decayWeight is exp(-td/ewmaDecay), td in clock nanoseconds.
func decayWeight(td int64) float64 {
	return math.Exp(-float64(max(td, 0)) / float64(ewmaDecay))
}
