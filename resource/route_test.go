package resource

import (
	"encoding/json"
	"reflect"
	"testing"
)

const hostPat = `"^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$"`

const routeAnyOf = `object matches none of the required: ["plugins","uri"] or ["upstream","uri"] or ` +
	`["upstream_id","uri"] or ["service_id","uri"] or ["plugins","uris"] or ["upstream","uris"] or ` +
	`["upstream_id","uris"] or ["service_id","uris"] or ["script","uri"] or ["script","uris"]`

func TestRouteValidate(t *testing.T) {
	const ic = "invalid configuration: "
	runCases(t, Routes, []vcase{
		// valid
		{"minimal uri+upstream_id", `{"uri":"/a","upstream_id":1}`, ""},
		{"uris+plugins", `{"uris":["/a","/b"],"plugins":{}}`, ""},
		{"uri+service_id", `{"uri":"/a","service_id":"svc-1"}`, ""},
		{"uri+script", `{"uri":"/a","script":"local _M = {} return _M"}`, ""},
		{"inline upstream", `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:80":1}}}`, ""},
		{"wildcard hosts", `{"uri":"/a","upstream_id":1,"hosts":["*.foo.com","*","a.b:8080","[::1]"]}`, ""},
		{"all methods", `{"uri":"/a","upstream_id":1,"methods":["GET","POST","PUT","DELETE","PATCH","HEAD","OPTIONS","CONNECT","TRACE","PURGE"]}`, ""},
		{"remote_addrs formats", `{"uri":"/a","upstream_id":1,"remote_addrs":["10.0.0.1","10.0.0.0/8","::1","fe80::/10"]}`, ""},
		{"status 0", `{"uri":"/a","upstream_id":1,"status":0}`, ""},
		{"negative priority", `{"uri":"/a","upstream_id":1,"priority":-5}`, ""},
		{"integral float priority", `{"uri":"/a","upstream_id":1,"priority":2.0}`, ""},
		{"empty object as vars", `{"uri":"/a","upstream_id":1,"vars":{}}`, ""},
		{"empty array as plugins", `{"uri":"/a","plugins":[]}`, ""},
		{"plugin_config_id with upstream", `{"uri":"/a","upstream_id":1,"plugin_config_id":"pc"}`, ""},
		{"timestamps", `{"uri":"/a","upstream_id":1,"create_time":1700000000,"update_time":1700000001}`, ""},
		{"filter_func", `{"uri":"/a","upstream_id":1,"filter_func":"function(vars) return true end"}`, ""},
		// The spec does not make upstream and upstream_id exclusive: upstream_id wins at runtime.
		{"upstream and upstream_id", `{"uri":"/a","upstream_id":1,"upstream":{"nodes":{"a:1":1}}}`, ""},
		{"service_id with upstream", `{"uri":"/a","service_id":1,"upstream":{"nodes":{"a:1":1}},"plugins":{}}`, ""},

		// uri / uris
		{"neither uri nor uris", `{"upstream_id":1}`, ic + "allOf 1 failed: value should match only one schema, but matches none"},
		{"both uri and uris", `{"uri":"/a","uris":["/b"],"upstream_id":1}`, ic + "allOf 1 failed: value should match only one schema, but matches both schemas 1 and 2"},
		{"uri wrong type", `{"uri":1,"upstream_id":1}`, ic + `property "uri" validation failed: wrong type: expected string, got number`},
		{"uri empty", `{"uri":"","upstream_id":1}`, ic + `property "uri" validation failed: string too short, expected at least 1, got 0`},
		{"uri too long", `{"uri":"/` + repeat("a", 4096) + `","upstream_id":1}`, ic + `property "uri" validation failed: string too long, expected at most 4096, got 4097`},
		{"uris empty", `{"uris":[],"upstream_id":1}`, ic + `property "uris" validation failed: expect array to have at least 1 items`},
		{"uris duplicate", `{"uris":["/a","/a"],"upstream_id":1}`, ic + `property "uris" validation failed: expected unique items but items 1 and 2 are equal`},
		{"uris item type", `{"uris":["/a",2],"upstream_id":1}`, ic + `property "uris" validation failed: failed to validate item 2: wrong type: expected string, got number`},
		{"uris object", `{"uris":{"a":1},"upstream_id":1}`, ic + `property "uris" validation failed: wrong type: expected array, got table`},

		// something to run
		{"plugin_config_id alone", `{"uri":"/a","plugin_config_id":1}`, ic + routeAnyOf},
		{"uri alone", `{"uri":"/a"}`, ic + routeAnyOf},
		{"script with plugins", `{"uri":"/a","script":"local _M = {} return _M","plugins":{}}`, ic + "value wasn't supposed to match schema"},
		{"script with plugin_config_id", `{"uri":"/a","script":"local _M = {} return _M","plugin_config_id":1}`, ic + "value wasn't supposed to match schema"},
		{"script too short", `{"uri":"/a","script":"x"}`, ic + `property "script" validation failed: string too short, expected at least 10, got 1`},

		// host / hosts
		{"host and hosts", `{"uri":"/a","upstream_id":1,"host":"a.com","hosts":["b.com"]}`, "only one of host or hosts is allowed"},
		{"host and hosts wrong types", `{"uri":"/a","upstream_id":1,"host":1,"hosts":2}`, "only one of host or hosts is allowed"},
		{"host inner wildcard", `{"uri":"/a","upstream_id":1,"host":"a.*.foo.com"}`, ic + `property "host" validation failed: failed to match pattern ` + hostPat + ` with "a.*.foo.com"`},
		{"host with slash", `{"uri":"/a","upstream_id":1,"host":"a/b"}`, ic + `property "host" validation failed: failed to match pattern ` + hostPat + ` with "a/b"`},
		{"host empty", `{"uri":"/a","upstream_id":1,"host":""}`, ic + `property "host" validation failed: failed to match pattern ` + hostPat + ` with ""`},
		{"hosts empty", `{"uri":"/a","upstream_id":1,"hosts":[]}`, ic + `property "hosts" validation failed: expect array to have at least 1 items`},
		{"hosts duplicate", `{"uri":"/a","upstream_id":1,"hosts":["a.com","b.com","a.com"]}`, ic + `property "hosts" validation failed: expected unique items but items 1 and 3 are equal`},
		{"hosts bad item", `{"uri":"/a","upstream_id":1,"hosts":["a.com","%"]}`, ic + `property "hosts" validation failed: failed to validate item 2: failed to match pattern ` + hostPat + ` with "%"`},

		// methods
		{"method unknown", `{"uri":"/a","upstream_id":1,"methods":["GET","FOO"]}`, ic + `property "methods" validation failed: failed to validate item 2: matches none of the enum values`},
		{"method lower case", `{"uri":"/a","upstream_id":1,"methods":["get"]}`, ic + `property "methods" validation failed: failed to validate item 1: matches none of the enum values`},
		{"methods duplicate", `{"uri":"/a","upstream_id":1,"methods":["GET","GET"]}`, ic + `property "methods" validation failed: expected unique items but items 1 and 2 are equal`},
		{"methods string", `{"uri":"/a","upstream_id":1,"methods":"GET"}`, ic + `property "methods" validation failed: wrong type: expected array, got string`},

		// remote_addr(s)
		{"remote_addr and remote_addrs", `{"uri":"/a","upstream_id":1,"remote_addr":"1.1.1.1","remote_addrs":["2.2.2.2"]}`, "only one of remote_addr or remote_addrs is allowed"},
		{"remote_addr bad ipv4", `{"uri":"/a","upstream_id":1,"remote_addr":"1.2.3.256"}`, ic + `property "remote_addr" validation failed: object matches none of the required`},
		{"remote_addr bad cidr", `{"uri":"/a","upstream_id":1,"remote_addr":"10.0.0.0/33"}`, ic + `property "remote_addr" validation failed: object matches none of the required`},
		{"remote_addr hostname", `{"uri":"/a","upstream_id":1,"remote_addr":"localhost"}`, ic + `property "remote_addr" validation failed: object matches none of the required`},
		{"remote_addr number", `{"uri":"/a","upstream_id":1,"remote_addr":1}`, ic + `property "remote_addr" validation failed: wrong type: expected string, got number`},
		{"remote_addrs bad item", `{"uri":"/a","upstream_id":1,"remote_addrs":["1.1.1.1","x"]}`, ic + `property "remote_addrs" validation failed: failed to validate item 2: object matches none of the required`},
		{"remote_addrs empty", `{"uri":"/a","upstream_id":1,"remote_addrs":[]}`, ic + `property "remote_addrs" validation failed: expect array to have at least 1 items`},

		// priority, status
		{"priority float", `{"uri":"/a","upstream_id":1,"priority":1.5}`, ic + `property "priority" validation failed: wrong type: expected integer, got number`},
		{"priority string", `{"uri":"/a","upstream_id":1,"priority":"1"}`, ic + `property "priority" validation failed: wrong type: expected integer, got string`},
		{"status 2", `{"uri":"/a","upstream_id":1,"status":2}`, ic + `property "status" validation failed: matches none of the enum values`},
		{"status bool", `{"uri":"/a","upstream_id":1,"status":true}`, ic + `property "status" validation failed: wrong type: expected integer, got boolean`},

		// vars
		{"vars string", `{"uri":"/a","upstream_id":1,"vars":"x"}`, ic + `property "vars" validation failed: wrong type: expected array, got string`},
		{"vars bad operator", `{"uri":"/a","upstream_id":1,"vars":[["arg_a","=","1"]]}`, "failed to validate the 'vars' expression: invalid operator '='"},
		{"vars not wrapped", `{"uri":"/a","upstream_id":1,"vars":["arg_a","==","1"]}`, "failed to validate the 'vars' expression: rule should be wrapped inside brackets"},

		// timeout
		{"timeout zero", `{"uri":"/a","upstream_id":1,"timeout":{"connect":0,"send":1,"read":1}}`, ic + `property "timeout" validation failed: property "connect" validation failed: expected 0 to be greater than 0`},
		{"timeout negative", `{"uri":"/a","upstream_id":1,"timeout":{"connect":1,"send":-1.5,"read":1}}`, ic + `property "timeout" validation failed: property "send" validation failed: expected -1.5 to be greater than 0`},
		{"timeout missing read", `{"uri":"/a","upstream_id":1,"timeout":{"connect":1,"send":1}}`, ic + `property "timeout" validation failed: property "read" is required`},
		{"timeout empty array", `{"uri":"/a","upstream_id":1,"timeout":[]}`, ic + `property "timeout" validation failed: property "connect" is required`},

		// ids and references
		{"upstream_id zero", `{"uri":"/a","upstream_id":0}`, ic + `property "upstream_id" validation failed: object matches none of the required`},
		{"service_id bad chars", `{"uri":"/a","service_id":"a b"}`, ic + `property "service_id" validation failed: object matches none of the required`},
		{"id too long", `{"id":"` + repeat("a", 65) + `","uri":"/a","upstream_id":1}`, ic + `property "id" validation failed: object matches none of the required`},
		{"id float", `{"id":1.5,"uri":"/a","upstream_id":1}`, ic + `property "id" validation failed: object matches none of the required`},

		// misc fields
		{"unknown field", `{"uri":"/a","upstream_id":1,"foo":1}`, ic + "additional properties forbidden, found foo"},
		{"plugins not object", `{"uri":"/a","plugins":"x"}`, ic + `property "plugins" validation failed: wrong type: expected object, got string`},
		{"enable_websocket string", `{"uri":"/a","upstream_id":1,"enable_websocket":"yes"}`, ic + `property "enable_websocket" validation failed: wrong type: expected boolean, got string`},
		{"name too long", `{"uri":"/a","upstream_id":1,"name":"` + repeat("n", 257) + `"}`, ic + `property "name" validation failed: string too long, expected at most 256, got 257`},
		{"name empty", `{"uri":"/a","upstream_id":1,"name":""}`, ic + `property "name" validation failed: string too short, expected at least 1, got 0`},
		{"desc too long", `{"uri":"/a","upstream_id":1,"desc":"` + repeat("d", 257) + `"}`, ic + `property "desc" validation failed: string too long, expected at most 256, got 257`},
		{"label not string", `{"uri":"/a","upstream_id":1,"labels":{"env":["a"]}}`, ic + `property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table`},
		{"label with space", `{"uri":"/a","upstream_id":1,"labels":{"env":"a b"}}`, ic + `property "labels" validation failed: failed to validate env (matching ".*"): failed to match pattern "^\\S+$" with "a b"`},
		{"labels string", `{"uri":"/a","upstream_id":1,"labels":"x"}`, ic + `property "labels" validation failed: wrong type: expected object, got string`},
		{"filter_func not a function", `{"uri":"/a","upstream_id":1,"filter_func":"return true end"}`, ic + `property "filter_func" validation failed: failed to match pattern "^function" with "return true end"`},
		{"filter_func short", `{"uri":"/a","upstream_id":1,"filter_func":"function"}`, ic + `property "filter_func" validation failed: string too short, expected at least 10, got 8`},
		{"create_time string", `{"uri":"/a","upstream_id":1,"create_time":"now"}`, ic + `property "create_time" validation failed: wrong type: expected integer, got string`},
		{"null value", `{"uri":null,"upstream_id":1}`, ic + `property "uri" validation failed: wrong type: expected string, got userdata`},

		// schema-valid integers the typed form cannot hold
		{"priority beyond int", `{"uri":"/a","upstream_id":1,"priority":1e30}`, ic + `property "priority" validation failed: number 1e30 out of range`},
		{"retries beyond int", `{"uri":"/a","upstream":{"nodes":{},"retries":100000000000000000000}}`, ic + `property "upstream" validation failed: property "retries" validation failed: number 100000000000000000000 out of range`},

		// inline upstream goes through the upstream checks
		{"inline upstream schema", `{"uri":"/a","upstream":{"nodes":{"a:80":"1"}}}`, ic + `property "upstream" validation failed: property "nodes" validation failed: object matches none of the required`},
		{"inline upstream bare ipv6", `{"uri":"/a","upstream":{"nodes":[{"host":"::1","port":80,"weight":1}]}}`, ic + "IPv6 address must be enclosed with '[' and ']'"},
		{"inline upstream chash no key", `{"uri":"/a","upstream":{"type":"chash","nodes":{"a:80":1}}}`, "missing key"},
		{"inline upstream bad port", `{"uri":"/a","upstream":{"nodes":{"a:65536":1}}}`, "invalid port 65536"},
	})
}

