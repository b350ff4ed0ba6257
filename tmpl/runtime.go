package tmpl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// FileName is the runtime file's name under <prefix>/conf/.
const FileName = "portico.runtime.yaml"

// Listener roles. A listener's role decides what a worker serves on it.
const (
	RoleNode  = "node"
	RoleAdmin = "admin"
)

// Runtime is what a child knows about its generation. It is the parsed
// runtime file; see runtime.yaml.tmpl for the meaning of each field.
type Runtime struct {
	Version    string `yaml:"version"`
	Prefix     string `yaml:"prefix"`
	ConfigFile string `yaml:"config_file"`
	// Router is apisix.router.http: radixtree_host_uri, radixtree_uri or
	// radixtree_uri_with_parameter.
	Router string `yaml:"router"`
	// ConfigProvider is where the data plane's configuration comes from:
	// etcd, or yaml (StandaloneFile, re-read when it changes).
	ConfigProvider string `yaml:"config_provider"`
	StandaloneFile string `yaml:"standalone_file"`
	// CacheFile is where children keep the last good snapshot. The master
	// gives its directory to the children's user, so a worker that dropped
	// privileges writes there and owns nothing else under data/.
	CacheFile string `yaml:"cache_file"`

	Processes Processes  `yaml:"processes"`
	Logs      Logs       `yaml:"logs"`
	Env       []string   `yaml:"env"`
	Listeners []Listener `yaml:"listeners"`
	ShmZones  []ShmZone  `yaml:"shm_zones"`
	HTTP      HTTP       `yaml:"http"`
	Admin     Admin      `yaml:"admin"`
	Etcd      Etcd       `yaml:"etcd"`
	DNS       DNS        `yaml:"dns"`
	Runner    Runner     `yaml:"runner"`
	TestOnly  TestOnly   `yaml:"test_only"`
}

