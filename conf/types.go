package conf

import (
	"net"
	"strconv"
	"time"
)

// The typed configuration. Struct tags drive the strict decoder (decode.go):
//
//	yaml:"key"       the YAML key; yaml:"-" marks a field that is derived, never read
//	conf:"kind,opt"  how the value is read and checked:
//	  kinds   listens (node_listen forms), seconds (number of seconds), size (nginx size),
//	          strlist (string or list of strings), scalarstr (string or number, kept as text),
//	          onoff (boolean or "on"/"off"), buffers ("4 8k"), sizemap (name -> nginx size),
//	          ip (an IP address, brackets allowed), rest (collects every other key)
//	  options enum=a|b, min=N, max=N, port (1..65535), int (whole numbers only)
//
// time.Duration fields without a kind use nginx time syntax ("60s", "1m", bare number = seconds).
// A key missing from the merged document leaves the zero value; derive.go fills the defaults
// APISIX applies in code rather than in config-default.yaml.

// Config is the merged, substituted, validated configuration.
type Config struct {
	Prefix string `yaml:"-"` // absolute home directory (holds conf/, logs/, data/)
	File   string `yaml:"-"` // absolute path of the user config file that was read; "" if none

	APISIX        APISIX      `yaml:"apisix"`
	NginxConfig   NginxConfig `yaml:"nginx_config"`
	Deployment    Deployment  `yaml:"deployment"`
	Plugins       []string    `yaml:"plugins"`
	StreamPlugins []string    `yaml:"stream_plugins"`
	PluginAttr    PluginAttr  `yaml:"plugin_attr"`
	ExtPlugin     ExtPlugin   `yaml:"ext-plugin"`
	TestOnly      TestOnly    `yaml:"test_only"`

	// EnvVars names every variable referenced as ${{VAR}} in the user file, sorted and
	// unique (also those that fell back to their default). APISIX exports them to workers.
	EnvVars []string `yaml:"-"`
	// Merged is the merged and substituted document the typed fields were decoded from,
	// after the APISIX_DEPLOYMENT_ETCD_HOST override. For `portico test -v` and debugging.
	Merged map[string]any `yaml:"-"`

	name string // file name used in error messages (see Validate)
}

// Listen is a normalized listen address. IP never carries IPv6 brackets.
type Listen struct {
	IP   string `yaml:"ip" conf:"ip"`
	Port int    `yaml:"port" conf:"port"`
}

// String formats the address for net.Listen: "127.0.0.1:9080", "[::]:9080".
func (l Listen) String() string {
	return net.JoinHostPort(l.IP, strconv.Itoa(l.Port))
}

// SSLListen is one apisix.ssl.listen entry (ip defaults to 0.0.0.0, port to 9443).
type SSLListen struct {
	IP          string `yaml:"ip" conf:"ip"`
	Port        int    `yaml:"port" conf:"port"`
	EnableHTTP3 bool   `yaml:"enable_http3"`
}

// APISIX is the `apisix` section.
type APISIX struct {
	ID string `yaml:"id"` // optional node id

	// NodeListen is the HTTP listeners as written: a number, a list of numbers or a list of
	// {ip, port}; ip defaults to 0.0.0.0 and port to 9080.
	NodeListen []Listen `yaml:"node_listen" conf:"listens"`
	// HTTPListen is DERIVED: NodeListen without duplicates, plus an IPv6 twin {"::", port}
	// for every entry written without an ip when EnableIPv6 (APISIX's rule). A twin must be
	// bound IPv6-only (nginx's ipv6only=on) or it collides with 0.0.0.0 on the same port.
	HTTPListen []Listen `yaml:"-"`

	EnableAdmin                        bool   `yaml:"enable_admin"`
	EnableDevMode                      bool   `yaml:"enable_dev_mode"`
	EnableReuseport                    bool   `yaml:"enable_reuseport"` // forced false in dev mode
	EnableIPv6                         bool   `yaml:"enable_ipv6"`
	EnableHTTP2                        bool   `yaml:"enable_http2"`
	EnableServerTokens                 bool   `yaml:"enable_server_tokens"`
	ShowUpstreamStatusInResponseHeader bool   `yaml:"show_upstream_status_in_response_header"`
	DeleteURITailSlash                 bool   `yaml:"delete_uri_tail_slash"`
	NormalizeURILikeServlet            bool   `yaml:"normalize_uri_like_servlet"`
	MatchURIEncodedSlash               bool   `yaml:"match_uri_encoded_slash"`
	Router                             Router `yaml:"router"`
	ProxyMode                          string `yaml:"proxy_mode" conf:"enum=http|stream|http&stream"`

	ResolverTimeout       time.Duration `yaml:"resolver_timeout" conf:"seconds,min=0"`
	EnableResolvSearchOpt bool          `yaml:"enable_resolv_search_opt"`
	// DNSResolver lists nameservers ("ip" or "ip:port"); empty means /etc/resolv.conf.
	DNSResolver      []string      `yaml:"dns_resolver"`
	DNSResolverValid time.Duration `yaml:"dns_resolver_valid" conf:"seconds,min=0"`

	SSL SSL `yaml:"ssl"`
	// HTTPSListen is DERIVED from SSL.Listen by the same rule as HTTPListen.
	HTTPSListen []SSLListen `yaml:"-"`

	EnableControl bool    `yaml:"enable_control"`
	Control       Listen  `yaml:"control"` // defaults 127.0.0.1:9090
	Status        *Listen `yaml:"status"`  // nil when unset (status API off); set: defaults 127.0.0.1:7085

	DisableSyncConfigurationDuringStart bool           `yaml:"disable_sync_configuration_during_start"`
	DataEncryption                      DataEncryption `yaml:"data_encryption"`
}

