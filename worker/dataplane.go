package worker

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/balancer"
	"github.com/portico-gw/portico/worker/health"
	"github.com/portico-gw/portico/worker/proxy"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/store"
)

// dataPlane is what requests use, built from one config snapshot off the
// request path and swapped in whole (APISIX rebuilds its router lazily on the
// next request; Portico builds before publishing, so no request pays for it).
type dataPlane struct {
	router   *router.Router
	revision int64
	hash     string
	// skipped: routes this build left out because the router could not
	// compile them (among those it compiled: each version is reported once)
	skipped error
	// unsupported: routes (and global rules) this build made answer 503
	// because of plugins the data plane cannot run, reported once per version
	unsupported error
	// global is what the global rules run for every matched route; when
	// globalErr is set, every matched route answers 503 instead.
	global    *chain
	globalErr error
}

// target is a route resolved down to what serving it needs: the router's
// Route.Value.
type target struct {
	// status, when not zero, is answered instead of proxying: the route's
	// service or upstream is missing or empty (APISIX: 404, 502, 503).
	status   int
	upstream *proxy.Upstream
	plugins  *chain // nil or empty: none to run
	routeID  string
	// unsupported is why status is 503 because of plugins; the build
	// collects it for the log and clears it.
	unsupported error
}

// Defaults for what neither route nor upstream sets (nginx_config).
const (
	defaultTimeout     = 60 * time.Second
	defaultPoolSize    = 320
	defaultIdleTimeout = 60 * time.Second
)

// builder is what one data-plane build leaves to the next, so that a config
// change costs the routes it touches instead of the whole table: the
// snapshot and router last built, how each route resolved, which routes
// resolved through which service or upstream, and one balancer per upstream
// version, so round-robin position, least_conn counts and ewma scores
// survive changes that do not touch that upstream. Builds are serialized;
// a failed build leaves it as it was.
type builder struct {
	mu     sync.Mutex
	mode   router.Mode
	last   *store.Snapshot // what router reflects; nil before the first build
	router *router.Router
	routes map[string]*resolved       // route id -> how it resolved in last
	users  map[string]map[string]bool // "services/<id>" or "upstreams/<id>" -> ids of the routes that looked it up
	// pickers: one balancer per version of an upstream, by the item that
	// holds it (upstream, service or route). An unchanged item is the
	// same *Item in every snapshot; a changed one, even with an equal
	// mod revision (standalone files have none), is another.
	pickers map[*store.Item]*sharedPicker
	// enabled is the `plugins:` list; plugins not in it are ignored.
	enabled map[string]bool
	// global: the global rules' chain and error as last built.
	global    *chain
	globalErr error
}

// resolved is what a route's resolution holds on to.
type resolved struct {
	deps   []string    // users keys it looked up, present or not
	picker *store.Item // pickers key it holds a reference to; nil = none
}

// sharedPicker is a balancer and the number of routes resolved to it.
type sharedPicker struct {
	balancer.Picker
	refs int
}

const (
	routesKind    = string(resource.Routes)
	servicesKind  = string(resource.Services)
	upstreamsKind = string(resource.Upstreams)
)

