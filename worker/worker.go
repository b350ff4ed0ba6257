package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/buildinfo"
	"github.com/portico-gw/portico/internal/child"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/tmpl"
)

// Main is the entry point of `portico worker`, started by the master.
func Main() int { return child.Main("worker", New) }

// Worker serves the node and admin listeners of one slot.
type Worker struct {
	env     *child.Env
	servers []*http.Server
	lns     []net.Listener
	conns   []*connTracker
	probe   *etcdProbe
	wg      sync.WaitGroup
}

// New builds a worker from what the master handed over.
func New(env *child.Env) (child.Service, error) {
	w := &Worker{env: env}
	rt := env.Runtime
	if path := rt.TestOnly.WorkerExitFile; path != "" {
		if data, err := os.ReadFile(path); err == nil {
			code, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			env.Log.Warn().Int("code", code).Msg("test_only.worker_exit_file present, exiting")
			os.Exit(code)
		}
	}
	node := w.nodeHandler()
	admin := w.adminHandler()
	for _, l := range env.Listeners {
		h := node
		if l.Role == "admin" {
			h = admin
		}
		tracker := newConnTracker()
		srv := &http.Server{
			Handler:           tracker.wrap(h),
			ReadHeaderTimeout: rt.HTTP.ClientHeaderTimeout,
			IdleTimeout:       rt.HTTP.KeepaliveTimeout,
			MaxHeaderBytes:    int(rt.HTTP.MaxHeaderBytes),
			ConnState:         tracker.hook,
		}
		w.servers = append(w.servers, srv)
		w.lns = append(w.lns, l.Listener)
		w.conns = append(w.conns, tracker)
	}
	probe, err := newEtcdProbe(rt.Etcd, env.Log)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	w.probe = probe
	return w, nil
}

// Start serves every listener.
func (w *Worker) Start() error {
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
	w.probe.start()
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
	w.probe.stop()
	return errors.Join(errs...)
}

// Close stops at once. The process exits right after, so the etcd client
// is not waited for: a probe stuck on an unreachable etcd must not delay a
// fast stop.
func (w *Worker) Close() error {
	for _, srv := range w.servers {
		srv.Close()
	}
	return nil
}

// Report is the worker's part of `portico status`.
func (w *Worker) Report() control.ChildReport {
	ok := w.probe.reachable()
	return control.ChildReport{EtcdReachable: &ok, ConfigRevision: w.probe.revision()}
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

func (w *Worker) nodeHandler() http.Handler {
	server := []string{w.serverHeader()}
	slowPath, slowDelay := w.env.Runtime.TestOnly.SlowPath, w.env.Runtime.TestOnly.SlowDelay
	status := w.env.Zones[tmpl.StatusZone]
	return w.logged(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if status != nil {
			status.Add(tmpl.StatusSlotRequests, 1)
		}
		h := rw.Header()
		h["Server"] = server
		if slowPath != "" && r.URL.Path == slowPath {
			select {
			case <-time.After(slowDelay):
			case <-r.Context().Done():
				return
			}
			h.Set("Content-Type", "text/plain")
			rw.Write([]byte("slow done\n"))
			return
		}
		h["Content-Type"] = jsonContentType
		rw.WriteHeader(http.StatusNotFound)
		rw.Write(notFoundBody)
	}))
}

func (w *Worker) adminHandler() http.Handler {
	server := w.serverHeader()
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Server", server)
		h.Set("Content-Type", "application/json")
		if r.URL.Path == "/apisix/admin" || r.URL.Path == "/apisix/admin/" {
			if r.Method == http.MethodHead || r.Method == http.MethodGet {
				rw.WriteHeader(http.StatusOK)
				return
			}
		}
		rw.WriteHeader(http.StatusNotFound)
		rw.Write([]byte(`{"error_msg":"not found"}` + "\n"))
	})
}
