package conf

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The embedded defaults parse, decode strictly and validate on their own.
func TestDefaultsValidByThemselves(t *testing.T) {
	c, err := Parse(t.TempDir(), "", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, d := c.APISIX, c.Deployment
	checks := []struct {
		name      string
		got, want any
	}{
		{"admin_listen (safer than APISIX)", d.Admin.AdminListen, Listen{"127.0.0.1", 9180}},
		{"admin_key ships empty", d.Admin.AdminKey, []AdminKey{{Name: "admin", Key: "", Role: "admin"}}},
		{"allow_admin", d.Admin.AllowAdmin, []string{"127.0.0.0/24"}},
		{"client_max_body_size", c.NginxConfig.HTTP.ClientMaxBodySize, int64(100 << 20)},
		{"control", a.Control, Listen{"127.0.0.1", 9090}},
		{"status off", a.Status, (*Listen)(nil)},
		{"router", a.Router, Router{HTTP: "radixtree_host_uri", SSL: "radixtree_sni"}},
		{"etcd prefix", d.Etcd.Prefix, "/apisix"},
		{"etcd timeout", d.Etcd.Timeout.Seconds(), 30.0},
		{"embedded etcd", d.Etcd.Embedded, true},
		{"role", d.Role, "traditional"},
		{"error_log_level", c.NginxConfig.ErrorLogLevel, "warn"},
		{"shared dicts", len(c.NginxConfig.HTTP.SharedDicts), 6},
		{"worker-events", c.NginxConfig.HTTP.SharedDicts["worker-events"], int64(1 << 20)},
		{"no runner", len(c.ExtPlugin.Cmd), 0},
		{"conf token lifetime (APISIX's)", c.ExtPlugin.ConfExpireTime, time.Hour},
		{"runner RPC timeout (APISIX's)", c.ExtPlugin.Timeout, time.Minute},
		{"no test hook", c.TestOnly, TestOnly{}},
		{"prometheus", c.PluginAttr.Prometheus.ExportAddr, Listen{"127.0.0.1", 9091}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestDefaultsNeverShipTheWellKnownAdminKey(t *testing.T) {
	if bytes.Contains(DefaultYAML(), []byte("edd1c9f034335f136f87ad84b625c8f1")) {
		t.Fatal("config-default.yaml contains APISIX's published admin key")
	}
}

func TestDefaultYAMLIsACopy(t *testing.T) {
	b := DefaultYAML()
	b[0] = 'X'
	if DefaultYAML()[0] == 'X' {
		t.Fatal("DefaultYAML exposes the embedded bytes")
	}
}

// The default plugin list is the set of plugins in the spec's priority table (6.2).
func TestDefaultPlugins(t *testing.T) {
	c := mustParse(t, "", nil)
	want := strings.Fields(`real-ip request-id ext-plugin-pre-req fault-injection serverless-pre-function
		cors ip-restriction ua-restriction uri-blocker hmac-auth basic-auth jwt-auth key-auth
		consumer-restriction proxy-mirror proxy-rewrite limit-conn limit-count limit-req gzip
		traffic-split redirect response-rewrite public-api prometheus echo serverless-post-function
		ext-plugin-post-req ext-plugin-post-resp`)
	if !reflect.DeepEqual(c.Plugins, want) {
		t.Errorf("Plugins = %v", c.Plugins)
	}
}

// optionalKeys are Config keys that config-default.yaml leaves out on purpose (commented
// examples, or keys whose absence means something).
var optionalKeys = map[string]bool{
	"apisix.id":                        true,
	"apisix.dns_resolver":              true,
	"apisix.dns_resolver_valid":        true,
	"apisix.ssl.fallback_sni":          true,
	"apisix.status":                    true,
	"nginx_config.user":                true,
	"nginx_config.envs":                true,
	"deployment.role_control_plane":    true,
	"deployment.role_data_plane":       true,
	"deployment.admin.enable_admin_ui": true,
	"deployment.admin.admin_api_mtls":  true,
	"deployment.etcd.user":             true,
	"deployment.etcd.password":         true,
	"deployment.etcd.embedded":         true,
	"deployment.etcd.tls.cert":         true,
	"deployment.etcd.tls.key":          true,
	"deployment.etcd.tls.sni":          true,
	"ext-plugin.path_for_test":         true,
	"test_only":                        true,
}

// Every key of the typed Config appears in config-default.yaml unless it is optional, so
// the shipped file documents the whole surface. (The converse, every default key has a
// field, is TestDefaultsValidByThemselves: decoding is strict.)
func TestEveryConfigKeyIsInTheDefaults(t *testing.T) {
	defaults := doc(t, string(DefaultYAML()))
	var walk func(rt reflect.Type, p path)
	walk = func(rt reflect.Type, p path) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := f.Tag.Get("yaml")
			if name == "" || name == "-" {
				continue
			}
			fp := p.key(name)
			if optionalKeys[string(fp)] {
				continue
			}
			keys := strings.Split(string(fp), ".")
			v, ok := lookup(defaults, keys...)
			if !ok {
				t.Errorf("%s is in Config but not in config-default.yaml", fp)
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if _, isMap := v.(map[string]any); isMap && ft.Kind() == reflect.Struct && ft != durationType {
				walk(ft, fp)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

// Every conf tag in the Config tree is well formed (parseSpec panics otherwise), including
// those of keys the defaults never exercise.
func TestConfTagsParse(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] {
			return
		}
		seen[rt] = true
		for i := range rt.NumField() {
			f := rt.Field(i)
			if tag := f.Tag.Get("conf"); tag != "" && tag != "rest" {
				_ = parseSpec(tag)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Config]())
}
