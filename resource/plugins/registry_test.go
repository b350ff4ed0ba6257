package plugins

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/portico-gw/portico/conf"
)

// priorities is shared/spec/APISIX.md 6.2, an independent copy of what the
// schema files declare.
var priorities = map[string]int{
	"real-ip": 23000, "request-id": 12015, "ext-plugin-pre-req": 12000, "fault-injection": 11000,
	"serverless-pre-function": 10000, "cors": 4000, "ip-restriction": 3000, "ua-restriction": 2999,
	"uri-blocker": 2900, "hmac-auth": 2530, "basic-auth": 2520, "jwt-auth": 2510, "key-auth": 2500,
	"consumer-restriction": 2400, "proxy-mirror": 1010, "proxy-rewrite": 1008, "limit-conn": 1003,
	"limit-count": 1002, "limit-req": 1001, "gzip": 995, "traffic-split": 966, "redirect": 900,
	"response-rewrite": 899, "public-api": 501, "prometheus": 500, "echo": 412,
	"serverless-post-function": -2000, "ext-plugin-post-req": -3000, "ext-plugin-post-resp": -4000,
}

// TestDefaultConfigPluginsRegistered: every plugin config-default.yaml
// enables is registered, with the spec's priority.
func TestDefaultConfigPluginsRegistered(t *testing.T) {
	var def struct {
		Plugins       []string `yaml:"plugins"`
		StreamPlugins []string `yaml:"stream_plugins"`
	}
	if err := yaml.Unmarshal(conf.DefaultYAML(), &def); err != nil {
		t.Fatal(err)
	}
	if len(def.Plugins) != 29 || len(def.StreamPlugins) != 3 {
		t.Fatalf("config-default lists %d http and %d stream plugins; this test expects 29 and 3",
			len(def.Plugins), len(def.StreamPlugins))
	}
	for sub, names := range map[Subsystem][]string{HTTP: def.Plugins, Stream: def.StreamPlugins} {
		for _, n := range names {
			p, ok := Lookup(sub, n)
			if !ok {
				t.Errorf("%s plugin %s not registered", sub, n)
				continue
			}
			if p.Name != n || p.Subsystem != sub {
				t.Errorf("%s %s: registered as %s %s", sub, n, p.Subsystem, p.Name)
			}
			if want, ok := priorities[n]; !ok || p.Priority != want {
				t.Errorf("%s %s: priority %d, spec says %d", sub, n, p.Priority, want)
			}
		}
		if got := len(All(sub)); got != len(names) {
			t.Errorf("%s: %d registered, config-default enables %d", sub, got, len(names))
		}
	}
	// APISIX's plugins/list order is the config list sorted by priority.
	if got := Sorted(HTTP, def.Plugins); !slices.Equal(got, def.Plugins) {
		t.Errorf("config-default's plugins are not in priority order:\n%v\n%v", def.Plugins, got)
	}
}

func TestModuleFields(t *testing.T) {
	for _, p := range All(HTTP) {
		wantType := ""
		switch p.Name {
		case "key-auth", "basic-auth", "jwt-auth", "hmac-auth":
			wantType = "auth"
		}
		if p.Type != wantType {
			t.Errorf("%s: type %q, want %q", p.Name, p.Type, wantType)
		}
		wantVersion := 0.1
		switch p.Name {
		case "limit-count":
			wantVersion = 0.5
		case "prometheus":
			wantVersion = 0.2
		}
		if p.Version != wantVersion {
			t.Errorf("%s: version %v, want %v", p.Name, p.Version, wantVersion)
		}
		wantPolicy := ""
		if p.Name == "prometheus" {
			wantPolicy = "prefer_route"
		}
		if p.RunPolicy != wantPolicy {
			t.Errorf("%s: run_policy %q, want %q", p.Name, p.RunPolicy, wantPolicy)
		}
	}
}

