package health

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/store"
)

// PassiveTick is how often the agent collects the threshold crossings
// workers flagged. It bounds the time from the report that reaches a
// passive threshold to the verdict every worker reads on its next pick.
const PassiveTick = 20 * time.Millisecond

// Resolver turns a node's host into an address to dial (worker/dns).
type Resolver interface {
	Resolve(ctx context.Context, host string) (netip.Addr, error)
}

// Checker is the agent's side of the table: it registers the targets of
// every upstream with checks, probes them (active checks, one goroutine per
// target), collects what workers reported (passive checks) and writes every
// verdict.
type Checker struct {
	table    *Table
	resolver Resolver // nil: the system resolver
	log      zerolog.Logger

	wg sync.WaitGroup // the probe and collection goroutines

	mu       sync.Mutex         // guards the fields below; held while a verdict is decided
	targets  map[string]*target // owner|node -> target
	passive  []*target          // the targets with passive checks, collected every PassiveTick
	stopPoll context.CancelFunc // nil when passive is empty
	stopped  bool               // Stop was called: Update starts nothing
}

// NewChecker writes verdicts into table; probes resolve node hosts with
// resolver (nil: the system resolver).
func NewChecker(table *Table, resolver Resolver, log zerolog.Logger) *Checker {
	return &Checker{table: table, resolver: resolver, log: log, targets: map[string]*target{}}
}

type target struct {
	owner, node string
	host        string
	port        int
	key         int64
	bucket      int
	active      resource.ActiveCheck
	passive     bool
	version     string // the checks and node: a change restarts the probe
	cancel      context.CancelFunc
}

// Update starts checks for targets new in snap and stops the ones gone. A
// target keeps its verdict and counters in the table across changes.
func (c *Checker) Update(snap *store.Snapshot) {
	want := map[string]*target{}
	add := func(owner string, up *resource.Upstream) {
		if up == nil || up.Checks == nil || up.Checks.Active == nil {
			return
		}
		d := up.Defaults()
		for _, n := range d.Nodes {
			port := n.Port
			if port == 0 {
				port = resource.DefaultPort(d.Scheme)
			}
			node := NodeID(n.Host, port)
			// Dialled as host:port, so an IPv6 host loses its brackets.
			host := strings.TrimSuffix(strings.TrimPrefix(n.Host, "["), "]")
			tg := &target{owner: owner, node: node, host: host, port: port, key: Key(owner, node), active: *d.Checks.Active, passive: d.Checks.Passive != nil}
			// By value: Defaults copies the upstream, so pointer fields
			// are new on every snapshot even when nothing changed.
			active, _ := json.Marshal(tg.active)
			tg.version = string(active) + "|" + strconv.FormatBool(tg.passive)
			want[owner+"|"+node] = tg
		}
	}
	for _, it := range snap.Items[string(resource.Routes)] {
		if r, ok := it.Value.(*resource.Route); ok {
			add(it.Key, r.Upstream)
		}
	}
	for _, it := range snap.Items[string(resource.Services)] {
		if s, ok := it.Value.(*resource.Service); ok {
			add(it.Key, s.Upstream)
		}
	}
	for _, it := range snap.Items[string(resource.Upstreams)] {
		if u, ok := it.Value.(*resource.Upstream); ok {
			add(it.Key, u)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	for id, tg := range c.targets {
		if w, ok := want[id]; !ok || w.version != tg.version {
			tg.cancel()
			delete(c.targets, id)
		}
	}
	for id, tg := range want {
		if _, ok := c.targets[id]; ok {
			continue
		}
		b, ok := c.table.register(tg.key)
		if !ok {
			c.log.Warn().Str("upstream", tg.owner).Str("node", tg.node).AnErr("zone", c.table.Err()).
				Msg("no room in the health table: the node is not checked and reads healthy")
			continue
		}
		tg.bucket = b
		ctx, cancel := context.WithCancel(context.Background())
		tg.cancel = cancel
		c.targets[id] = tg
		c.wg.Go(func() { c.run(ctx, tg) })
	}
	c.passive = c.passive[:0]
	for _, tg := range c.targets {
		if tg.passive {
			c.passive = append(c.passive, tg)
		}
	}
	switch {
	case len(c.passive) > 0 && c.stopPoll == nil:
		ctx, cancel := context.WithCancel(context.Background())
		c.stopPoll = cancel
		c.wg.Go(func() { c.poll(ctx) })
	case len(c.passive) == 0 && c.stopPoll != nil:
		c.stopPoll()
		c.stopPoll = nil
	}
}

// Stop ends every check and returns once none touches the table.
func (c *Checker) Stop() {
	c.mu.Lock()
	c.stopped = true
	for id, tg := range c.targets {
		tg.cancel()
		delete(c.targets, id)
	}
	c.passive = nil
	if c.stopPoll != nil {
		c.stopPoll()
		c.stopPoll = nil
	}
	c.mu.Unlock() // the goroutines take it to settle their last outcome
	c.wg.Wait()
}

// poll collects the workers' flags every PassiveTick until ctx ends.
func (c *Checker) poll(ctx context.Context) {
	tick := time.NewTicker(PassiveTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.collect()
	}
}

// collect turns the crossings workers flagged into verdicts.
func (c *Checker) collect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tg := range c.passive {
		if uint64(c.table.z.Load(slot(tg.bucket, slotCounters)))&flagMask != 0 {
			c.settle(tg, probeResult{})
		}
	}
}

// probeResult is one active probe's outcome; limit 0 means none.
type probeResult struct {
	ctr    counter
	limit  uint8
	status int
	err    error
}

// settle applies to tg, in their order, the crossings workers flagged since
// the agent last looked and then the active outcome r, in one
// compare-and-swap of the counters. Called with c.mu held, so verdicts are
// decided one at a time.
func (c *Checker) settle(tg *target, r probeResult) {
	s := slot(tg.bucket, slotCounters)
	for {
		old := uint64(c.table.z.Load(s))
		was := c.table.healthy(tg.bucket)
		passive := was
		if old&flagMask != 0 {
			passive = flagged(old)
		}
		w, active := old&^flagMask, passive
		if r.limit > 0 && counts(passive, w, r.ctr) {
			var n uint8
			w, n = count(w, r.ctr)
			if crosses(passive, r.ctr, n, r.limit) {
				active = !passive
			}
		}
		if !c.table.z.CompareAndSwap(s, int64(old), int64(w)) {
			continue // a worker reported meanwhile
		}
		if passive != was {
			c.table.setHealthy(tg.bucket, passive)
			c.logVerdict(tg, passive, "passive", old).Msg(verdictMsg(passive))
		}
		if active != passive {
			c.table.setHealthy(tg.bucket, active)
			c.logVerdict(tg, active, "active", w).Int("status", r.status).AnErr("error", r.err).Msg(verdictMsg(active))
		}
		return
	}
}

func verdictMsg(healthy bool) string {
	if healthy {
		return "node healthy"
	}
	return "node unhealthy"
}

func (c *Checker) logVerdict(tg *target, healthy bool, check string, w uint64) *zerolog.Event {
	ev := c.log.Warn()
	if healthy {
		ev = c.log.Info()
	}
	return ev.Str("upstream", tg.owner).Str("node", tg.node).Str("check", check).
		Uint8("successes", uint8(w)).Uint8("http_failures", uint8(w>>8)).
		Uint8("tcp_failures", uint8(w>>16)).Uint8("timeouts", uint8(w>>24))
}

// run probes one target until ctx ends.
func (c *Checker) run(ctx context.Context, tg *target) {
	a := tg.active
	client := &http.Client{
		Timeout: time.Duration(*a.Timeout * float64(time.Second)),
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       c.dial,
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: !*a.HTTPSVerifyCertificate, ServerName: a.Host},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	for {
		interval := a.Healthy.Interval
		if !c.table.healthy(tg.bucket) {
			interval = a.Unhealthy.Interval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(interval) * time.Second):
		}
		status, err := c.probeOnce(ctx, client, tg)
		if ctx.Err() != nil {
			return
		}
		r := classifyProbe(&a, status, err)
		if r.limit == 0 {
			continue
		}
		c.mu.Lock()
		c.settle(tg, r)
		c.mu.Unlock()
	}
}

