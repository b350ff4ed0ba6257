package conf

import (
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Defaults APISIX applies in code (apisix/cli/ops.lua) when a listen entry or address is
// incomplete, so a user's `admin_listen: {port: 9181}` or `status: {}` still works.
const (
	defaultNodePort    = 9080
	defaultSSLPort     = 9443
	defaultAdminPort   = 9180
	defaultControlPort = 9090
	defaultStatusPort  = 7085
	defaultExportPort  = 9091
	anyIPv4            = "0.0.0.0"
	anyIPv6            = "::"
	loopback           = "127.0.0.1"
)

// deriveInput is what derive needs beyond the decoded Config.
type deriveInput struct {
	getenv      func(string) (string, bool)
	userSetHost bool // the user file (or APISIX_DEPLOYMENT_ETCD_HOST) named deployment.etcd.host
}

// derive computes the fields APISIX derives after validation (file.lua read_yaml_conf and
// ops.lua init). It runs after a clean decode; problems it finds (bad environment values,
// a numeric worker_processes below 1) go to e.
func (c *Config) derive(in deriveInput, e *errs) {
	c.deriveSchemaDefaults()
	c.deriveListeners()
	c.derivePaths()
	c.deriveWorkers(in.getenv, e)
	c.deriveDeployment(in.userSetHost)
}

// deriveSchemaDefaults restores defaults that APISIX's schema (cli/schema.lua) or code
// applies when a key is missing, for keys a user may delete with ~ and whose zero value
// would mean something else (a 0s etcd timeout, no router). Keys validated with min=1
// cannot be zero when present, so zero means absent there.
func (c *Config) deriveSchemaDefaults() {
	a, d, n := &c.APISIX, &c.Deployment, &c.NginxConfig
	a.Router.HTTP = or(a.Router.HTTP, "radixtree_uri") // APISIX's code fallback
	a.Router.SSL = or(a.Router.SSL, "radixtree_sni")
	a.ProxyMode = or(a.ProxyMode, "http")
	n.ErrorLogLevel = or(n.ErrorLogLevel, "warn")
	if n.Event.WorkerConnections == 0 {
		n.Event.WorkerConnections = 10620
	}
	d.Role = or(d.Role, "traditional")
	d.Admin.AdminAPIVersion = or(d.Admin.AdminAPIVersion, "v3")
	e := &d.Etcd
	e.Prefix = or(e.Prefix, "/apisix")
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&e.Timeout, 30 * time.Second},
		{&e.WatchTimeout, 50 * time.Second},
		{&e.HealthCheckTimeout, 10 * time.Second},
		{&c.PluginAttr.Prometheus.RefreshInterval, 15 * time.Second},
		{&c.ExtPlugin.ConfExpireTime, 3600 * time.Second},
		{&c.ExtPlugin.Timeout, 60 * time.Second},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if e.StartupRetry == 0 {
		e.StartupRetry = 2
	}
	c.PluginAttr.Prometheus.ExportURI = or(c.PluginAttr.Prometheus.ExportURI, "/apisix/prometheus/metrics")
}

func (c *Config) deriveListeners() {
	a := &c.APISIX

	// APISIX's listen_table_insert: an entry written without an ip binds 0.0.0.0 and, with
	// enable_ipv6, also [::]; a repeated ip:port is bound once.
	a.HTTPListen = nil
	seen := map[string]bool{}
	addHTTP := func(l Listen) {
		if !seen[l.String()] {
			seen[l.String()] = true
			a.HTTPListen = append(a.HTTPListen, l)
		}
	}
	for i := range a.NodeListen {
		l := &a.NodeListen[i]
		twin := l.IP == "" && a.EnableIPv6
		l.IP = or(l.IP, anyIPv4)
		if l.Port == 0 {
			l.Port = defaultNodePort
		}
		addHTTP(*l)
		if twin {
			addHTTP(Listen{IP: anyIPv6, Port: l.Port})
		}
	}

	a.HTTPSListen = nil
	seen = map[string]bool{}
	addHTTPS := func(l SSLListen) {
		key := Listen{IP: l.IP, Port: l.Port}.String()
		if !seen[key] {
			seen[key] = true
			a.HTTPSListen = append(a.HTTPSListen, l)
		}
	}
	for i := range a.SSL.Listen {
		l := &a.SSL.Listen[i]
		twin := l.IP == "" && a.EnableIPv6
		l.IP = or(l.IP, anyIPv4)
		if l.Port == 0 {
			l.Port = defaultSSLPort
		}
		addHTTPS(*l)
		if twin {
			v6 := *l
			v6.IP = anyIPv6
			addHTTPS(v6)
		}
	}

	fill := func(l *Listen, ip string, port int) {
		l.IP = or(l.IP, ip)
		if l.Port == 0 {
			l.Port = port
		}
	}
	fill(&a.Control, loopback, defaultControlPort)
	if a.Status != nil {
		fill(a.Status, loopback, defaultStatusPort)
	}
	fill(&c.PluginAttr.Prometheus.ExportAddr, loopback, defaultExportPort)
	// APISIX falls back to 0.0.0.0 here; Portico keeps the Admin API on loopback.
	fill(&c.Deployment.Admin.AdminListen, loopback, defaultAdminPort)
}