// buildDataPlane compiles snap, reusing what b built for the previous
// snapshot: only routes that changed, or that resolved through a service or
// upstream that changed, are resolved and compiled again, and the router is
// updated rather than rebuilt. Invalid items never reach here (the store
// validated them); a route whose references are missing still routes, and
// answers with APISIX's status for that case. dataPlane.skipped reports the
// routes this build left out because the router could not compile them.
func buildDataPlane(snap *store.Snapshot, mode router.Mode, b *builder, table *health.Table) (*dataPlane, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.router == nil || b.mode != mode {
		rtr, err := router.Build(mode, nil)
		if err != nil {
			return nil, fmt.Errorf("build router: %w", err)
		}
		b.mode, b.last, b.router = mode, nil, rtr
		b.routes, b.users, b.pickers = map[string]*resolved{}, map[string]map[string]bool{}, map[*store.Item]*sharedPicker{}
	}
	todo := map[string]bool{}
	snap.Changed(b.last, routesKind, func(id string) { todo[id] = true })
	for _, kind := range []string{servicesKind, upstreamsKind, pluginConfigsKind} {
		snap.Changed(b.last, kind, func(id string) {
			for rid := range b.users[kind+"/"+id] {
				todo[rid] = true
			}
		})
	}
	type change struct {
		id   string
		next *resolved // nil: the route is gone (deleted or disabled)
	}
	var (
		changes     []change
		del         []string
		add         []router.Route
		unsupported []error
	)
	for _, id := range slices.Sorted(maps.Keys(todo)) { // deterministic skipped list
		item := snap.Get(routesKind, id)
		rt, ok := routeValue(item)
		if !ok {
			changes = append(changes, change{id, nil})
			del = append(del, id)
			continue
		}
		r, res := b.compile(snap, item, rt, table)
		if t := r.Value.(*target); t.unsupported != nil {
			unsupported = append(unsupported, t.unsupported)
			t.unsupported = nil
		}
		changes = append(changes, change{id, res})
		add = append(add, r)
	}
	rtr, skipped, err := b.update(del, add)
	if err != nil {
		for _, c := range changes {
			if c.next != nil {
				b.release(c.next.picker)
			}
		}
		return nil, err
	}
	for _, c := range changes {
		b.commit(c.id, c.next)
	}
	globalChanged := b.last == nil
	snap.Changed(b.last, globalRulesKind, func(string) { globalChanged = true })
	if globalChanged {
		b.global, b.globalErr = buildChain(globalPlugins(snap), b.isEnabled)
		if b.globalErr != nil {
			unsupported = append(unsupported, fmt.Errorf("every route answers 503: %w", b.globalErr))
		}
	}
	b.router, b.last = rtr, snap
	return &dataPlane{
		router: rtr, revision: snap.Revision, hash: snap.Hash, skipped: skipped,
		unsupported: errors.Join(unsupported...), global: b.global, globalErr: b.globalErr,
	}, nil
}

func (b *builder) isEnabled(name string) bool { return b.enabled[name] }

// update applies the route changes to the router. One route the router
// cannot compile (a regex RE2 does not support, say) must not hold back
// every other change: the routes that fail on their own are left out (an
// earlier version of theirs is removed too) and reported in skipped; err
// means there is no router.
func (b *builder) update(del []string, add []router.Route) (rtr *router.Router, skipped, err error) {
	rtr, err = b.router.Update(del, add)
	if err == nil {
		return rtr, nil, nil
	}
	var kept []router.Route
	var bad []error
	for _, r := range add {
		if _, err := router.Build(b.mode, []router.Route{r}); err != nil {
			bad = append(bad, err)
			del = append(del, r.ID)
			continue
		}
		kept = append(kept, r)
	}
	if rtr, err = b.router.Update(del, kept); err != nil {
		return nil, nil, fmt.Errorf("build router: %w", err)
	}
	return rtr, errors.Join(bad...), nil
}

// commit records that route id now resolves as next (nil: gone), dropping
// what its previous resolution held. next's balancer reference was taken
// when it resolved, before the old one is released here, so a balancer in
// use by both stays.
func (b *builder) commit(id string, next *resolved) {
	if old := b.routes[id]; old != nil {
		b.release(old.picker)
		for _, d := range old.deps {
			delete(b.users[d], id)
			if len(b.users[d]) == 0 {
				delete(b.users, d)
			}
		}
		delete(b.routes, id)
	}
	if next == nil {
		return
	}
	b.routes[id] = next
	for _, d := range next.deps {
		if b.users[d] == nil {
			b.users[d] = map[string]bool{}
		}
		b.users[d][id] = true
	}
}

// acquire returns the balancer for key, creating it from cfg, and takes a
// reference to it.
func (b *builder) acquire(key *store.Item, cfg balancer.Config) (balancer.Picker, error) {
	if sp := b.pickers[key]; sp != nil {
		sp.refs++
		return sp.Picker, nil
	}
	pk, err := balancer.New(cfg)
	if err != nil {
		return nil, err
	}
	b.pickers[key] = &sharedPicker{Picker: pk, refs: 1}
	return pk, nil
}