// Router selects the route and SNI matchers.
type Router struct {
	HTTP string `yaml:"http" conf:"enum=radixtree_host_uri|radixtree_uri|radixtree_uri_with_parameter"`
	SSL  string `yaml:"ssl" conf:"enum=radixtree_sni"`
}

// SSL is apisix.ssl.
type SSL struct {
	Enable            bool        `yaml:"enable"`
	Listen            []SSLListen `yaml:"listen"`
	SSLProtocols      string      `yaml:"ssl_protocols"`
	SSLCiphers        string      `yaml:"ssl_ciphers"`
	SSLSessionTickets bool        `yaml:"ssl_session_tickets"`
	// SSLTrustedCertificate is a CA bundle path, or "system" for the OS bundle; kept as written
	// (resolving "system" means probing the file system, which is the consumer's job).
	SSLTrustedCertificate string `yaml:"ssl_trusted_certificate"`
	FallbackSNI           string `yaml:"fallback_sni"`
}

// DataEncryption is apisix.data_encryption. Keyring entries are 16 or 32 characters.
type DataEncryption struct {
	EnableEncryptFields bool     `yaml:"enable_encrypt_fields"`
	Keyring             []string `yaml:"keyring" conf:"strlist"`
}

// NginxConfig is the `nginx_config` section.
type NginxConfig struct {
	// User is "" (do not drop privileges), "user" or "user group".
	User string `yaml:"user"`
	// ErrorLog is absolute (resolved against Prefix).
	ErrorLog      string `yaml:"error_log"`
	ErrorLogLevel string `yaml:"error_log_level" conf:"enum=debug|info|notice|warn|error|crit|alert|emerg"`
	// WorkerProcesses is DERIVED: WorkerProcessesRaw as a number, runtime.NumCPU() when it is
	// not a number ("auto"), 1 in dev mode; env APISIX_WORKER_PROCESSES overrides all of them.
	WorkerProcesses    int    `yaml:"-"`
	WorkerProcessesRaw string `yaml:"worker_processes" conf:"scalarstr"`
	// WorkerRlimitNofile is raised to Event.WorkerConnections+128 when not above it (APISIX).
	WorkerRlimitNofile    int           `yaml:"worker_rlimit_nofile" conf:"min=1"`
	WorkerShutdownTimeout time.Duration `yaml:"worker_shutdown_timeout"`
	Envs                  []string      `yaml:"envs"`
	Event                 NginxEvent    `yaml:"event"`
	HTTP                  NginxHTTP     `yaml:"http"`
}

// NginxEvent is nginx_config.event.
type NginxEvent struct {
	WorkerConnections int `yaml:"worker_connections" conf:"min=1"`
}

