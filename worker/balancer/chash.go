package balancer

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strings"
)

const (
	// pointsPerWeight is resty.chash's CONSISTENT_POINTS.
	pointsPerWeight = 160
	// maxPoints bounds one ring (8 bytes a point). resty.chash has no
	// bound; beyond it the weights are scaled down proportionally.
	maxPoints = 1 << 20
)

// point is one virtual node on the ring.
type point struct {
	hash uint32
	node int32 // index in picker.nodes
}

// chashState is resty.chash as APISIX uses it, one ring per priority.
// Weights are divided by their GCD, then each node gets 160 points per
// unit of weight. Point k of a node hashes to
// crc32(id ++ le32(hash of point k-1)), the first one to crc32(id ++ 0000),
// where id is "host:port" with every ':' turned into a NUL byte: the same
// points APISIX computes, so both send a key to the same node. A key goes
// to the first point whose hash is >= crc32(key), wrapping around.
type chashState struct {
	key   *chashKey
	rings [][]point // by group; immutable after New
}

func (c *chashState) init(p *picker, key *chashKey) {
	c.key = key
	c.rings = make([][]point, len(p.groups))
	for g, gr := range p.groups {
		c.rings[g] = buildRing(p.nodes, gr)
	}
}

func buildRing(nodes []Node, gr group) []point {
	ids := make([]string, gr.hi-gr.lo)
	weights := make([]int64, gr.hi-gr.lo)
	for i, n := range nodes[gr.lo:gr.hi] {
		ids[i] = strings.ReplaceAll(n.Key(), ":", "\x00")
		weights[i] = int64(n.Weight)
	}
	ring := makeRing(ids, weights)
	for i := range ring {
		ring[i].node += int32(gr.lo)
	}
	return ring
}

// makeRing builds the sorted ring of ids with the given weights; a point's
// node is the index in ids.
func makeRing(ids []string, weights []int64) []point {
	var d, units int64
	for _, w := range weights {
		d = gcd(d, w)
	}
	if d == 0 {
		return nil
	}
	for _, w := range weights {
		units += w / d
	}
	scale := 1.0
	if units*pointsPerWeight > maxPoints {
		scale = float64(maxPoints/pointsPerWeight) / float64(units)
		units = 0
		for _, w := range weights {
			units += scaled(w/d, scale)
		}
	}
	// Ties (rare) are broken by id, so that the ring does not depend on
	// the order the nodes were configured in: points are generated in
	// the order of their ids and sorted stably by hash.
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	ring := make([]point, 0, units*pointsPerWeight)
	var prev [4]byte
	for _, i := range order {
		u := scaled(weights[i]/d, scale)
		if u == 0 {
			continue
		}
		base := crc32.ChecksumIEEE([]byte(ids[i]))
		clear(prev[:])
		for range u * pointsPerWeight {
			h := crc32.Update(base, crc32.IEEETable, prev[:])
			ring = append(ring, point{hash: h, node: int32(i)})
			binary.LittleEndian.PutUint32(prev[:], h)
		}
	}
	return radixSort(ring)
}

// radixSort sorts points by hash, stably: four passes of 8 bits.
func radixSort(a []point) []point {
	b := make([]point, len(a))
	for shift := 0; shift < 32; shift += 8 {
		var count [257]int
		for _, p := range a {
			count[(p.hash>>shift)&0xff+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, p := range a {
			k := (p.hash >> shift) & 0xff
			b[count[k]] = p
			count[k]++
		}
		a, b = b, a
	}
	return a
}

func scaled(units int64, scale float64) int64 {
	if units == 0 || scale >= 1 {
		return units
	}
	return max(1, int64(float64(units)*scale))
}

// pick returns the node owning the key's point, or, when it is tried or
// unhealthy, the node of the next point clockwise that is neither (the
// walk APISIX does on retries with picker:next). -1 when no node of the
// group is eligible.
func (c *chashState) pick(p *picker, g int, s *sel) int {
	ring := c.rings[g]
	if len(ring) == 0 {
		return -1
	}
	start := search(ring, s.hash)
	first := int(ring[start].node)
	if s.ok(first) {
		return first
	}
	gr := p.groups[g]
	var bad uint64 // nodes known ineligible, by offset in the group (first 64)
	eligible := false
	for i := gr.lo; i < gr.hi; i++ {
		if s.ok(i) {
			eligible = true
		} else if i-gr.lo < 64 {
			bad |= 1 << (i - gr.lo)
		}
	}
	if !eligible {
		return -1
	}
	for k := 1; k < len(ring); k++ {
		j := start + k
		if j >= len(ring) {
			j -= len(ring)
		}
		i := int(ring[j].node)
		if off := i - gr.lo; off < 64 && bad&(1<<off) != 0 {
			continue
		}
		if s.ok(i) {
			return i
		}
	}
	return -1 // health changed under the walk
}

// search returns the index of the first point with hash >= h, wrapping to
// 0 past the last one.
func search(ring []point, h uint32) int {
	lo, hi := 0, len(ring)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ring[m].hash < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(ring) {
		return 0
	}
	return lo
}
