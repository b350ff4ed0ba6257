package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/buildinfo"
	"github.com/portico-gw/portico/internal/child"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
	"github.com/portico-gw/portico/worker/dns"
	"github.com/portico-gw/portico/worker/extplugin"
	"github.com/portico-gw/portico/worker/h1"
	"github.com/portico-gw/portico/worker/health"
	"github.com/portico-gw/portico/worker/proxy"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/source"
	"github.com/portico-gw/portico/worker/store"
)

// storeStopGrace bounds how long a draining worker waits for its store.
const storeStopGrace = time.Second

// firstLoadWait bounds how long a starting worker waits for its first read
// of etcd before it serves the cached snapshot. During an upgrade or a
// reload etcd is up and the read takes milliseconds; without the wait, the
// new workers would answer from a cache up to a second old (a route put
// just before the upgrade would be a 404) until the embedded etcd's
// hand-over is over. With etcd down, the cache is served after this.
const firstLoadWait = 2 * time.Second

// Main is the entry point of `portico worker`, started by the master.
func Main() int { return child.Main("worker", New) }

// Worker serves the node and admin listeners of one slot.
type Worker struct {
	env     *child.Env
	servers []server
	lns     []net.Listener
	conns   []*connTracker
	wg      sync.WaitGroup

	source  source.Source
	dp      atomic.Pointer[dataPlane]
	builder builder // the previous build, which the next one starts from
	proxy   *proxy.Proxy
	ext     *extplugin.Client // the plugin runner's RPC client
	mode    router.Mode
	status  *ipc.Zone     // node-wide counters, nil if absent
	health  *health.Table // the agent's health verdicts, nil if the zone is absent
	stop    context.CancelFunc
	stopped chan struct{}
	fresh   chan struct{} // closed once a snapshot read from etcd (not the cache) is installed
	freshed sync.Once
	closers []func() error // released when the worker stops (the admin's etcd client)
	// accessLog is nil when the access log is off.
	accessLog *accessLogger
}

// New builds a worker from what the master handed over.
func New(env *child.Env) (child.Service, error) {
	rt := env.Runtime
	// Domain nodes follow their records' TTL (or dns_resolver_valid). A
	// resolver that cannot be built leaves IP literals and hosts-file names
	// working, so the worker still serves.
	resolver, err := dns.New(dns.ConfigFrom(rt.DNS))
	if err != nil {
		env.Log.Error().Err(err).Msg("dns resolver: domain upstream nodes will not resolve")
	}
	w := &Worker{env: env, proxy: proxy.New(resolver), mode: router.Mode(rt.Router), status: env.Zones[tmpl.StatusZone], stopped: make(chan struct{}), fresh: make(chan struct{})}
	if env.AccessLog != nil {
		w.accessLog = newAccessLogger(env.AccessLog, rt.Logs.AccessLogFormat)
	}
	w.ext = extplugin.New(extplugin.Options{
		Socket:     rt.Runner.Socket,
		Timeout:    rt.Runner.Timeout,
		ExpireTime: rt.Runner.ExpireTime,
		WorkerID:   env.Spec.Slot,
		Generation: runnerGeneration(w.status),
	})
	w.builder.enabled = map[string]bool{}
	for _, name := range rt.Admin.Plugins {
		w.builder.enabled[name] = true
	}
	if z := env.Zones[health.ZoneName]; z != nil {
		w.health = health.NewTable(z)
		if err := w.health.Err(); err != nil {
			env.Log.Error().Err(err).Msg("health table unusable: health checks are off in this worker")
			w.health = nil
		}
	}
	if path := rt.TestOnly.WorkerExitFile; path != "" {
		if data, err := os.ReadFile(path); err == nil {
			code, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			env.Log.Warn().Int("code", code).Msg("test_only.worker_exit_file present, exiting")
			os.Exit(code)
		}
	}
	src, err := source.New(rt, env.Log.With().Str(logx.FieldComponent, "store").Logger(), w.install)
	if err != nil {
		return nil, err
	}
	w.source = src
	// Serve the cached snapshot (if any) from the first request on: a worker
	// that starts while etcd is down must not answer 404 for every route.
	w.install(src.Snapshot())

	for _, l := range env.Listeners {
		var h http.Handler
		if l.Role == tmpl.RoleAdmin {
			if h, err = w.adminHandler(l.Addr); err != nil {
				return nil, err
			}
		} else {
			_, port, _ := net.SplitHostPort(l.Addr)
			h = w.logged(w.nodeHandler(port))
		}
		tracker := newConnTracker()
		var srv server
		if l.Role == tmpl.RoleAdmin {
			srv = &http.Server{
				Handler:           tracker.wrap(h),
				ReadHeaderTimeout: rt.HTTP.ClientHeaderTimeout,
				IdleTimeout:       rt.HTTP.KeepaliveTimeout,
				MaxHeaderBytes:    int(rt.HTTP.MaxHeaderBytes),
				ConnState:         tracker.hook,
			}
		} else {
			srv = &h1.Server{
				Handler:        tracker.wrap(h),
				HeaderTimeout:  rt.HTTP.ClientHeaderTimeout,
				IdleTimeout:    rt.HTTP.KeepaliveTimeout,
				BodyTimeout:    rt.HTTP.ClientBodyTimeout,
				SendTimeout:    rt.HTTP.SendTimeout,
				MaxHeaderBytes: int(rt.HTTP.MaxHeaderBytes),
				Refuse:         w.refuse,
				OnPanic: func(v any, stack []byte) {
					env.Log.Error().Str(logx.FieldAddr, l.Addr).Interface("panic", v).Bytes("stack", stack).Msg("request handler panicked: connection closed")
				},
				ConnState: tracker.hook,
			}
		}
		w.servers = append(w.servers, srv)
		w.lns = append(w.lns, l.Listener)
		w.conns = append(w.conns, tracker)
	}
	return w, nil
}