// release drops a reference taken by acquire; the last one forgets the
// balancer.
func (b *builder) release(key *store.Item) {
	if sp := b.pickers[key]; sp != nil {
		if sp.refs--; sp.refs == 0 {
			delete(b.pickers, key)
		}
	}
}

// routeValue is the route item's value when the route takes part in
// routing.
func routeValue(item *store.Item) (*resource.Route, bool) {
	if item == nil {
		return nil, false
	}
	rt, ok := item.Value.(*resource.Route)
	return rt, ok && rt.Enabled()
}

// compile turns one route into the router's input, resolved down to its
// upstream (spec 4.5 and 5).
func (b *builder) compile(snap *store.Snapshot, item *store.Item, rt *resource.Route, table *health.Table) (router.Route, *resolved) {
	r := router.Route{
		ID:          item.ID,
		URIs:        rt.URIs,
		Hosts:       rt.Hosts,
		Methods:     rt.Methods,
		RemoteAddrs: rt.RemoteAddrs,
		Vars:        rt.Vars,
		Priority:    rt.Priority,
		Status:      rt.Status,
	}
	if rt.URI != "" {
		r.URIs = []string{rt.URI}
	}
	if rt.Host != "" {
		r.Hosts = []string{rt.Host}
	}
	if rt.RemoteAddr != "" {
		r.RemoteAddrs = []string{rt.RemoteAddr}
	}
	res := &resolved{}
	r.Value = b.resolve(snap, item, rt, &r, res, table)
	return r, res
}