// NginxHTTP is nginx_config.http.
type NginxHTTP struct {
	EnableAccessLog bool `yaml:"enable_access_log"`
	// AccessLog is absolute (resolved against Prefix), or the literal "off".
	AccessLog             string `yaml:"access_log"`
	AccessLogFormat       string `yaml:"access_log_format"`
	AccessLogFormatEscape string `yaml:"access_log_format_escape" conf:"enum=default|json|none"`

	KeepaliveTimeout    time.Duration `yaml:"keepalive_timeout"`
	ClientHeaderTimeout time.Duration `yaml:"client_header_timeout"`
	ClientBodyTimeout   time.Duration `yaml:"client_body_timeout"`
	SendTimeout         time.Duration `yaml:"send_timeout"`
	// ClientMaxBodySize is in bytes; 0 means unlimited.
	ClientMaxBodySize        int64         `yaml:"client_max_body_size" conf:"size"`
	LargeClientHeaderBuffers HeaderBuffers `yaml:"large_client_header_buffers" conf:"buffers"`
	UnderscoresInHeaders     bool          `yaml:"underscores_in_headers" conf:"onoff"`

	RealIPHeader    string   `yaml:"real_ip_header"`
	RealIPRecursive bool     `yaml:"real_ip_recursive" conf:"onoff"`
	RealIPFrom      []string `yaml:"real_ip_from"` // IPs, CIDRs or "unix:"

	ProxySSLServerName bool          `yaml:"proxy_ssl_server_name"`
	Upstream           NginxUpstream `yaml:"upstream"`
	// SharedDicts maps a zone name to its size in bytes (from lua_shared_dict). The master
	// maps each one as a shared-memory zone.
	SharedDicts map[string]int64 `yaml:"lua_shared_dict" conf:"sizemap"`
}

// HeaderBuffers is nginx's "number size" pair, e.g. large_client_header_buffers "4 8k".
type HeaderBuffers struct {
	Number int
	Size   int64 // bytes
}

// NginxUpstream is nginx_config.http.upstream (keep-alive pool to upstreams).
type NginxUpstream struct {
	Keepalive         int           `yaml:"keepalive" conf:"min=0"`
	KeepaliveRequests int           `yaml:"keepalive_requests" conf:"min=0"`
	KeepaliveTimeout  time.Duration `yaml:"keepalive_timeout"`
}

// Deployment is the `deployment` section.
type Deployment struct {
	Role             string     `yaml:"role" conf:"enum=traditional|control_plane|data_plane|standalone"`
	RoleTraditional  RoleConfig `yaml:"role_traditional"`
	RoleControlPlane RoleConfig `yaml:"role_control_plane"`
	RoleDataPlane    RoleConfig `yaml:"role_data_plane"`
	// ConfigProvider is DERIVED from the role: etcd, yaml, json or xds.
	ConfigProvider string `yaml:"-"`
	Admin          Admin  `yaml:"admin"`
	Etcd           Etcd   `yaml:"etcd"`
}

// RoleConfig is deployment.role_<role>.
type RoleConfig struct {
	ConfigProvider string `yaml:"config_provider" conf:"enum=etcd|yaml|json|xds"`
}

// Admin is deployment.admin.
type Admin struct {
	AdminKeyRequired bool       `yaml:"admin_key_required"`
	AdminKey         []AdminKey `yaml:"admin_key"`
	EnableAdminCors  bool       `yaml:"enable_admin_cors"`
	// EnableAdminUI is accepted for APISIX compatibility; Portico ships no dashboard.
	EnableAdminUI bool `yaml:"enable_admin_ui"`
	// AllowAdmin holds IPs or CIDRs. nil (`allow_admin: ~`) allows everyone; an empty,
	// non-nil list denies everyone (APISIX renders "deny all" with no allow rule).
	AllowAdmin []string `yaml:"allow_admin"`
	// AdminListen defaults to 127.0.0.1:9180. APISIX binds 0.0.0.0 and relies on
	// allow_admin; Portico listens on loopback unless told otherwise.
	AdminListen     Listen       `yaml:"admin_listen"`
	AdminAPIVersion string       `yaml:"admin_api_version" conf:"enum=v2|v3"`
	HTTPSAdmin      bool         `yaml:"https_admin"`
	AdminAPIMTLS    AdminAPIMTLS `yaml:"admin_api_mtls"`
}

// AdminKey is one Admin API token. Load leaves an empty Key on a role admin entry empty;
// GenerateAdminKeys fills it (portico init/start/reload call it).
type AdminKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key" conf:"scalarstr"`
	Role string `yaml:"role" conf:"enum=admin|viewer"`
}