// classifyProbe maps a probe's outcome to its counter and the active
// threshold, as lua-resty-healthcheck's report_* functions do.
func classifyProbe(a *resource.ActiveCheck, status int, err error) probeResult {
	r := probeResult{status: status, err: err}
	switch {
	case err != nil && isTimeout(err):
		r.ctr, r.limit = ctrTimeout, uint8(a.Unhealthy.Timeouts)
	case err != nil:
		r.ctr, r.limit = ctrTCP, uint8(a.Unhealthy.TCPFailures)
	case a.Type == "tcp" || slices.Contains(a.Healthy.HTTPStatuses, status):
		r.ctr, r.limit = ctrSuccess, uint8(a.Healthy.Successes)
	case slices.Contains(a.Unhealthy.HTTPStatuses, status):
		r.ctr, r.limit = ctrHTTP, uint8(a.Unhealthy.HTTPFailures)
	}
	return r
}

// dial connects to addr, resolving its host with the checker's resolver.
// A stale answer (dns.ErrStale) is still dialled.
func (c *Checker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.resolver != nil {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ip, err := c.resolver.Resolve(ctx, host)
		if !ip.IsValid() {
			return nil, err
		}
		addr = net.JoinHostPort(ip.String(), port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (c *Checker) probeOnce(ctx context.Context, client *http.Client, tg *target) (int, error) {
	a := tg.active
	port := tg.port
	if a.Port != 0 {
		port = a.Port
	}
	addr := net.JoinHostPort(tg.host, strconv.Itoa(port))
	timeout := time.Duration(*a.Timeout * float64(time.Second))
	if a.Type == "tcp" {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := c.dial(ctx, "tcp", addr)
		if err != nil {
			return 0, err
		}
		conn.Close()
		return 0, nil
	}
	scheme := "http"
	if a.Type == "https" {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, a.HTTPMethod, scheme+"://"+addr+a.HTTPPath, nil)
	if err != nil {
		return 0, err
	}
	if a.Host != "" {
		req.Host = a.Host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// NodeID names a node in table keys; workers and the agent must agree on it.
func NodeID(host string, port int) string { return host + ":" + strconv.Itoa(port) }