// install builds the data plane for snap and swaps it in. A snapshot that
// does not compile keeps the running data plane.
func (w *Worker) install(snap *store.Snapshot) {
	if !snap.Stale {
		defer w.freshed.Do(func() { close(w.fresh) })
	}
	if cur := w.dp.Load(); cur != nil && cur.hash == snap.Hash {
		next := *cur
		next.revision = snap.Revision
		w.dp.Store(&next)
		return
	}
	dp, err := buildDataPlane(snap, w.mode, &w.builder, w.health)
	if err != nil {
		w.env.Log.Error().Err(err).Int64(logx.FieldRevision, snap.Revision).Msg("config not applied, keeping the previous one")
		return
	}
	if dp.skipped != nil {
		w.env.Log.Error().Err(dp.skipped).Int64(logx.FieldRevision, snap.Revision).Msg("routes left out: the router cannot compile them")
	}
	if dp.unsupported != nil {
		w.env.Log.Error().Err(dp.unsupported).Int64(logx.FieldRevision, snap.Revision).Msg("routes answer 503: plugins the data plane cannot run")
	}
	w.dp.Store(dp)
}

// Start follows etcd and, once the first read is in (or firstLoadWait has
// passed), serves every listener.
func (w *Worker) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go func() {
		defer close(w.stopped)
		w.source.Run(ctx)
	}()
	if w.env.Runtime.ConfigProvider != "yaml" {
		select {
		case <-w.fresh:
		case <-time.After(firstLoadWait):
			w.env.Log.Warn().Dur("waited", firstLoadWait).Msg("etcd not read yet: serving the cached configuration")
		}
	}
	for i, srv := range w.servers {
		ln, tracker := w.lns[i], w.conns[i]
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			err := tracker.serve(srv, ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				w.env.Log.Error().Err(err).Str(logx.FieldAddr, ln.Addr().String()).Msg("serve failed")
			}
		}()
	}
	return nil
}

// Shutdown stops accepting and lets in-flight requests finish until ctx ends.
func (w *Worker) Shutdown(ctx context.Context) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, srv := range w.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.conns[i].drain(ctx, srv, w.lns[i:i+1]); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	w.stop()
	w.proxy.Close()
	w.ext.Close()
	for _, c := range w.closers {
		c()
	}
	// The store writes its last snapshot to the cache as it stops; wait a
	// little for that, never for an etcd that is gone (an upgrade stops the
	// embedded one first).
	select {
	case <-w.stopped:
	case <-time.After(storeStopGrace):
	}
	return errors.Join(errs...)
}

// Close stops at once. The process exits right after, so the store is not
// waited for: a watch stuck on an unreachable etcd must not delay a fast stop.
func (w *Worker) Close() error {
	for _, srv := range w.servers {
		srv.Close()
	}
	if w.stop != nil {
		w.stop()
	}
	return nil
}

