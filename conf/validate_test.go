package conf

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		user string
		want string
	}{
		{"apisx:\n  node_listen: 9080\n", `conf/config.yaml: apisx: unknown key (did you mean "apisix"?)`},
		{"deployment:\n  admin:\n    admin_lisen:\n      port: 9181\n", `conf/config.yaml: deployment.admin.admin_lisen: unknown key (did you mean "admin_listen"?)`},
		{"apisix:\n  ssl:\n    listen:\n      - prot: 443\n", `conf/config.yaml: apisix.ssl.listen[0].prot: unknown key (did you mean "port"?)`},
		{"nginx_config:\n  http:\n    upstream:\n      keepalive_timout: 10s\n", `conf/config.yaml: nginx_config.http.upstream.keepalive_timout: unknown key (did you mean "keepalive_timeout"?)`},
		{"plugin_attr:\n  prometheus:\n    export_addr:\n      host: 1.2.3.4\n", `conf/config.yaml: plugin_attr.prometheus.export_addr.host: unknown key`},
		{"discovery:\n  dns: {}\n", `conf/config.yaml: discovery: unknown key`},
	}
	for _, tt := range tests {
		_, err := parse(t, tt.user, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("user:\n%s\nerror = %v\nwant    %s", tt.user, err, tt.want)
		}
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		user string
		want string
	}{
		{"apisix:\n  node_listen:\n    - 9080\n    - port: x\n", `apisix.node_listen[1].port: expected integer, got string "x"`},
		{"nginx_config:\n  worker_rlimit_nofile: lots\n", `nginx_config.worker_rlimit_nofile: expected integer, got string "lots"`},
		{"nginx_config:\n  http:\n    keepalive_timeout: 1.5\n", `nginx_config.http.keepalive_timeout: expected duration`},
		{"apisix:\n  status: 7085\n", `apisix.status: expected map, got number 7085`},
		{"plugins:\n  - key-auth\n  - 1\n", `plugins[1]: expected string, got number 1`},
		{"plugins:\n  - key-auth\n  - ~\n", `plugins[1]: must not be null`},
		{"plugin_attr:\n  log-rotate: 5\n", `plugin_attr.log-rotate: expected map, got number 5`},
		{"apisix:\n  router: []\n  dns_resolver: {a: 1}\n", `apisix.dns_resolver: expected list, got map`},
		{"apisix:\n  dns_resolver_valid: \"30\"\n", `apisix.dns_resolver_valid: expected number of seconds, got string "30"`},
		{"nginx_config:\n  http:\n    real_ip_recursive: maybe\n", `nginx_config.http.real_ip_recursive: expected "on" or "off", got string "maybe"`},
		{"nginx_config:\n  http:\n    large_client_header_buffers: 4\n", `nginx_config.http.large_client_header_buffers: expected "number size"`},
		{"nginx_config:\n  http:\n    large_client_header_buffers: 4 8q\n", `nginx_config.http.large_client_header_buffers: invalid size "8q"`},
		// Secrets are never echoed into an error message.
		{"deployment:\n  admin:\n    admin_key:\n      - {name: a, role: admin, key: [s3cret]}\n", `deployment.admin.admin_key[0].key: expected string or number, got table`},
		{"deployment:\n  etcd:\n    password: {a: s3cret}\n", `deployment.etcd.password: expected string or number, got table`},
	}
	for _, tt := range tests {
		_, err := parse(t, tt.user, nil)
		wantErrs(t, err, "conf/config.yaml: "+tt.want)
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("secret echoed: %v", err)
		}
	}
}