func TestRouteFull(t *testing.T) {
	raw := `{
		"id": "r-1", "name": "full", "desc": "every field", "labels": {"env": "prod"},
		"create_time": 1700000000, "update_time": 1700000100,
		"uri": "/api/*", "host": "*.example.com", "methods": ["GET", "POST"],
		"remote_addr": "10.0.0.0/8", "vars": [["arg_v", "==", "1"], ["http_x", "~~", "^a"]],
		"priority": 10, "status": 1, "enable_websocket": true,
		"plugins": {"limit-count": {"count": 2, "time_window": 60}},
		"plugin_config_id": 7, "service_id": "s1",
		"upstream": {"type": "chash", "hash_on": "header", "key": "X-User",
			"nodes": [{"host": "10.0.0.1", "port": 8080, "weight": 2, "priority": 1, "metadata": {"zone": "a"}}],
			"timeout": {"connect": 1.5, "send": 2, "read": 3}},
		"timeout": {"connect": 3, "send": 3, "read": 3}
	}`
	r := mustValidate[Route](t, Routes, raw)
	if r.ID != "r-1" || r.PluginConfigID != int64(7) || r.ServiceID != "s1" || r.UpstreamID != nil {
		t.Fatalf("ids: %#v %#v %#v %#v", r.ID, r.PluginConfigID, r.ServiceID, r.UpstreamID)
	}
	if r.URI != "/api/*" || r.Host != "*.example.com" || !reflect.DeepEqual(r.Methods, []string{"GET", "POST"}) {
		t.Fatalf("matching fields: %+v", r)
	}
	if r.Priority != 10 || r.Status == nil || *r.Status != 1 || !r.Enabled() || r.EnableWebsocket == nil || !*r.EnableWebsocket {
		t.Fatalf("flags: %+v", r)
	}
	if r.Labels["env"] != "prod" || r.CreateTime != 1700000000 || r.UpdateTime != 1700000100 {
		t.Fatalf("meta: %+v", r)
	}
	if len(r.Vars) != 2 || r.RemoteAddr != "10.0.0.0/8" {
		t.Fatalf("vars/remote: %+v", r)
	}
	var lc map[string]int
	if err := json.Unmarshal(r.Plugins["limit-count"], &lc); err != nil || lc["count"] != 2 {
		t.Fatalf("plugin conf kept raw: %s %v", r.Plugins["limit-count"], err)
	}
	u := r.Upstream
	if u == nil || u.Type != "chash" || u.HashOn != "header" || u.Key != "X-User" || u.Timeout.Connect != 1.5 {
		t.Fatalf("upstream: %+v", u)
	}
	want := Nodes{{Host: "10.0.0.1", Port: 8080, Weight: 2, Priority: 1, Metadata: map[string]any{"zone": "a"}}}
	if !reflect.DeepEqual(u.Nodes, want) {
		t.Fatalf("nodes: %+v", u.Nodes)
	}
	if r.Timeout == nil || *r.Timeout != (Timeout{3, 3, 3}) {
		t.Fatalf("timeout: %+v", r.Timeout)
	}
	// The typed object marshals back to a value that validates again.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(Routes, b); err != nil {
		t.Fatalf("re-validate %s: %v", b, err)
	}
}