// Report is the worker's part of `portico status`: etcd reachability and
// the revision and content hash of the configuration it serves.
func (w *Worker) Report() control.ChildReport {
	rep := control.ChildReport{EtcdReachable: w.source.Reachable()}
	if dp := w.dp.Load(); dp != nil {
		rep.ConfigRevision, rep.ConfigHash = dp.revision, dp.hash
	}
	return rep
}

func (w *Worker) serverHeader() string {
	if w.env.Runtime.HTTP.ServerTokens {
		return "APISIX/" + buildinfo.Version
	}
	return "APISIX"
}

var (
	notFoundBody = []byte(`{"error_msg":"404 Route Not Found"}` + "\n")
	// Shared header values: assigning a preallocated slice instead of
	// Header.Set saves an allocation per header per request. net/http
	// only reads them.
	jsonContentType = []string{"application/json"}
)

// refuse answers a request the data plane's server refuses before any
// handler (a malformed or oversized head, a timeout) as nginx does: its
// error page, with the Server field, and a line in the access log.
func (w *Worker) refuse(rw http.ResponseWriter, rf *h1.Refusal) {
	rw.Header()["Server"] = []string{w.serverHeader()}
	if w.accessLog == nil {
		proxy.WriteError(rw, rf.Status)
		return
	}
	sw := &statusWriter{ResponseWriter: rw}
	proxy.WriteError(sw, rf.Status)
	w.accessLog.write(&logEntry{r: rf.Request, status: rf.Status, bytes: sw.bytes, start: rf.Start, end: time.Now()})
}

// nodeHandler serves the data plane of one listener (port is its port, for
// X-Forwarded-Port).
func (w *Worker) nodeHandler(port string) http.Handler {
	serverField := []string{w.serverHeader()}
	rt := w.env.Runtime
	slowPath, slowDelay := rt.TestOnly.SlowPath, rt.TestOnly.SlowDelay
	maxBody := rt.HTTP.ClientMaxBodySize
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.status != nil {
			w.status.Add(tmpl.StatusSlotRequests, 1)
		}
		h := rw.Header()
		h["Server"] = serverField
		if slowPath != "" && r.URL.Path == slowPath {
			slow(rw, r, slowDelay)
			return
		}
		path, err := router.Normalize(r.URL.EscapedPath())
		if err != nil {
			proxy.WriteError(rw, http.StatusBadRequest)
			return
		}
		vars := newReqVars(r)
		defer vars.release()
		addr, _ := netip.ParseAddrPort(r.RemoteAddr)
		req := router.Request{Method: r.Method, Host: hostOf(r.Host), HostHeader: r.Host, Path: path, RemoteAddr: addr.Addr().Unmap(), Var: vars.lookup}
		dp := w.dp.Load()
		m, ok := dp.router.Match(&req)
		if !ok {
			h["Content-Type"] = jsonContentType
			rw.WriteHeader(http.StatusNotFound)
			rw.Write(notFoundBody)
			return
		}
		vars.params = m.Params
		t := m.Route.Value.(*target)
		if t.status != 0 {
			proxy.WriteError(rw, t.status)
			return
		}
		if dp.globalErr != nil {
			proxy.WriteError(rw, http.StatusServiceUnavailable)
			return
		}
		if maxBody > 0 {
			// 413 before any upstream is dialled when the length is known;
			// a chunked body is cut where it crosses the limit.
			if r.ContentLength > maxBody {
				proxy.WriteError(rw, http.StatusRequestEntityTooLarge)
				return
			}
			if r.ContentLength != 0 {
				r.Body = http.MaxBytesReader(rw, r.Body, maxBody)
			}
		}
		if !t.plugins.empty() || !dp.global.empty() {
			w.serveWithPlugins(rw, r, t, dp.global, &req, port, vars)
			return
		}
		w.proxy.Serve(rw, r, t.upstream, "http", port, vars)
	})
}

// runnerGeneration reads the counter the privileged agent bumps before it
// starts each plugin runner (see privileged and worker/extplugin).
func runnerGeneration(z *ipc.Zone) func() int64 {
	if z == nil {
		return nil
	}
	return func() int64 { return z.Load(tmpl.StatusSlotRunnerGeneration) }
}

func slow(rw http.ResponseWriter, r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
		return
	}
	rw.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(rw, "slow done\n")
}