func TestEnumsAndRanges(t *testing.T) {
	tests := []struct {
		user string
		want string
	}{
		{"deployment:\n  role: primary\n", `deployment.role: must be one of traditional, control_plane, data_plane, standalone, got "primary"`},
		{"nginx_config:\n  error_log_level: verbose\n", `nginx_config.error_log_level: must be one of debug, info, notice, warn, error, crit, alert, emerg, got "verbose"`},
		{"apisix:\n  proxy_mode: tcp\n", `apisix.proxy_mode: must be one of http, stream, http&stream, got "tcp"`},
		{"apisix:\n  router:\n    http: trie\n", `apisix.router.http: must be one of radixtree_host_uri, radixtree_uri, radixtree_uri_with_parameter, got "trie"`},
		{"deployment:\n  admin:\n    admin_key:\n      - {name: a, key: k, role: root}\n", `deployment.admin.admin_key[0].role: must be one of admin, viewer, got "root"`},
		{"deployment:\n  admin:\n    admin_key:\n      - {key: k}\n", `deployment.admin.admin_key[0].name: is required`},
		{"deployment:\n  role_traditional:\n    config_provider: xds\n", `deployment.role_traditional.config_provider: must be one of etcd, yaml for role traditional, got "xds"`},
		{"deployment:\n  role: control_plane\n  role_control_plane:\n    config_provider: yaml\n", `deployment.role_control_plane.config_provider: must be one of etcd for role control_plane, got "yaml"`},
		{"deployment:\n  etcd:\n    host: [\"tcp://127.0.0.1:2379\"]\n", `deployment.etcd.host[0]: failed to match pattern "^https?://" with "tcp://127.0.0.1:2379"`},
		{"deployment:\n  etcd:\n    host: []\n", `deployment.etcd.host: must list at least one etcd URL`},
		{"deployment:\n  etcd:\n    timeout: 0\n", `deployment.etcd.timeout: must be at least 1, got 0`},
		{"deployment:\n  etcd:\n    timeout: 1.5\n", `deployment.etcd.timeout: expected integer number of seconds, got number 1.5`},
		{"deployment:\n  etcd:\n    prefix: apisix\n", `deployment.etcd.prefix: must start with /, got "apisix"`},
		{"deployment:\n  admin:\n    admin_listen:\n      port: 70000\n", `deployment.admin.admin_listen.port: port must be within 1..65535, got 70000`},
		{"deployment:\n  admin:\n    admin_listen:\n      ip: localhost\n", `deployment.admin.admin_listen.ip: invalid IP address "localhost"`},
		{"nginx_config:\n  event:\n    worker_connections: 0\n", `nginx_config.event.worker_connections: must be at least 1, got 0`},
		{"apisix:\n  data_encryption:\n    keyring: [short]\n", `apisix.data_encryption.keyring[0]: must be 16 or 32 characters, got 5`},
		{"deployment:\n  admin:\n    allow_admin: [10.0.0.0/33]\n", `deployment.admin.allow_admin[0]: invalid IP or CIDR "10.0.0.0/33"`},
		{"nginx_config:\n  http:\n    real_ip_from: [\"unix:\", nope]\n", `nginx_config.http.real_ip_from[1]: invalid IP or CIDR "nope"`},
		{"nginx_config:\n  user: a b c\n", `nginx_config.user: must be "user" or "user group", got "a b c"`},
		{"apisix:\n  dns_resolver: [\"8.8.8.8:99999\"]\n", `apisix.dns_resolver[0]: invalid port in "8.8.8.8:99999"`},
		{"apisix:\n  dns_resolver: [dns.google]\n", `apisix.dns_resolver[0]: must be "ip" or "ip:port", got "dns.google"`},
		{"test_only:\n  slow_path: slow\n", `test_only.slow_path: must start with /, got "slow"`},
		{"ext-plugin:\n  cmd: [\"\"]\n", `ext-plugin.cmd[0]: the runner's executable must not be empty`},
		{"ext-plugin:\n  path_for_test: unix:/tmp/r.sock\n", `ext-plugin.path_for_test: must be a plain path without "unix:", got "unix:/tmp/r.sock"`},
		{"ext-plugin:\n  path_for_test: /" + strings.Repeat("x", 107) + "\n", `ext-plugin.path_for_test: a unix socket path is at most 107 bytes, got 108`},
		{"ext-plugin:\n  conf_expire_time: 0\n", `ext-plugin.conf_expire_time: must be at least 1, got 0`},
		{"ext-plugin:\n  conf_expire_time: 1.5\n", `ext-plugin.conf_expire_time: expected integer number of seconds, got number 1.5`},
		{"ext-plugin:\n  timeout: 0\n", `ext-plugin.timeout: must be at least 0.001, got 0`},
		{"ext-plugin:\n  timeout: -1\n", `ext-plugin.timeout: must be at least 0.001, got -1`},
		{"nginx_config:\n  http:\n    lua_shared_dict:\n      zero: 0\n", `nginx_config.http.lua_shared_dict.zero: size must be positive`},
	}
	for _, tt := range tests {
		_, err := parse(t, tt.user, nil)
		wantErrs(t, err, "conf/config.yaml: "+tt.want)
	}
}