// AdminAPIMTLS holds the Admin API's TLS material (required by https_admin).
type AdminAPIMTLS struct {
	AdminSSLCert    string `yaml:"admin_ssl_cert"`
	AdminSSLCertKey string `yaml:"admin_ssl_cert_key"`
	AdminSSLCACert  string `yaml:"admin_ssl_ca_cert"`
}

// Etcd is deployment.etcd.
type Etcd struct {
	// Host lists client URLs, each ^https?://. A string is accepted as a one-entry list; env
	// APISIX_DEPLOYMENT_ETCD_HOST (a JSON array) replaces it.
	Host               []string      `yaml:"host" conf:"strlist"`
	Prefix             string        `yaml:"prefix"`
	Timeout            time.Duration `yaml:"timeout" conf:"seconds,int,min=1"`
	WatchTimeout       time.Duration `yaml:"watch_timeout" conf:"seconds,min=1"`
	StartupRetry       int           `yaml:"startup_retry" conf:"min=1"`
	ResyncDelay        time.Duration `yaml:"resync_delay" conf:"seconds,min=0"`
	HealthCheckTimeout time.Duration `yaml:"health_check_timeout" conf:"seconds,min=1"`
	User               string        `yaml:"user"`
	Password           string        `yaml:"password" conf:"scalarstr"`
	TLS                EtcdTLS       `yaml:"tls"`
	// Embedded is DERIVED: the user's `embedded: true|false` when written; otherwise true
	// exactly when neither the user file nor APISIX_DEPLOYMENT_ETCD_HOST names a host.
	// Always false when the config provider is not etcd. When true, Host lists the client
	// URLs the embedded member serves.
	Embedded bool `yaml:"embedded"`
}

// EtcdTLS is deployment.etcd.tls.
type EtcdTLS struct {
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
	Verify bool   `yaml:"verify"`
	SNI    string `yaml:"sni"`
}

// MaxSocketPath is the longest unix socket path Linux accepts: sun_path holds
// 108 bytes including the terminating NUL. The Go runner exits when its
// APISIX_LISTEN_ADDRESS is longer.
const MaxSocketPath = 107

// ExtPlugin is the `ext-plugin` section: the external plugin runner.
// ConfExpireTime and Timeout are Portico's extensions; APISIX hard-codes
// both (3600 s and 60 s).
type ExtPlugin struct {
	Cmd         []string `yaml:"cmd"`           // argv of the runner, run without a shell; empty = no runner
	PathForTest string   `yaml:"path_for_test"` // fixed unix socket path (no "unix:"), tests only
	// ConfExpireTime is the conf-token lifetime: the runner gets it as
	// APISIX_CONF_EXPIRE_TIME (whole seconds) and workers cache tokens that long.
	ConfExpireTime time.Duration `yaml:"conf_expire_time" conf:"seconds,int,min=1"`
	// Timeout bounds each send and each read of an RPC to the runner.
	Timeout time.Duration `yaml:"timeout" conf:"seconds,min=0.001"`
}

// PluginAttr is `plugin_attr`: node-wide plugin settings.
type PluginAttr struct {
	Prometheus PrometheusAttr `yaml:"prometheus"`
	// Other keeps every other plugin_attr.<plugin> map as written; the plugin validates it.
	Other map[string]map[string]any `yaml:"-" conf:"rest"`
}

// PrometheusAttr is plugin_attr.prometheus.
type PrometheusAttr struct {
	ExportURI          string        `yaml:"export_uri"`
	MetricPrefix       string        `yaml:"metric_prefix"`
	EnableExportServer bool          `yaml:"enable_export_server"`
	ExportAddr         Listen        `yaml:"export_addr"` // defaults 127.0.0.1:9091
	RefreshInterval    time.Duration `yaml:"refresh_interval" conf:"seconds,min=1"`
}

// TestOnly is `test_only`, hooks for Portico's own test-suite: requests to SlowPath are
// answered after SlowDelay; a worker that starts while the file WorkerExitFile exists
// exits at once with the code written in it (to exercise respawn and crash loops);
// UpgradeTimeout replaces the one minute a new master has to become ready.
// Absent by default; unsupported in production.
type TestOnly struct {
	SlowPath       string        `yaml:"slow_path"`
	SlowDelay      time.Duration `yaml:"slow_delay"`
	WorkerExitFile string        `yaml:"worker_exit_file"`
	UpgradeTimeout time.Duration `yaml:"upgrade_timeout"`
}
