package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/store"
)

// Checker runs the active checks of every upstream in the current
// configuration, one goroutine per target.
type Checker struct {
	table *Table
	log   zerolog.Logger

	mu      sync.Mutex
	running map[string]*probe // target id -> its prober
}

// NewChecker writes verdicts into table.
func NewChecker(table *Table, log zerolog.Logger) *Checker {
	return &Checker{table: table, log: log, running: map[string]*probe{}}
}

type probe struct {
	owner, node string
	host        string
	port        int
	scheme      string
	active      resource.ActiveCheck
	cancel      context.CancelFunc
	version     string // the check config and node, to restart on change
}

// Update starts checks for targets new in snap and stops the ones gone.
func (c *Checker) Update(snap *store.Snapshot) {
	want := map[string]*probe{}
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
			p := &probe{owner: owner, node: node, host: n.Host, port: port, scheme: d.Scheme, active: *d.Checks.Active}
			p.version = fmt.Sprintf("%+v|%+v|%+v", p.active, *p.active.Healthy, *p.active.Unhealthy)
			want[owner+"|"+node] = p
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
	for id, p := range c.running {
		if w, ok := want[id]; !ok || w.version != p.version {
			p.cancel()
			delete(c.running, id)
		}
	}
	for id, p := range want {
		if _, ok := c.running[id]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		c.running[id] = p
		go c.run(ctx, p)
	}
}

// Stop ends every check.
func (c *Checker) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.running {
		p.cancel()
		delete(c.running, id)
	}
}

// run probes one target until ctx ends.
func (c *Checker) run(ctx context.Context, p *probe) {
	key := Key(p.owner, p.node)
	a := p.active
	healthy := true
	var successes, httpFailures, tcpFailures, timeouts int
	client := &http.Client{
		Timeout: time.Duration(*a.Timeout * float64(time.Second)),
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: !*a.HTTPSVerifyCertificate, ServerName: a.Host},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	for {
		interval := a.Healthy.Interval
		if !healthy {
			interval = a.Unhealthy.Interval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(interval) * time.Second):
		}
		status, err := c.probeOnce(ctx, client, p)
		if ctx.Err() != nil {
			return
		}
		good := false
		switch {
		case err != nil && isTimeout(err):
			timeouts++
			successes = 0
		case err != nil:
			tcpFailures++
			successes = 0
		case slices.Contains(a.Unhealthy.HTTPStatuses, status):
			httpFailures++
			successes = 0
		case a.Type == "tcp" || slices.Contains(a.Healthy.HTTPStatuses, status):
			good = true
			successes++
			httpFailures, tcpFailures, timeouts = 0, 0, 0
		}
		switch {
		case good && !healthy && successes >= a.Healthy.Successes:
			healthy = true
			c.table.Set(key, true)
			c.log.Info().Str("upstream", p.owner).Str("node", p.node).Msg("node healthy")
		case !good && healthy && (httpFailures >= a.Unhealthy.HTTPFailures || tcpFailures >= a.Unhealthy.TCPFailures || timeouts >= a.Unhealthy.Timeouts):
			healthy = false
			c.table.Set(key, false)
			c.log.Warn().Str("upstream", p.owner).Str("node", p.node).Int("status", status).AnErr("error", err).Msg("node unhealthy")
		}
	}
}

func (c *Checker) probeOnce(ctx context.Context, client *http.Client, p *probe) (int, error) {
	a := p.active
	addr := net.JoinHostPort(p.host, strconv.Itoa(p.port))
	if a.Port != 0 {
		addr = net.JoinHostPort(p.host, strconv.Itoa(a.Port))
	}
	timeout := time.Duration(*a.Timeout * float64(time.Second))
	if a.Type == "tcp" {
		conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
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