func TestMultipleErrorsReportedTogether(t *testing.T) {
	user := `
apisix:
  proxy_mode: tcp
  node_listen:
    - port: x
deployment:
  role: primary
  admin:
    admin_lisen: {}
`
	_, err := parse(t, user, nil)
	want := strings.Join([]string{
		`conf/config.yaml: apisix.node_listen[0].port: expected integer, got string "x"`,
		`conf/config.yaml: apisix.proxy_mode: must be one of http, stream, http&stream, got "tcp"`,
		`conf/config.yaml: deployment.admin.admin_lisen: unknown key (did you mean "admin_listen"?)`,
		`conf/config.yaml: deployment.role: must be one of traditional, control_plane, data_plane, standalone, got "primary"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("want an ErrorList of 4, got %#v", err)
	}
	var pe *PathError
	if !errors.As(err, &pe) || pe.File != "conf/config.yaml" || pe.Path != "apisix.node_listen[0].port" {
		t.Errorf("first PathError = %+v", pe)
	}
}

func TestNodeListenForms(t *testing.T) {
	tests := []struct {
		name    string
		user    string
		want    []Listen
		http    []Listen // derived HTTPListen
		wantErr string
	}{
		{
			name: "default",
			user: "",
			want: []Listen{{"0.0.0.0", 9080}},
			http: []Listen{{"0.0.0.0", 9080}, {"::", 9080}},
		},
		{
			name: "a number",
			user: "apisix:\n  node_listen: 8080\n",
			want: []Listen{{"0.0.0.0", 8080}},
			http: []Listen{{"0.0.0.0", 8080}, {"::", 8080}},
		},
		{
			name: "a list of numbers, duplicates bound once",
			user: "apisix:\n  node_listen: [8080, 8081, 8080]\n",
			want: []Listen{{"0.0.0.0", 8080}, {"0.0.0.0", 8081}, {"0.0.0.0", 8080}},
			http: []Listen{{"0.0.0.0", 8080}, {"::", 8080}, {"0.0.0.0", 8081}, {"::", 8081}},
		},
		{
			name: "a list of maps: explicit ip gets no IPv6 twin, defaults fill the rest",
			user: "apisix:\n  node_listen:\n    - {ip: 127.0.0.1, port: 8080}\n    - {port: 8081}\n    - {ip: \"[::1]\"}\n",
			want: []Listen{{"127.0.0.1", 8080}, {"0.0.0.0", 8081}, {"::1", 9080}},
			http: []Listen{{"127.0.0.1", 8080}, {"0.0.0.0", 8081}, {"::", 8081}, {"::1", 9080}},
		},
		{
			name: "enable_ipv6 false: no twins",
			user: "apisix:\n  enable_ipv6: false\n  node_listen: [8080]\n",
			want: []Listen{{"0.0.0.0", 8080}},
			http: []Listen{{"0.0.0.0", 8080}},
		},
		{name: "string entry", user: "apisix:\n  node_listen: [\"8080\"]\n", wantErr: `apisix.node_listen[0]: expected port number or {ip, port} map, got string "8080"`},
		{name: "port out of range", user: "apisix:\n  node_listen: [0]\n", wantErr: `apisix.node_listen[0]: port must be within 1..65535, got 0`},
		{name: "bad ip", user: "apisix:\n  node_listen: [{ip: 1.2.3}]\n", wantErr: `apisix.node_listen[0].ip: invalid IP address "1.2.3"`},
		{name: "per-entry enable_http2", user: "apisix:\n  node_listen: [{port: 80, enable_http2: true}]\n", wantErr: `apisix.node_listen[0].enable_http2: no longer supported per listener, use apisix.enable_http2`},
		{name: "a map", user: "apisix:\n  node_listen: {port: 80}\n", wantErr: `apisix.node_listen: expected port number or list of ports / {ip, port} maps, got map`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.user, nil)
			if tt.wantErr != "" {
				wantErrs(t, err, "conf/config.yaml: "+tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.APISIX.NodeListen, tt.want) {
				t.Errorf("NodeListen = %v, want %v", c.APISIX.NodeListen, tt.want)
			}
			if !reflect.DeepEqual(c.APISIX.HTTPListen, tt.http) {
				t.Errorf("HTTPListen = %v, want %v", c.APISIX.HTTPListen, tt.http)
			}
		})
	}
}

func TestSSLListen(t *testing.T) {
	c := mustParse(t, "apisix:\n  ssl:\n    listen:\n      - {ip: 127.0.0.1, enable_http3: true}\n      - {}\n", nil)
	want := []SSLListen{{"127.0.0.1", 9443, true}, {"0.0.0.0", 9443, false}}
	if !reflect.DeepEqual(c.APISIX.SSL.Listen, want) {
		t.Errorf("SSL.Listen = %+v", c.APISIX.SSL.Listen)
	}
	wantHTTPS := []SSLListen{{"127.0.0.1", 9443, true}, {"0.0.0.0", 9443, false}, {"::", 9443, false}}
	if !reflect.DeepEqual(c.APISIX.HTTPSListen, wantHTTPS) {
		t.Errorf("HTTPSListen = %+v", c.APISIX.HTTPSListen)
	}
}

func TestWorkerProcesses(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		vars      map[string]string
		want      int
		raw       string
		reuseport bool
		wantErr   string
	}{
		{name: "auto", user: "", want: runtime.NumCPU(), raw: "auto", reuseport: true},
		{name: "number", user: "nginx_config:\n  worker_processes: 4\n", want: 4, raw: "4", reuseport: true},
		{name: "numeric string", user: "nginx_config:\n  worker_processes: \"3\"\n", want: 3, raw: "3", reuseport: true},
		{name: "any other string means auto", user: "nginx_config:\n  worker_processes: four\n", want: runtime.NumCPU(), raw: "four", reuseport: true},
		{name: "dev mode", user: "apisix:\n  enable_dev_mode: true\nnginx_config:\n  worker_processes: 8\n", want: 1, raw: "8", reuseport: false},
		{name: "env overrides", user: "nginx_config:\n  worker_processes: 8\n", vars: map[string]string{"APISIX_WORKER_PROCESSES": "2"}, want: 2, raw: "8", reuseport: true},
		{name: "env overrides dev mode, floored", user: "apisix:\n  enable_dev_mode: true\n", vars: map[string]string{"APISIX_WORKER_PROCESSES": "3.9"}, want: 3, raw: "auto", reuseport: false},
		{name: "zero", user: "nginx_config:\n  worker_processes: 0\n", wantErr: `conf/config.yaml: nginx_config.worker_processes: must be "auto" or a whole number >= 1, got "0"`},
		{name: "bad env", user: "", vars: map[string]string{"APISIX_WORKER_PROCESSES": "many"}, wantErr: `env APISIX_WORKER_PROCESSES: expected a number >= 1, got "many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.user, tt.vars)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := c.NginxConfig
			if n.WorkerProcesses != tt.want || n.WorkerProcessesRaw != tt.raw || c.APISIX.EnableReuseport != tt.reuseport {
				t.Errorf("workers = %d raw %q reuseport %v, want %d %q %v",
					n.WorkerProcesses, n.WorkerProcessesRaw, c.APISIX.EnableReuseport, tt.want, tt.raw, tt.reuseport)
			}
		})
	}
}