func TestLookupAndSorted(t *testing.T) {
	if _, ok := Lookup(HTTP, "no-such-plugin"); ok {
		t.Error("unknown plugin found")
	}
	if _, ok := Lookup(Stream, "key-auth"); ok {
		t.Error("key-auth registered for stream")
	}
	if _, ok := Lookup("grpc", "key-auth"); ok {
		t.Error("key-auth found in an unknown subsystem")
	}
	got := Sorted(HTTP, []string{"echo", "nope", "key-auth", "real-ip", "serverless-post-function"})
	want := []string{"real-ip", "key-auth", "echo", "serverless-post-function"}
	if !slices.Equal(got, want) {
		t.Errorf("Sorted = %v, want %v", got, want)
	}
	got = Sorted(Stream, []string{"traffic-split", "limit-conn", "ip-restriction", "key-auth"})
	want = []string{"ip-restriction", "limit-conn", "traffic-split"}
	if !slices.Equal(got, want) {
		t.Errorf("Sorted(stream) = %v, want %v", got, want)
	}
	all := All(HTTP)
	if all[0].Name != "real-ip" || all[len(all)-1].Name != "ext-plugin-post-resp" {
		t.Errorf("All order: first %s, last %s", all[0].Name, all[len(all)-1].Name)
	}
}

// decodeSchema returns a served schema as a tree.
func decodeSchema(t *testing.T, p *Plugin, kind SchemaKind) map[string]any {
	t.Helper()
	b, ok := p.SchemaJSON(kind)
	if !ok {
		t.Fatalf("%s: no schema of kind %d", p.Name, kind)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	return doc
}

func TestSchemaJSON(t *testing.T) {
	wantMeta := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"disable":        map[string]any{"type": "boolean"},
			"error_response": map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "object"}}},
			"priority":       map[string]any{"description": "priority of plugins by customized order", "type": "integer"},
			"filter":         map[string]any{"description": "filter determines whether the plugin needs to be executed at runtime", "type": "array"},
			"pre_function": map[string]any{"type": "string", "description": "function to be executed in each phase " +
				"before execution of plugins. The pre_function will have access to two arguments: `conf` and `ctx`."},
		},
		"additionalProperties": false,
	}
	for _, sub := range []Subsystem{HTTP, Stream} {
		for _, p := range All(sub) {
			doc := decodeSchema(t, p, Route)
			if doc["$comment"] != "this is a mark for our injected plugin schema" {
				t.Errorf("%s %s: $comment %v", sub, p.Name, doc["$comment"])
			}
			props, _ := doc["properties"].(map[string]any)
			if !reflect.DeepEqual(props["_meta"], wantMeta) {
				t.Errorf("%s %s: _meta %v", sub, p.Name, props["_meta"])
			}
			if doc["type"] != "object" {
				t.Errorf("%s %s: type %v", sub, p.Name, doc["type"])
			}
			_, hasConsumer := p.SchemaJSON(Consumer)
			if hasConsumer != (p.Type == "auth") {
				t.Errorf("%s %s: consumer schema %v, type %q", sub, p.Name, hasConsumer, p.Type)
			}
		}
	}

	ka, _ := Lookup(HTTP, "key-auth")
	doc := decodeSchema(t, ka, Consumer)
	want := map[string]any{
		"type":           "object",
		"properties":     map[string]any{"key": map[string]any{"type": "string"}},
		"encrypt_fields": []any{"key"},
		"required":       []any{"key"},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("key-auth consumer schema %v", doc)
	}

	// $refs into package resource are bundled.
	ts, _ := Lookup(HTTP, "traffic-split")
	b, _ := ts.SchemaJSON(Route)
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	up := dig(raw, "properties", "rules", "items", "properties", "weighted_upstreams", "items", "properties", "upstream")
	if up == nil || up["$ref"] != nil || dig(up, "properties", "nodes") == nil {
		t.Errorf("traffic-split upstream not bundled: %v", up)
	}

	for name, has := range map[string]bool{"cors": true, "limit-count": true, "prometheus": true, "key-auth": false} {
		p, _ := Lookup(HTTP, name)
		if _, ok := p.SchemaJSON(Metadata); ok != has {
			t.Errorf("%s: metadata schema %v, want %v", name, ok, has)
		}
	}
	if _, ok := ka.SchemaJSON(SchemaKind(7)); ok {
		t.Error("schema of an unknown kind")
	}
}

func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

