package tmpl

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
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
	// MasterPid and Generation name the runner's socket, so that the
	// runners of two generations (reload) or two masters (upgrade), alive
	// at once, never share a path: a runner deletes its socket file when it
	// exits, and must not delete its successor's. Zero outside a master
	// (`portico test`, `init`), whose files are for reading only.
	MasterPid  int
	Generation int
	// TempDir is where the runner's socket directory goes when the one
	// under the prefix would make too long a socket path (os.TempDir() in
	// the master); empty means /tmp.
	TempDir string
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
	user, group := SplitUser(nc.User)
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
		Runner:   runner(cfg, in),
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

// SplitUser splits nginx's `user name [group];` form.
func SplitUser(s string) (user, group string) {
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
	// StatusSlotRunnerGeneration counts runner processes: the privileged
	// agent adds 1 before it spawns each one (first spawn and every
	// respawn), so a runner only ever listens after the count was raised
	// for it. A worker notes the count before it asks for a conf token and
	// flushes its tokens when the count moved: a token from a previous
	// runner process would name another conf in the new one.
	StatusSlotRunnerGeneration
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

// RunnerDirName is the runner's socket directory under <prefix>/logs/.
const RunnerDirName = "runner"

// runner places the runner's socket. path_for_test is used as written
// (relative to the prefix, the runner's working directory, as in APISIX).
// Otherwise the socket is <prefix>/logs/runner/<master pid>-<generation>.sock
// (CVE-2025-27446: a 0700 directory, so no other local user reaches it),
// unless that exceeds sun_path: then the directory is
// <TempDir>/portico-<hash of the prefix>, which the agent creates 0700 and
// refuses to use when it is a symlink or someone else's.
func runner(cfg *conf.Config, in Inputs) Runner {
	r := Runner{Cmd: cfg.ExtPlugin.Cmd, ExpireTime: cfg.ExtPlugin.ConfExpireTime, Timeout: cfg.ExtPlugin.Timeout}
	if p := cfg.ExtPlugin.PathForTest; p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Prefix, p)
		}
		r.Socket = p
		return r
	}
	name := fmt.Sprintf("%d-%d.sock", in.MasterPid, in.Generation)
	sum := sha256.Sum256([]byte(cfg.Prefix))
	short := "portico-" + hex.EncodeToString(sum[:6])
	for _, dir := range []string{
		filepath.Join(cfg.Prefix, "logs", RunnerDirName),
		filepath.Join(cmp.Or(in.TempDir, "/tmp"), short),
		filepath.Join("/tmp", short), // short enough whatever the prefix
	} {
		r.Dir, r.Socket = dir, filepath.Join(dir, name)
		if len(r.Socket) <= conf.MaxSocketPath {
			break
		}
	}
	return r
}

// quote renders s as a YAML double-quoted scalar (JSON strings are valid YAML).
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		return strconv.Quote(s)
	}
	return string(b)
}