func TestWorkerRlimitNofileRaised(t *testing.T) {
	c := mustParse(t, "nginx_config:\n  worker_rlimit_nofile: 1024\n  event:\n    worker_connections: 4096\n", nil)
	if c.NginxConfig.WorkerRlimitNofile != 4096+128 {
		t.Errorf("WorkerRlimitNofile = %d", c.NginxConfig.WorkerRlimitNofile)
	}
}

func TestDurationsAndSizesInConfig(t *testing.T) {
	user := `
nginx_config:
  worker_shutdown_timeout: 1h30m
  http:
    keepalive_timeout: 75
    send_timeout: 500ms
    client_max_body_size: 0
    large_client_header_buffers: 8 16k
    upstream:
      keepalive_timeout: "2m"
    lua_shared_dict:
      my-zone: 2m
      bytes: 4096
deployment:
  etcd:
    resync_delay: 0.5
test_only:
  slow_path: /slow
  slow_delay: 2s
`
	c := mustParse(t, user, nil)
	h := c.NginxConfig.HTTP
	checks := []struct {
		name      string
		got, want any
	}{
		{"worker_shutdown_timeout", c.NginxConfig.WorkerShutdownTimeout, 90 * time.Minute},
		{"keepalive_timeout (bare number = seconds)", h.KeepaliveTimeout, 75 * time.Second},
		{"send_timeout", h.SendTimeout, 500 * time.Millisecond},
		{"client_max_body_size", h.ClientMaxBodySize, int64(0)},
		{"large_client_header_buffers", h.LargeClientHeaderBuffers, HeaderBuffers{8, 16 << 10}},
		{"upstream.keepalive_timeout", h.Upstream.KeepaliveTimeout, 2 * time.Minute},
		{"lua_shared_dict merged", h.SharedDicts["my-zone"], int64(2 << 20)},
		{"lua_shared_dict default kept", h.SharedDicts["plugin-limit-count"], int64(10 << 20)},
		{"lua_shared_dict bytes", h.SharedDicts["bytes"], int64(4096)},
		{"resync_delay", c.Deployment.Etcd.ResyncDelay, 500 * time.Millisecond},
		{"test_only", c.TestOnly, TestOnly{SlowPath: "/slow", SlowDelay: 2 * time.Second}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	_, err := parse(t, "nginx_config:\n  worker_shutdown_timeout: 10x\n  http:\n    client_max_body_size: 10q\n    lua_shared_dict:\n      bad: lots\n", nil)
	wantErrs(t, err,
		`conf/config.yaml: nginx_config.worker_shutdown_timeout: invalid duration "10x"`,
		`conf/config.yaml: nginx_config.http.client_max_body_size: invalid size "10q"`,
		`conf/config.yaml: nginx_config.http.lua_shared_dict.bad: invalid size "lots"`)
}

func TestEtcdHost(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		vars     map[string]string
		want     []string
		embedded bool
		wantErr  string
	}{
		{name: "default", want: []string{"http://127.0.0.1:2379"}, embedded: true},
		{name: "string", user: "deployment:\n  etcd:\n    host: https://etcd:2379\n", want: []string{"https://etcd:2379"}},
		{name: "list", user: "deployment:\n  etcd:\n    host: [\"http://a:2379\", \"http://b:2379\"]\n", want: []string{"http://a:2379", "http://b:2379"}},
		{
			name: "env replaces the file's host",
			user: "deployment:\n  etcd:\n    host: http://file:2379\n",
			vars: map[string]string{"APISIX_DEPLOYMENT_ETCD_HOST": `["http://env1:2379","http://env2:2379"]`},
			want: []string{"http://env1:2379", "http://env2:2379"},
		},
		{
			name: "env host means external etcd",
			vars: map[string]string{"APISIX_DEPLOYMENT_ETCD_HOST": `["http://env:2379"]`},
			want: []string{"http://env:2379"},
		},
		{name: "empty env is ignored", vars: map[string]string{"APISIX_DEPLOYMENT_ETCD_HOST": ""}, want: []string{"http://127.0.0.1:2379"}, embedded: true},
		{name: "env not JSON", vars: map[string]string{"APISIX_DEPLOYMENT_ETCD_HOST": "http://x:2379"}, wantErr: "env APISIX_DEPLOYMENT_ETCD_HOST: expected a JSON array of URLs"},
		{name: "env bad scheme", vars: map[string]string{"APISIX_DEPLOYMENT_ETCD_HOST": `["etcd:2379"]`}, wantErr: `deployment.etcd.host[0]: failed to match pattern "^https?://" with "etcd:2379"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.user, tt.vars)
			if tt.wantErr != "" {
				wantErrs(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Deployment.Etcd.Host, tt.want) || c.Deployment.Etcd.Embedded != tt.embedded {
				t.Errorf("Host = %v Embedded = %v, want %v %v", c.Deployment.Etcd.Host, c.Deployment.Etcd.Embedded, tt.want, tt.embedded)
			}
		})
	}
}

func TestEmbeddedDerivation(t *testing.T) {
	tests := []struct {
		name string
		user string
		want bool
	}{
		{"no host in the user file", "deployment:\n  etcd:\n    prefix: /gw\n", true},
		{"host set, even to the default", "deployment:\n  etcd:\n    host: [\"http://127.0.0.1:2379\"]\n", false},
		{"embedded: true with a host", "deployment:\n  etcd:\n    embedded: true\n    host: http://127.0.0.1:2399\n", true},
		{"embedded: false without a host", "deployment:\n  etcd:\n    embedded: false\n", false},
		{"yaml provider needs no etcd", "deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.user, nil).Deployment.Etcd.Embedded; got != tt.want {
				t.Errorf("Embedded = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeploymentRoles(t *testing.T) {
	tests := []struct {
		user     string
		provider string
		admin    bool
	}{
		{"", "etcd", true},
		{"deployment:\n  role_traditional:\n    config_provider: yaml\n", "yaml", true},
		{"apisix:\n  enable_admin: false\ndeployment:\n  role: control_plane\n", "etcd", true},
		{"deployment:\n  role: data_plane\n", "etcd", false},
		{"deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: xds\n", "xds", false},
		{"deployment:\n  role: standalone\n", "yaml", true},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.user, nil)
		if c.Deployment.ConfigProvider != tt.provider || c.APISIX.EnableAdmin != tt.admin {
			t.Errorf("user:\n%s\nprovider %q admin %v, want %q %v", tt.user, c.Deployment.ConfigProvider, c.APISIX.EnableAdmin, tt.provider, tt.admin)
		}
	}
}

func TestPortConflicts(t *testing.T) {
	tests := []struct {
		name string
		user string
		want string // "" = no error
	}{
		{"node_listen on the admin port", "apisix:\n  node_listen: 9180\n", "conf/config.yaml: apisix.node_listen[0]: node_listen port 9180 conflicts with admin"},
		{"control on the admin port", "apisix:\n  control:\n    port: 9180\n", "conf/config.yaml: apisix.control.port: control port 9180 conflicts with admin"},
		{"status on the control port", "apisix:\n  status:\n    port: 9090\n", "conf/config.yaml: apisix.control.port: control port 9090 conflicts with status"},
		{"prometheus on the admin port", "plugin_attr:\n  prometheus:\n    export_addr:\n      port: 9180\n", "conf/config.yaml: plugin_attr.prometheus.export_addr.port: prometheus port 9180 conflicts with admin"},
		{"ssl on the control port", "apisix:\n  ssl:\n    listen:\n      - port: 9090\n", "conf/config.yaml: apisix.ssl.listen[0].port: ssl listen port 9090 conflicts with control"},
		{"ssl on an http port", "apisix:\n  ssl:\n    listen:\n      - port: 9080\n", "conf/config.yaml: apisix.ssl.listen[0].port: ssl listen port 9080 conflicts with node_listen 0.0.0.0:9080"},
		{"ssl and http on distinct IPs", "apisix:\n  node_listen: [{ip: 127.0.0.1, port: 8000}]\n  ssl:\n    listen:\n      - {ip: 127.0.0.2, port: 8000}\n", ""},
		{"ssl disabled", "apisix:\n  ssl:\n    enable: false\n    listen:\n      - port: 9080\n", ""},
		{"admin disabled frees its port", "apisix:\n  enable_admin: false\n  node_listen: 9180\n", ""},
		{"control disabled frees its port", "apisix:\n  enable_control: false\n  node_listen: 9090\n", ""},
		{"export server disabled frees its port", "apisix:\n  node_listen: 9091\nplugin_attr:\n  prometheus:\n    enable_export_server: false\n", ""},
		{"status defaults to 7085", "apisix:\n  status: {}\n  node_listen: 7085\n", "conf/config.yaml: apisix.node_listen[0]: node_listen port 7085 conflicts with status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.user, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestAdminChecks(t *testing.T) {
	open := "deployment:\n  admin:\n    allow_admin: [0.0.0.0/0]\n"
	_, err := parse(t, open+"    admin_key: []\n", nil)
	wantErrs(t, err, "conf/config.yaml: deployment.admin.admin_key: missing valid Admin API token")

	mustParse(t, open+"    admin_key: []\n    admin_key_required: false\n", nil)
	mustParse(t, "deployment:\n  admin:\n    admin_key: []\n", nil) // default allow_admin: loopback only
	mustParse(t, open, nil)                                         // an empty key is generated by portico init

	_, err = parse(t, "deployment:\n  admin:\n    https_admin: true\n", nil)
	wantErrs(t, err, "deployment.admin.admin_api_mtls: missing ssl cert for https admin")

	c := mustParse(t, "deployment:\n  admin:\n    allow_admin: ~\n", nil)
	if c.Deployment.Admin.AllowAdmin != nil {
		t.Errorf("allow_admin ~ = %#v, want nil (allow all)", c.Deployment.Admin.AllowAdmin)
	}
	c = mustParse(t, "deployment:\n  admin:\n    allow_admin: []\n    admin_key_required: false\n", nil)
	if a := c.Deployment.Admin.AllowAdmin; a == nil || len(a) != 0 {
		t.Errorf("allow_admin [] = %#v, want empty non-nil (deny all)", a)
	}
	c = mustParse(t, "deployment:\n  admin:\n    admin_listen:\n      port: 9181\n", nil)
	if got := c.Deployment.Admin.AdminListen; got != (Listen{"127.0.0.1", 9181}) {
		t.Errorf("AdminListen = %v", got)
	}
	c = mustParse(t, "deployment:\n  admin:\n    admin_listen: {}\n", nil)
	if got := c.Deployment.Admin.AdminListen; got != (Listen{"127.0.0.1", 9180}) {
		t.Errorf("AdminListen {} = %v, want the safe default", got)
	}
}

func TestKeyringForms(t *testing.T) {
	c := mustParse(t, "apisix:\n  data_encryption:\n    keyring: abcdefghijklmnop\n", nil)
	if !reflect.DeepEqual(c.APISIX.DataEncryption.Keyring, []string{"abcdefghijklmnop"}) {
		t.Errorf("Keyring = %v", c.APISIX.DataEncryption.Keyring)
	}
	mustParse(t, "apisix:\n  data_encryption:\n    keyring: [abcdefghijklmnopabcdefghijklmnop]\n", nil)
}

func TestLogPathsResolved(t *testing.T) {
	prefix := t.TempDir()
	c, err := Parse(prefix, "", []byte("nginx_config:\n  error_log: /var/log/portico/error.log\n  http:\n    access_log: \"off\"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.NginxConfig.ErrorLog != "/var/log/portico/error.log" || c.NginxConfig.HTTP.AccessLog != "off" {
		t.Errorf("ErrorLog %q AccessLog %q", c.NginxConfig.ErrorLog, c.NginxConfig.HTTP.AccessLog)
	}
	c, err = Parse(prefix, "", []byte("nginx_config:\n  http:\n    access_log: custom/a.log\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.NginxConfig.ErrorLog != prefix+"/logs/error.log" || c.NginxConfig.HTTP.AccessLog != prefix+"/custom/a.log" {
		t.Errorf("ErrorLog %q AccessLog %q", c.NginxConfig.ErrorLog, c.NginxConfig.HTTP.AccessLog)
	}
}

func TestPluginAttrOtherKept(t *testing.T) {
	c := mustParse(t, "plugin_attr:\n  log-rotate:\n    interval: 60\n    max_kept: 3\n", nil)
	if got := c.PluginAttr.Other["log-rotate"]; !reflect.DeepEqual(got, map[string]any{"interval": 60, "max_kept": 3}) {
		t.Errorf("log-rotate = %#v", got)
	}
	if c.PluginAttr.Other["proxy-mirror"] == nil || c.PluginAttr.Prometheus.ExportAddr != (Listen{"127.0.0.1", 9091}) {
		t.Errorf("defaults lost: %+v", c.PluginAttr)
	}
}

func TestUserFileShapes(t *testing.T) {
	for _, empty := range []string{"", "\n\n", "# only a comment\n  # another\n"} {
		c := mustParse(t, empty, nil)
		if c.APISIX.NodeListen[0].Port != 9080 {
			t.Errorf("%q: not the defaults", empty)
		}
	}
	_, err := parse(t, "apisix:\n  node_listen: [9080\n  enable_admin: true\n", nil)
	wantErrs(t, err, "conf/config.yaml: yaml: line ")
	_, err = parse(t, "- a\n- b\n", nil)
	wantErrs(t, err, "conf/config.yaml: top level must be a map, got list")
	_, err = parse(t, "apisix: {}\napisix: {}\n", nil)
	wantErrs(t, err, "conf/config.yaml: yaml: ", `mapping key "apisix" already defined`)
}

// Validate can be rerun after a Config is changed by hand.
func TestValidateAfterEdit(t *testing.T) {
	c := mustParse(t, "", nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.APISIX.Control.Port = c.Deployment.Admin.AdminListen.Port
	wantErrs(t, c.Validate(), "conf/config.yaml: apisix.control.port: control port 9180 conflicts with admin")
}

// Keys deleted with ~ fall back to APISIX's schema defaults where zero would mislead.
func TestDeletedKeysFallBack(t *testing.T) {
	user := `
apisix:
  router: ~
  proxy_mode: ~
nginx_config:
  error_log_level: ~
  event: ~
deployment:
  role: ~
  etcd:
    prefix: ~
    timeout: ~
    startup_retry: ~
ext-plugin:
  conf_expire_time: ~
  timeout: ~
`
	c := mustParse(t, user, nil)
	got := []any{c.APISIX.Router, c.APISIX.ProxyMode, c.NginxConfig.ErrorLogLevel, c.NginxConfig.Event.WorkerConnections,
		c.Deployment.Role, c.Deployment.ConfigProvider, c.Deployment.Etcd.Prefix, c.Deployment.Etcd.Timeout, c.Deployment.Etcd.StartupRetry,
		c.ExtPlugin.ConfExpireTime, c.ExtPlugin.Timeout}
	want := []any{Router{"radixtree_uri", "radixtree_sni"}, "http", "warn", 10620,
		"traditional", "etcd", "/apisix", 30 * time.Second, 2, time.Hour, time.Minute}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
