package tmpl

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/portico-gw/portico/conf"
)

//go:embed runtime.yaml.tmpl
var runtimeTemplate string

var tpl = template.Must(template.New("runtime").Funcs(template.FuncMap{
	"q":   quote,
	"dur": func(d time.Duration) string { return d.String() },
}).Parse(runtimeTemplate))

// Inputs are the facts a runtime file needs that config.yaml does not hold.
type Inputs struct {
	Version string
}

// Render turns a validated Config into the runtime file.
func Render(cfg *conf.Config, in Inputs) ([]byte, error) {
	rt := FromConfig(cfg, in)
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, rt); err != nil {
		return nil, fmt.Errorf("render runtime file: %w", err)
	}
	// The template and Runtime must agree; a mismatch is a bug caught here,
	// before any child could trip over it.
	if _, err := Parse(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("rendered runtime file does not parse back: %w", err)
	}
	return buf.Bytes(), nil
}

// FromConfig derives the runtime view of cfg.
func FromConfig(cfg *conf.Config, in Inputs) *Runtime {
	nc := cfg.NginxConfig
	user, group := splitUser(nc.User)
	rt := &Runtime{
		Version:        in.Version,
		Prefix:         cfg.Prefix,
		ConfigFile:     cfg.File,
		Router:         cfg.APISIX.Router.HTTP,
		ConfigProvider: cfg.Deployment.ConfigProvider,
		StandaloneFile: filepath.Join(cfg.Prefix, "conf", "apisix.yaml"),
		CacheFile:      filepath.Join(cfg.Prefix, "data", "cache", "config-snapshot.json"),
		Processes: Processes{
			Workers:         nc.WorkerProcesses,
			User:            user,
			Group:           group,
			ShutdownTimeout: nc.WorkerShutdownTimeout,
			RlimitNofile:    nc.WorkerRlimitNofile,
		},
		Logs: Logs{
			ErrorLog:        nc.ErrorLog,
			ErrorLogLevel:   nc.ErrorLogLevel,
			AccessLog:       accessLog(nc.HTTP),
			AccessLogFormat: nc.HTTP.AccessLogFormat,
		},
		Env:       childEnv(cfg),
		Listeners: listeners(cfg),
		ShmZones:  shmZones(nc.HTTP.SharedDicts),
		HTTP: HTTP{
			ServerTokens:        cfg.APISIX.EnableServerTokens,
			KeepaliveTimeout:    nc.HTTP.KeepaliveTimeout,
			ClientHeaderTimeout: nc.HTTP.ClientHeaderTimeout,
			ClientBodyTimeout:   nc.HTTP.ClientBodyTimeout,
			SendTimeout:         nc.HTTP.SendTimeout,
			ClientMaxBodySize:   nc.HTTP.ClientMaxBodySize,
			MaxHeaderBytes:      int64(nc.HTTP.LargeClientHeaderBuffers.Number) * nc.HTTP.LargeClientHeaderBuffers.Size,
		},
		Admin: admin(cfg),
		Etcd:  etcd(cfg),
		DNS: DNS{
			Resolvers: cfg.APISIX.DNSResolver,
			Valid:     cfg.APISIX.DNSResolverValid,
			Timeout:   cfg.APISIX.ResolverTimeout,
			IPv6:      cfg.APISIX.EnableIPv6,
			Search:    cfg.APISIX.EnableResolvSearchOpt,
		},
		Runner: Runner{
			Cmd:    cfg.ExtPlugin.Cmd,
			Socket: runnerSocket(cfg),
		},
		TestOnly: TestOnly{SlowPath: cfg.TestOnly.SlowPath, SlowDelay: cfg.TestOnly.SlowDelay, WorkerExitFile: cfg.TestOnly.WorkerExitFile},
	}
	return rt
}

func admin(cfg *conf.Config) Admin {
	a := cfg.Deployment.Admin
	out := Admin{
		Enabled:       cfg.APISIX.EnableAdmin,
		AllowAll:      a.AllowAdmin == nil,
		AllowAdmin:    a.AllowAdmin,
		KeyRequired:   a.AdminKeyRequired,
		CORS:          a.EnableAdminCors,
		APIVersion:    a.AdminAPIVersion,
		Plugins:       cfg.Plugins,
		StreamPlugins: cfg.StreamPlugins,
		Stream:        strings.Contains(cfg.APISIX.ProxyMode, "stream"),
		EncryptFields: cfg.APISIX.DataEncryption.EnableEncryptFields,
		Keyring:       cfg.APISIX.DataEncryption.Keyring,
	}
	for _, k := range a.AdminKey {
		out.Keys = append(out.Keys, AdminKey{Name: k.Name, Key: k.Key, Role: k.Role})
	}
	return out
}

func accessLog(h conf.NginxHTTP) string {
	if !h.EnableAccessLog {
		return "off"
	}
	return h.AccessLog
}

// splitUser splits nginx's `user name [group];` form.
func splitUser(s string) (user, group string) {
	f := strings.Fields(s)
	switch len(f) {
	case 0:
		return "", ""
	case 1:
		return f[0], ""
	default:
		return f[0], f[1]
	}
}

func childEnv(cfg *conf.Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range [][]string{cfg.NginxConfig.Envs, cfg.EnvVars} {
		for _, e := range list {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func listeners(cfg *conf.Config) []Listener {
	var out []Listener
	add := func(role string, l conf.Listen) {
		out = append(out, Listener{Role: role, Network: network(l.IP), Addr: l.String()})
	}
	// HTTPListen already holds APISIX's [::] twins (bound IPv6-only here).
	for _, l := range cfg.APISIX.HTTPListen {
		add(RoleNode, l)
	}
	if cfg.APISIX.EnableAdmin {
		add(RoleAdmin, cfg.Deployment.Admin.AdminListen)
	}
	return out
}

func network(ip string) string {
	if p := net.ParseIP(ip); p != nil && p.To4() == nil {
		return "tcp6"
	}
	return "tcp4"
}

// StatusZone is Portico's own zone of node-wide counters (see StatusSlot*),
// always present beside the configured lua_shared_dict zones.
const StatusZone = "portico-status"

// Slots of StatusZone.
const (
	StatusSlotRequests = iota // requests answered by every worker, since the zone was created
)

func shmZones(dicts map[string]int64) []ShmZone {
	out := make([]ShmZone, 0, len(dicts)+1)
	out = append(out, ShmZone{Name: StatusZone, Size: 4096})
	for name, size := range dicts {
		if name != StatusZone {
			out = append(out, ShmZone{Name: name, Size: size})
		}
	}
	slices.SortFunc(out, func(a, b ShmZone) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func etcd(cfg *conf.Config) Etcd {
	e := cfg.Deployment.Etcd
	return Etcd{
		Embedded:  e.Embedded,
		DataDir:   filepath.Join(cfg.Prefix, "data", "etcd"),
		Endpoints: e.Host,
		Prefix:    e.Prefix,
		Timeout:   e.Timeout,
		User:      e.User,
		Password:  e.Password,
		TLSCert:   e.TLS.Cert,
		TLSKey:    e.TLS.Key,
		TLSVerify: e.TLS.Verify,
		TLSSNI:    e.TLS.SNI,
	}
}

func runnerSocket(cfg *conf.Config) string {
	if cfg.ExtPlugin.PathForTest != "" {
		return cfg.ExtPlugin.PathForTest
	}
	return filepath.Join(cfg.Prefix, "conf", "runner", "runner.sock")
}

// quote renders s as a YAML double-quoted scalar (JSON strings are valid YAML).
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		return strconv.Quote(s)
	}
	return string(b)
}