func TestEncryptFields(t *testing.T) {
	cases := []struct {
		plugin string
		kind   SchemaKind
		want   []string
	}{
		{"key-auth", Consumer, []string{"key"}},
		{"basic-auth", Consumer, []string{"password"}},
		{"jwt-auth", Consumer, []string{"secret"}},
		{"hmac-auth", Consumer, []string{"secret_key"}},
		{"key-auth", Route, nil},
		{"limit-count", Route, []string{"redis_password", "sentinel_password"}},
		{"limit-count", Consumer, []string{"redis_password", "sentinel_password"}}, // falls back to the route schema
		{"limit-count", Metadata, nil},
		{"limit-req", Route, []string{"redis_password"}},
		{"limit-conn", Route, []string{"redis_password"}},
		{"cors", Metadata, nil},
		{"echo", Route, nil},
	}
	for _, c := range cases {
		p, _ := Lookup(HTTP, c.plugin)
		if got := p.EncryptFields(c.kind); !slices.Equal(got, c.want) {
			t.Errorf("%s kind %d: %v, want %v", c.plugin, c.kind, got, c.want)
		}
	}
	// The caller owns the slice.
	ka, _ := Lookup(HTTP, "key-auth")
	ka.EncryptFields(Consumer)[0] = "changed"
	if got := ka.EncryptFields(Consumer); got[0] != "key" {
		t.Errorf("EncryptFields shares its slice: %v", got)
	}
}

// TestRedisSchemasAgree: limit-conn, limit-count and limit-req copy one
// redis schema from APISIX's apisix/utils/redis-schema.lua (limit-conn
// adds key_ttl); the copies must not drift apart.
func TestRedisSchemasAgree(t *testing.T) {
	branches := func(name string) (redis, cluster map[string]any) {
		p, _ := Lookup(HTTP, name)
		doc := decodeSchema(t, p, Route)
		return dig(doc, "then"), dig(doc, "else", "then")
	}
	countRedis, countCluster := branches("limit-count")
	reqRedis, reqCluster := branches("limit-req")
	connRedis, connCluster := branches("limit-conn")
	if !reflect.DeepEqual(countRedis, reqRedis) || !reflect.DeepEqual(countCluster, reqCluster) {
		t.Error("limit-count and limit-req redis schemas differ")
	}
	for _, b := range []map[string]any{connRedis, connCluster} {
		props := dig(b, "properties")
		if props["key_ttl"] == nil {
			t.Error("limit-conn redis schema lacks key_ttl")
		}
		delete(props, "key_ttl")
	}
	if !reflect.DeepEqual(connRedis, reqRedis) || !reflect.DeepEqual(connCluster, reqCluster) {
		t.Error("limit-conn redis schemas differ from limit-req's beyond key_ttl")
	}
}

func TestInjectMetaRefusesDeclaredMeta(t *testing.T) {
	if _, err := injectMeta([]byte(`{"type":"object","properties":{"_meta":{}}}`)); err == nil {
		t.Error("a schema declaring _meta was accepted")
	}
}

// TestNoRequiredDefaults guards an assumption of applyDefaults: it fills
// defaults before validating, while api7/jsonschema fills a property's
// default only after finding it absent, so a property both required and
// defaulted at the same node would pass here and fail in APISIX. None of
// the schemas has one.
func TestNoRequiredDefaults(t *testing.T) {
	var walk func(name string, node any)
	walk = func(name string, node any) {
		switch n := node.(type) {
		case map[string]any:
			props, _ := n["properties"].(map[string]any)
			req, _ := n["required"].([]any)
			for _, r := range req {
				if p, _ := props[r.(string)].(map[string]any); p != nil && p["default"] != nil {
					t.Errorf("%s: %q is required and has a default", name, r)
				}
			}
			for k, v := range n {
				if k != "default" {
					walk(name, v)
				}
			}
		case []any:
			for _, v := range n {
				walk(name, v)
			}
		}
	}
	for _, sub := range []Subsystem{HTTP, Stream} {
		for _, p := range All(sub) {
			for _, kind := range []SchemaKind{Route, Consumer, Metadata} {
				if b, ok := p.SchemaJSON(kind); ok {
					var doc any
					if err := json.Unmarshal(b, &doc); err != nil {
						t.Fatal(err)
					}
					walk(p.Name, doc)
				}
			}
		}
	}
}

func TestCustomChecksNameRegisteredPlugins(t *testing.T) {
	for name := range customChecks {
		if _, ok := Lookup(HTTP, name); !ok {
			t.Errorf("custom checks for %s, which is not registered", name)
		}
	}
}