func TestRouteLenientForms(t *testing.T) {
	// {} for an array and [] for an object, integers written as floats:
	// accepted like api7/jsonschema does, and decoded into the typed form.
	r := mustValidate[Route](t, Routes, `{"uri":"/a","plugins":[],"vars":{},"priority":3.0,"status":0.0,"upstream":{"nodes":[{"host":"a","port":80.0,"weight":1e0,"metadata":[]}],"labels":[]}}`)
	if r.Priority != 3 || r.Status == nil || *r.Status != 0 || r.Enabled() {
		t.Fatalf("priority/status: %+v", r)
	}
	if r.Plugins == nil || len(r.Plugins) != 0 || len(r.Vars) != 0 {
		t.Fatalf("plugins/vars: %#v %#v", r.Plugins, r.Vars)
	}
	if n := r.Upstream.Nodes; len(n) != 1 || n[0].Port != 80 || n[0].Weight != 1 {
		t.Fatalf("nodes: %+v", n)
	}
}

func TestValidateDoesNotModifyInput(t *testing.T) {
	raw := []byte(`{"uri":"/a","plugins":[],"priority":1.0}`)
	cp := string(raw)
	if _, err := Validate(Routes, raw); err != nil {
		t.Fatal(err)
	}
	if string(raw) != cp {
		t.Fatalf("input modified: %s", raw)
	}
}
