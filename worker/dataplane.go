package worker

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
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
	skipped  error // routes left out because the router could not compile them
}

// target is a route resolved down to what serving it needs: the router's
// Route.Value.
type target struct {
	// status, when not zero, is answered instead of proxying: the route's
	// service or upstream is missing or empty (APISIX: 404, 502, 503).
	status   int
	upstream *proxy.Upstream
}

// Defaults for what neither route nor upstream sets (nginx_config).
const (
	defaultTimeout     = 60 * time.Second
	defaultPoolSize    = 320
	defaultIdleTimeout = 60 * time.Second
)

// pickers keeps one balancer per upstream version across snapshots, so
// round-robin position, least_conn counts and ewma scores survive config
// changes that do not touch that upstream.
type pickers struct {
	mu sync.Mutex
	m  map[string]balancer.Picker // key: owner key + "#" + mod revision
}

func (p *pickers) get(key string, cfg balancer.Config, live map[string]bool) (balancer.Picker, error) {
	live[key] = true
	p.mu.Lock()
	defer p.mu.Unlock()
	if pk, ok := p.m[key]; ok {
		return pk, nil
	}
	pk, err := balancer.New(cfg)
	if err != nil {
		return nil, err
	}
	if p.m == nil {
		p.m = map[string]balancer.Picker{}
	}
	p.m[key] = pk
	return pk, nil
}

// retain forgets pickers of upstream versions no longer in use.
func (p *pickers) retain(live map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.m {
		if !live[k] {
			delete(p.m, k)
		}
	}
}

// buildDataPlane compiles snap. Invalid items never reach here (the store
// validated them); a route whose references are missing still routes, and
// answers with APISIX's status for that case.
func buildDataPlane(snap *store.Snapshot, mode router.Mode, pk *pickers, health *health.Table) (*dataPlane, error) {
	live := map[string]bool{}
	routes := make([]router.Route, 0, len(snap.Items[string(resource.Routes)]))
	ids := make([]string, 0, len(snap.Items[string(resource.Routes)]))
	for id := range snap.Items[string(resource.Routes)] {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic build order for equal priorities
	for _, id := range ids {
		item := snap.Items[string(resource.Routes)][id]
		rt, ok := item.Value.(*resource.Route)
		if !ok || !rt.Enabled() {
			continue
		}
		r := router.Route{
			ID:          id,
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
		r.Value = resolve(snap, item, rt, &r, pk, live, health)
		routes = append(routes, r)
	}
	pk.retain(live)
	rtr, err := router.Build(mode, routes)
	if err != nil {
		// One route the router cannot compile (a regex RE2 does not
		// support, say) must not hold back every other change: leave out
		// the routes that fail on their own, and report them.
		var kept []router.Route
		var bad []error
		for _, r := range routes {
			if _, err := router.Build(mode, []router.Route{r}); err != nil {
				bad = append(bad, err)
				continue
			}
			kept = append(kept, r)
		}
		if rtr, err = router.Build(mode, kept); err != nil {
			return nil, fmt.Errorf("build router: %w", err)
		}
		return &dataPlane{router: rtr, revision: snap.Revision, hash: snap.Hash, skipped: errors.Join(bad...)}, nil
	}
	return &dataPlane{router: rtr, revision: snap.Revision, hash: snap.Hash}, nil
}

// resolve follows route -> service -> upstream (spec 4.5 and 5).
func resolve(snap *store.Snapshot, item *store.Item, rt *resource.Route, r *router.Route, pk *pickers, live map[string]bool, table *health.Table) *target {
	t := &target{}
	var svc *resource.Service
	if rt.ServiceID != nil {
		si := snap.Get(string(resource.Services), resource.IDString(rt.ServiceID))
		if si == nil {
			t.status = http.StatusNotFound
			return t
		}
		svc = si.Value.(*resource.Service)
		if len(r.Hosts) == 0 {
			r.Hosts = svc.Hosts
		}
	}
	// ownerItem holds the upstream: its key names the upstream for health
	// state, and with its revision for the balancer's state.
	up, ownerItem := rt.Upstream, item
	upID := rt.UpstreamID
	if up == nil && upID == nil && svc != nil {
		up, upID = svc.Upstream, svc.UpstreamID
		ownerItem = snap.Get(string(resource.Services), resource.IDString(rt.ServiceID))
	}
	if up == nil && upID != nil {
		ui := snap.Get(string(resource.Upstreams), resource.IDString(upID))
		if ui == nil {
			t.status = http.StatusBadGateway
			return t
		}
		up, ownerItem = ui.Value.(*resource.Upstream), ui
	}
	owner := ownerItem.Key + "#" + fmt.Sprint(ownerItem.ModRevision)
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
	picker, err := pk.get(owner, cfg, live)
	if err != nil {
		t.status = http.StatusServiceUnavailable
		return t
	}
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
	if table != nil && up.Checks != nil && up.Checks.Active != nil {
		// Verdicts of the agent's active checks; keys computed once here.
		keys := map[balancer.Node]int64{}
		for _, n := range cfg.Nodes {
			keys[nodeOnly(n)] = health.Key(ownerItem.Key, health.NodeID(n.Host, n.Port))
		}
		healthy = func(n balancer.Node) bool { return table.Healthy(keys[nodeOnly(n)]) }
	}
	pu.Pick = func(data any, _ int, tried []proxy.Node) (proxy.Node, error) {
		var tr balancer.Tried
		for _, n := range tried {
			tr.Add(balancer.Node{Host: n.Host, Port: n.Port})
		}
		vars := data.(*reqVars)
		n, err := picker.Pick(&balancer.Request{Var: vars.get, RemoteAddr: vars.remoteAddr()}, &tr, healthy)
		return proxy.Node{Host: n.Host, Port: n.Port}, err
	}
	pu.Done = func(n proxy.Node, took time.Duration, failed bool) {
		picker.Done(balancer.Node{Host: n.Host, Port: n.Port}, took, failed)
	}
	t.upstream = pu
	return t
}

// nodeOnly is a node's identity for health lookups.
func nodeOnly(n balancer.Node) balancer.Node { return balancer.Node{Host: n.Host, Port: n.Port} }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