// resolve follows route -> service -> upstream (spec 4.5 and 5), noting in
// res every service and upstream it looks up and the balancer it takes.
func (b *builder) resolve(snap *store.Snapshot, item *store.Item, rt *resource.Route, r *router.Route, res *resolved, table *health.Table) *target {
	t := &target{}
	var svc *resource.Service
	if rt.ServiceID != nil {
		sid := resource.IDString(rt.ServiceID)
		res.deps = append(res.deps, servicesKind+"/"+sid)
		si := snap.Get(servicesKind, sid)
		if si == nil {
			t.status = http.StatusNotFound
			return t
		}
		svc = si.Value.(*resource.Service)
		if len(r.Hosts) == 0 {
			r.Hosts = svc.Hosts
		}
	}
	t.routeID = item.ID
	confs, err := routePlugins(snap, item, rt, svc, res)
	if err == nil {
		t.plugins, err = buildChain(confs, b.isEnabled)
	}
	if err != nil {
		t.status, t.unsupported = http.StatusServiceUnavailable, err
		return t
	}
	// ownerItem holds the upstream: its key names the upstream for health
	// state, and the item itself (this version of it) the balancer's.
	up, ownerItem := rt.Upstream, item
	upID := rt.UpstreamID
	if up == nil && upID == nil && svc != nil {
		up, upID = svc.Upstream, svc.UpstreamID
		ownerItem = snap.Get(servicesKind, resource.IDString(rt.ServiceID))
	}
	if up == nil && upID != nil {
		uid := resource.IDString(upID)
		res.deps = append(res.deps, upstreamsKind+"/"+uid)
		ui := snap.Get(upstreamsKind, uid)
		if ui == nil {
			t.status = http.StatusBadGateway
			return t
		}
		up, ownerItem = ui.Value.(*resource.Upstream), ui
	}
	if up == nil {
		t.status = http.StatusServiceUnavailable
		return t
	}
	d := up.Defaults()
	if len(d.Nodes) == 0 || d.Scheme != "http" && d.Scheme != "https" {
		t.status = http.StatusServiceUnavailable
		return t
	}
	cfg := balancer.Config{Kind: balancer.Kind(d.Type), HashOn: d.HashOn, Key: d.Key}
	for _, n := range d.Nodes {
		port := n.Port
		if port == 0 {
			port = resource.DefaultPort(d.Scheme)
		}
		cfg.Nodes = append(cfg.Nodes, balancer.Node{Host: n.Host, Port: port, Weight: n.Weight, Priority: n.Priority})
	}
	picker, err := b.acquire(ownerItem, cfg)
	if err != nil {
		t.status = http.StatusServiceUnavailable
		return t
	}
	res.picker = ownerItem
	timeout := rt.Timeout // route, then upstream, then nginx's 60 s
	if timeout == nil {
		timeout = d.Timeout
	}
	pool := proxy.Pool{
		Scheme: d.Scheme, Size: defaultPoolSize, IdleTimeout: defaultIdleTimeout,
		Connect: defaultTimeout, Send: defaultTimeout, Read: defaultTimeout,
	}
	if timeout != nil {
		pool.Connect, pool.Send, pool.Read = seconds(timeout.Connect), seconds(timeout.Send), seconds(timeout.Read)
	}
	if kp := d.KeepalivePool; kp != nil {
		if kp.Size > 0 {
			pool.Size = kp.Size
		}
		if kp.IdleTimeout != nil {
			pool.IdleTimeout = seconds(*kp.IdleTimeout)
		}
	}
	websocket := rt.EnableWebsocket
	if websocket == nil && svc != nil {
		websocket = svc.EnableWebsocket
	}
	pu := &proxy.Upstream{
		Pool:            pool,
		PassHost:        d.PassHost,
		UpstreamHost:    d.UpstreamHost,
		Tries:           1 + d.EffectiveRetries(len(cfg.Nodes)),
		EnableWebsocket: websocket != nil && *websocket,
	}
	if d.RetryTimeout != nil {
		pu.RetryTimeout = seconds(*d.RetryTimeout)
	}
	var healthy func(balancer.Node) bool
	var passive func(n proxy.Node, status int, err error)
	if table != nil && up.Checks != nil && up.Checks.Active != nil {
		// Verdicts of the agent's checks; keys computed once here.
		keys := map[balancer.Node]int64{}
		for _, n := range cfg.Nodes {
			keys[nodeOnly(n)] = health.Key(ownerItem.Key, health.NodeID(n.Host, n.Port))
		}
		healthy = func(n balancer.Node) bool { return table.Healthy(keys[nodeOnly(n)]) }
		if pass := health.NewPassive(d.Checks.Passive); pass != nil {
			passive = func(n proxy.Node, status int, err error) {
				key := keys[balancer.Node{Host: n.Host, Port: n.Port}]
				switch {
				case err == nil:
					table.Report(key, pass, health.Status(status))
				case proxy.IsResolveError(err):
					// The name did not resolve: not the node's fault.
				case proxy.IsTimeout(err):
					table.Report(key, pass, health.Timeout)
				default:
					table.Report(key, pass, health.TCPFailure)
				}
			}
		}
	}
	pu.Pick = func(data any, _ int, tried []proxy.Node) (proxy.Node, error) {
		vars := data.(*reqVars)
		// The balancer's arguments live in the (pooled) vars: built here,
		// they would be allocated on every request.
		tr := &vars.tried
		*tr = balancer.Tried{}
		for _, n := range tried {
			tr.Add(balancer.Node{Host: n.Host, Port: n.Port})
		}
		vars.pick = balancer.Request{Var: vars.lookup, RemoteAddr: vars.remoteAddr()}
		n, err := picker.Pick(&vars.pick, tr, healthy)
		return proxy.Node{Host: n.Host, Port: n.Port}, err
	}
	pu.Done = func(data any, n proxy.Node, took time.Duration, status int, err error) {
		data.(*reqVars).upstreamStatus = status
		picker.Done(balancer.Node{Host: n.Host, Port: n.Port}, took, err != nil)
		if passive != nil {
			passive(n, status, err)
		}
	}
	t.upstream = pu
	return t
}

// nodeOnly is a node's identity for health lookups.
func nodeOnly(n balancer.Node) balancer.Node { return balancer.Node{Host: n.Host, Port: n.Port} }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
