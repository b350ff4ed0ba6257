package balancer

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// ErrNoNode is returned by Pick when no node may take the try: every node
// has weight 0, the upstream has no node, or every eligible node was already
// tried by this request. The caller answers 502 (503 when it knew up front
// that the upstream has no node).
var ErrNoNode = errors.New("no valid upstream node")

// Node is one upstream target. Host is an IP literal (IPv6 in brackets, as
// APISIX stores it) or a name the caller has already resolved; Port is
// defaulted by the caller (80/443 by scheme) before New.
type Node struct {
	Host     string
	Port     int
	Weight   int
	Priority int
}

// Key identifies a node for health, tried sets and stats: "host:port".
// It allocates; the pick path compares Host and Port instead.
func (n Node) Key() string { return n.Host + ":" + strconv.Itoa(n.Port) }

// Kind names a balancing algorithm, as APISIX's upstream `type`.
type Kind string

const (
	RoundRobin Kind = "roundrobin"
	CHash      Kind = "chash"
	LeastConn  Kind = "least_conn"
	EWMA       Kind = "ewma"
)

// Config is one upstream version as the balancer sees it.
type Config struct {
	Kind  Kind   // "" means roundrobin
	Nodes []Node // array form; the map form "host:port" -> weight is converted by the caller
	// HashOn and Key choose the chash key (ignored by the other kinds):
	// HashOn is vars (default), header, cookie, consumer or
	// vars_combinations; Key is required unless HashOn is consumer.
	HashOn string
	Key    string
	// Deterministic removes randomness, for tests: roundrobin starts at
	// the beginning of its cycle (as nginx does) instead of a random
	// phase, and ewma draws its two candidates from a fixed seed.
	Deterministic bool
}

// Picker chooses upstream nodes for one upstream version. It is built once
// per version and shared by every request of the worker; all methods are
// safe for concurrent use.
type Picker interface {
	// Pick chooses the node for one try of a request and records it in
	// tried (when tried is not nil). tried holds the nodes this request
	// already tried: they are not picked again, and once every eligible
	// node is in it Pick returns ErrNoNode. healthy reports node health
	// (nil: all healthy); unhealthy nodes are skipped unless every node of
	// the upstream is unhealthy, then health is ignored. healthy is called
	// with the picker's lock held: it must be cheap and must not call back
	// into the picker.
	Pick(req *Request, tried *Tried, healthy func(Node) bool) (Node, error)
	// Done reports the end of a try of n, which this picker returned:
	// least_conn releases the connection, ewma records the latency (a
	// failed try is penalised). Every successful Pick is followed by
	// exactly one Done.
	Done(n Node, took time.Duration, failed bool)
}

// Request carries what chash needs to build its key. Var looks up an nginx
// style variable (remote_addr, arg_x, http_x_user, cookie_sid, ...);
// ok is false when the variable is absent.
type Request struct {
	Var        func(name string) (value string, ok bool)
	RemoteAddr string
	Consumer   string
}

// maxWeight bounds weights so that scores and ring sizes stay in range.
const maxWeight = math.MaxInt32

// New validates c and builds its picker. Errors name the offending field.
// Nodes with the same host:port are merged, the last one winning (APISIX
// turns the node list into a "host:port" -> weight map the same way).
// An upstream without nodes, or with only weight 0 nodes, is accepted: its
// Pick returns ErrNoNode.
func New(c Config) (Picker, error) {
	kind := c.Kind
	if kind == "" {
		kind = RoundRobin
	}
	switch kind {
	case RoundRobin, CHash, LeastConn, EWMA:
	default:
		return nil, fmt.Errorf("balancer: type: unsupported balancer type %q", string(c.Kind))
	}
	for i, n := range c.Nodes {
		switch {
		case n.Host == "":
			return nil, fmt.Errorf("balancer: nodes[%d].host: empty", i)
		case n.Port < 1 || n.Port > 65535:
			return nil, fmt.Errorf("balancer: nodes[%d].port: %d out of range 1..65535", i, n.Port)
		case n.Weight < 0 || n.Weight > maxWeight:
			return nil, fmt.Errorf("balancer: nodes[%d].weight: %d out of range 0..%d", i, n.Weight, maxWeight)
		}
	}
	var key *chashKey
	if kind == CHash {
		var err error
		if key, err = newCHashKey(c.HashOn, c.Key); err != nil {
			return nil, err
		}
	}

	p := &picker{kind: kind}
	p.group(c.Nodes)
	for _, n := range p.nodes {
		if n.Weight > 0 {
			p.valid++
		}
	}
	p.single = len(p.nodes) == 1 && kind != LeastConn
	switch kind {
	case RoundRobin:
		p.rr.init(p, c.Deterministic)
	case CHash:
		p.ch.init(p, key)
	case LeastConn:
		p.lc.init(p)
	case EWMA:
		p.ew.init(p, c.Deterministic)
	}
	return p, nil
}

// picker is the one Picker implementation: the kind's state lives in one
// of rr, ch, lc, ew and Pick dispatches with a switch rather than through
// an interface, so that the per-try selection state stays on the stack.
type picker struct {
	kind    Kind
	nodes   []Node  // deduplicated, by priority descending, then config order
	weights []int64 // nodes' weights
	groups  []group // one per priority, highest first
	index   map[addr]int
	valid   int  // nodes with weight > 0
	single  bool // one node and not least_conn: no balancing at all

	mu sync.Mutex // guards the mutable state of rr, lc and ew
	rr rrState
	ch chashState
	lc lcState
	ew ewmaState
}

func (p *picker) Done(n Node, took time.Duration, failed bool) {
	switch p.kind {
	case LeastConn:
		p.lc.done(p, n)
	case EWMA:
		p.ew.done(p, n, took, failed)
	}
}

// lookup returns the index of n in p.nodes, or -1.
func (p *picker) lookup(n Node) int {
	if i, ok := p.index[addr{n.Host, n.Port}]; ok {
		return i
	}
	return -1
}