// derivePaths resolves the log paths against the prefix. "off" disables the access log
// and stays literal.
func (c *Config) derivePaths() {
	resolve := func(p, def string) string {
		p = or(p, def)
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(c.Prefix, p)
	}
	c.NginxConfig.ErrorLog = resolve(c.NginxConfig.ErrorLog, "logs/error.log")
	if c.NginxConfig.HTTP.AccessLog != "off" {
		c.NginxConfig.HTTP.AccessLog = resolve(c.NginxConfig.HTTP.AccessLog, "logs/access.log")
	}
}

// deriveWorkers applies ops.lua's order: dev mode forces 1 worker (and no reuseport), a
// non-numeric worker_processes means one per CPU, and APISIX_WORKER_PROCESSES overrides
// everything. It also raises worker_rlimit_nofile above worker_connections.
func (c *Config) deriveWorkers(getenv func(string) (string, bool), e *errs) {
	n := &c.NginxConfig
	n.WorkerProcessesRaw = or(n.WorkerProcessesRaw, "auto")
	if c.APISIX.EnableDevMode {
		n.WorkerProcesses = 1
		c.APISIX.EnableReuseport = false
	} else if f, ok := parseNumber(n.WorkerProcessesRaw); !ok {
		n.WorkerProcesses = runtime.NumCPU() // "auto", and any other non-number (APISIX)
	} else if f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
		e.add("nginx_config.worker_processes", `must be "auto" or a whole number >= 1, got %q`, n.WorkerProcessesRaw)
	} else {
		n.WorkerProcesses = int(f)
	}
	if v, found := getenv("APISIX_WORKER_PROCESSES"); found {
		// APISIX: floor(tonumber(v)).
		if f, ok := parseNumber(v); !ok || math.Floor(f) < 1 || f > math.MaxInt32 {
			e.env("APISIX_WORKER_PROCESSES", "expected a number >= 1, got %q", v)
		} else {
			n.WorkerProcesses = int(math.Floor(f))
		}
	}

	// ops.lua: "ensure the number of fds is slightly larger than the number of conn".
	if wc := n.Event.WorkerConnections; n.WorkerRlimitNofile <= wc {
		n.WorkerRlimitNofile = wc + 128
	}
}

// parseNumber is a finite decimal number, surrounding spaces allowed.
func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// deriveDeployment computes the config provider, forces enable_admin by role and decides
// whether the embedded etcd runs.
func (c *Config) deriveDeployment(userSetHost bool) {
	d := &c.Deployment
	switch d.Role {
	case "traditional":
		d.ConfigProvider = or(d.RoleTraditional.ConfigProvider, "etcd")
	case "control_plane":
		d.ConfigProvider = or(d.RoleControlPlane.ConfigProvider, "etcd")
		c.APISIX.EnableAdmin = true
	case "data_plane":
		d.ConfigProvider = or(d.RoleDataPlane.ConfigProvider, "etcd")
		c.APISIX.EnableAdmin = false
	case "standalone":
		d.ConfigProvider = "yaml"
	}

	_, userSetEmbedded := lookup(c.Merged, "deployment", "etcd", "embedded")
	switch {
	case d.ConfigProvider != "etcd":
		d.Etcd.Embedded = false
	case userSetEmbedded:
		// keep the decoded value
	default:
		d.Etcd.Embedded = !userSetHost
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