type Processes struct {
	Workers         int           `yaml:"workers"`
	User            string        `yaml:"user"`
	Group           string        `yaml:"group"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	RlimitNofile    int           `yaml:"rlimit_nofile"`
}

type Logs struct {
	ErrorLog        string `yaml:"error_log"`
	ErrorLogLevel   string `yaml:"error_log_level"`
	AccessLog       string `yaml:"access_log"` // "off" disables it
	AccessLogFormat string `yaml:"access_log_format"`
}

// Listener is one listening address. The master binds it once per worker
// slot with SO_REUSEPORT; workers find their copies by index in this list.
type Listener struct {
	Role    string `yaml:"role"`
	Network string `yaml:"network"`
	Addr    string `yaml:"addr"`
}

type ShmZone struct {
	Name string `yaml:"name"`
	Size int64  `yaml:"size"`
}

type HTTP struct {
	ServerTokens        bool          `yaml:"server_tokens"`
	KeepaliveTimeout    time.Duration `yaml:"keepalive_timeout"`
	ClientHeaderTimeout time.Duration `yaml:"client_header_timeout"`
	ClientBodyTimeout   time.Duration `yaml:"client_body_timeout"`
	SendTimeout         time.Duration `yaml:"send_timeout"`
	ClientMaxBodySize   int64         `yaml:"client_max_body_size"`
	// MaxHeaderBytes bounds the request line plus headers
	// (large_client_header_buffers: number x size).
	MaxHeaderBytes int64 `yaml:"max_header_bytes"`
}

type Admin struct {
	Enabled bool `yaml:"enabled"`
	// AllowAll is allow_admin: ~ (no peer restriction); otherwise only
	// peers inside AllowAdmin are served (an empty list denies everyone).
	AllowAll    bool       `yaml:"allow_all"`
	AllowAdmin  []string   `yaml:"allow_admin"`
	KeyRequired bool       `yaml:"key_required"`
	Keys        []AdminKey `yaml:"keys"`
	CORS        bool       `yaml:"cors"`
	APIVersion  string     `yaml:"api_version"`
	// Plugins and StreamPlugins are the enabled plugin lists; Stream says
	// whether proxy_mode includes stream (stream routes may be written).
	Plugins       []string `yaml:"plugins"`
	StreamPlugins []string `yaml:"stream_plugins"`
	Stream        bool     `yaml:"stream"`
	// EncryptFields and Keyring are apisix.data_encryption.
	EncryptFields bool     `yaml:"encrypt_fields"`
	Keyring       []string `yaml:"keyring"`
}

// AdminKey is one Admin API token and its role (admin or viewer).
type AdminKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
	Role string `yaml:"role"`
}

type Etcd struct {
	Embedded  bool          `yaml:"embedded"`
	DataDir   string        `yaml:"data_dir"`
	Endpoints []string      `yaml:"endpoints"`
	Prefix    string        `yaml:"prefix"`
	Timeout   time.Duration `yaml:"timeout"`
	User      string        `yaml:"user"`
	Password  string        `yaml:"password"`
	TLSCert   string        `yaml:"tls_cert"`
	TLSKey    string        `yaml:"tls_key"`
	TLSVerify bool          `yaml:"tls_verify"`
	TLSSNI    string        `yaml:"tls_sni"`
}

// DNS is how workers resolve upstream nodes given by domain name
// (apisix.dns_resolver, dns_resolver_valid, resolver_timeout, enable_ipv6,
// enable_resolv_search_opt).
type DNS struct {
	// Resolvers are nameservers ("ip" or "ip:port"); empty means those of
	// /etc/resolv.conf.
	Resolvers []string `yaml:"resolvers"`
	// Valid overrides the records' TTL when non-zero.
	Valid   time.Duration `yaml:"valid"`
	Timeout time.Duration `yaml:"timeout"`
	// IPv6 allows AAAA records for a name without A records.
	IPv6 bool `yaml:"ipv6"`
	// Search applies the search list and ndots of /etc/resolv.conf.
	Search bool `yaml:"search"`
}

// Runner is the external plugin runner (ext-plugin): the privileged agent
// spawns Cmd and workers connect to Socket.
type Runner struct {
	// Cmd is the runner's argv, run without a shell; empty: no runner is
	// spawned (with path_for_test, the developer starts it by hand).
	Cmd []string `yaml:"cmd"`
	// Socket is the unix socket path the runner listens on and workers
	// connect to (APISIX_LISTEN_ADDRESS without "unix:").
	Socket string `yaml:"socket"`
	// Dir is the directory holding Socket, mode 0700 and owned by the
	// gateway's user; the agent creates or repairs it before each spawn.
	// Empty for path_for_test, whose directory is the developer's.
	Dir string `yaml:"dir"`
	// ExpireTime is the conf-token lifetime (APISIX_CONF_EXPIRE_TIME).
	ExpireTime time.Duration `yaml:"expire_time"`
	// Timeout bounds each send and each read of an RPC.
	Timeout time.Duration `yaml:"timeout"`
}

type TestOnly struct {
	SlowPath       string        `yaml:"slow_path"`
	SlowDelay      time.Duration `yaml:"slow_delay"`
	WorkerExitFile string        `yaml:"worker_exit_file"`
}

// Hash is the hex SHA-256 of a rendered runtime file. The master sends it to
// children so a child can tell it loaded the file its generation was made from.
func Hash(rendered []byte) string {
	sum := sha256.Sum256(rendered)
	return hex.EncodeToString(sum[:])
}

// Parse decodes a rendered runtime file strictly.
func Parse(data []byte) (*Runtime, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var rt Runtime
	if err := dec.Decode(&rt); err != nil {
		return nil, fmt.Errorf("decode runtime file: %w", err)
	}
	return &rt, nil
}

// Read parses the runtime file behind f. Children receive the file as an
// inherited descriptor opened by the master right after it wrote the file, so
// a later reload that renames a new file into place never changes what an
// older generation, or a respawn of it, reads.
func Read(f *os.File) (*Runtime, []byte, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("stat runtime file: %w", err)
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, info.Size()))
	if err != nil {
		return nil, nil, fmt.Errorf("read runtime file %s: %w", f.Name(), err)
	}
	rt, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return rt, data, nil
}
