package resource

import (
	"encoding/json"
	"reflect"
	"testing"
)

const ic = "invalid configuration: "

func TestServiceValidate(t *testing.T) {
	runCases(t, Services, []vcase{
		{"empty", `{}`, ""},
		{"full", `{"id":1,"name":"s","desc":"d","labels":{"a":"b"},"plugins":{"p":{}},"upstream":{"nodes":{"a:1":1}},"upstream_id":2,"script":"local _M = {} return _M","enable_websocket":false,"hosts":["a.com","*.b.com"]}`, ""},
		{"unknown field", `{"uri":"/a"}`, ic + "additional properties forbidden, found uri"},
		{"host not allowed", `{"host":"a.com"}`, ic + "additional properties forbidden, found host"},
		{"hosts empty", `{"hosts":[]}`, ic + `property "hosts" validation failed: expect array to have at least 1 items`},
		{"hosts bad", `{"hosts":["a b"]}`, ic + `property "hosts" validation failed: failed to validate item 1: failed to match pattern ` + hostPat + ` with "a b"`},
		{"upstream checked", `{"upstream":{"type":"chash","nodes":{}}}`, "missing key"},
		{"upstream schema", `{"upstream":{}}`, ic + `property "upstream" validation failed: value should match only one schema, but matches none`},
		{"plugins array", `{"plugins":[1]}`, ic + `property "plugins" validation failed: wrong type: expected object, got table`},
	})
	s := mustValidate[Service](t, Services, `{"id":"s1","hosts":["a.com"],"upstream":{"id":3,"nodes":[{"host":"x","weight":1}]},"enable_websocket":true}`)
	if s.ID != "s1" || !reflect.DeepEqual(s.Hosts, []string{"a.com"}) || s.Upstream.ID != int64(3) || !*s.EnableWebsocket {
		t.Fatalf("%+v", s)
	}
}

func TestConsumerValidate(t *testing.T) {
	runCases(t, Consumers, []vcase{
		{"minimal", `{"username":"jack"}`, ""},
		{"full", `{"username":"jack_1-x","desc":"d","labels":{"a":"b"},"group_id":"g","plugins":{"key-auth":{"key":"k"}}}`, ""},
		{"missing username", `{"plugins":{}}`, ic + `property "username" is required`},
		{"username pattern", `{"username":"ja ck"}`, ic + `property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\-]+$" with "ja ck"`},
		{"username empty", `{"username":""}`, ic + `property "username" validation failed: string too short, expected at least 1, got 0`},
		{"username long", `{"username":"` + repeat("a", 257) + `"}`, ic + `property "username" validation failed: string too long, expected at most 256, got 257`},
		{"name not allowed", `{"username":"a","name":"x"}`, ic + "additional properties forbidden, found name"},
		{"group_id bad", `{"username":"a","group_id":0}`, ic + `property "group_id" validation failed: object matches none of the required`},
	})
	c := mustValidate[Consumer](t, Consumers, `{"username":"jack","group_id":5}`)
	if c.Username != "jack" || c.GroupID != int64(5) {
		t.Fatalf("%+v", c)
	}
}

func TestCredentialValidate(t *testing.T) {
	runCases(t, Credentials, []vcase{
		{"empty", `{}`, ""},
		{"one plugin", `{"id":"c1","plugins":{"key-auth":{"key":"k"}}}`, ""},
		{"composite id", `{"id":"jack/credentials/c-1","plugins":{}}`, ""},
		{"two plugins", `{"plugins":{"key-auth":{},"basic-auth":{}}}`, ic + `property "plugins" validation failed: expect object to have at most 1 properties`},
		{"bad id", `{"id":"a b"}`, ic + `property "id" validation failed: value should match only one schema, but matches none`},
		{"unknown field", `{"username":"x"}`, ic + "additional properties forbidden, found username"},
	})
}

func TestPluginsHolderKinds(t *testing.T) {
	t.Run("consumer_groups", func(t *testing.T) {
		runCases(t, ConsumerGroups, []vcase{
			{"valid", `{"id":"g","plugins":{"limit-count":{}},"name":"n","desc":"d","labels":{"a":"b"}}`, ""},
			{"missing plugins", `{"id":"g"}`, ic + `property "plugins" is required`},
			{"missing id", `{"plugins":{}}`, ic + `property "id" is required`},
			{"name empty", `{"id":"g","plugins":{},"name":""}`, ic + `property "name" validation failed: string too short, expected at least 1, got 0`},
			{"unknown field", `{"id":"g","plugins":{},"uri":"/"}`, ic + "additional properties forbidden, found uri"},
		})
	})
	t.Run("plugin_configs", func(t *testing.T) {
		runCases(t, PluginConfigs, []vcase{
			{"valid", `{"id":1,"plugins":{}}`, ""},
			{"long name is fine", `{"id":1,"plugins":{},"name":"` + repeat("n", 300) + `"}`, ""},
			{"name type", `{"id":1,"plugins":{},"name":1}`, ic + `property "name" validation failed: wrong type: expected string, got number`},
			{"missing plugins", `{"id":1}`, ic + `property "plugins" is required`},
			{"plugins string", `{"id":1,"plugins":"x"}`, ic + `property "plugins" validation failed: wrong type: expected object, got string`},
		})
	})
	t.Run("global_rules", func(t *testing.T) {
		runCases(t, GlobalRules, []vcase{
			{"valid", `{"id":1,"plugins":{"prometheus":{}}}`, ""},
			{"with timestamps", `{"id":1,"plugins":{},"create_time":1,"update_time":2}`, ""},
			{"name not allowed", `{"id":1,"plugins":{},"name":"x"}`, ic + "additional properties forbidden, found name"},
			{"missing plugins", `{"id":1}`, ic + `property "plugins" is required`},
		})
	})
	t.Run("protos", func(t *testing.T) {
		runCases(t, Protos, []vcase{
			{"valid", `{"id":1,"content":"syntax = \"proto3\";"}`, ""},
			{"missing content", `{"id":1}`, ic + `property "content" is required`},
			{"empty content", `{"content":""}`, ic + `property "content" validation failed: string too short, expected at least 1, got 0`},
			{"content too long", `{"content":"` + repeat("x", 1<<20+1) + `"}`, ic + `property "content" validation failed: string too long, expected at most 1048576, got 1048577`},
		})
	})
	g := mustValidate[GlobalRule](t, GlobalRules, `{"id":"g1","plugins":{"a":{"x":1}}}`)
	if g.ID != "g1" || string(g.Plugins["a"]) != `{"x":1}` {
		t.Fatalf("%+v", g)
	}
	pc := mustValidate[PluginConfig](t, PluginConfigs, `{"id":3,"plugins":{}}`)
	if pc.ID != int64(3) || pc.Plugins == nil {
		t.Fatalf("%+v", pc)
	}
	p := mustValidate[Proto](t, Protos, `{"id":"p","content":"x"}`)
	if p.Content != "x" {
		t.Fatalf("%+v", p)
	}
	cg := mustValidate[ConsumerGroup](t, ConsumerGroups, `{"id":"g","plugins":{}}`)
	if cg.ID != "g" {
		t.Fatalf("%+v", cg)
	}
}

func TestStreamRouteValidate(t *testing.T) {
	runCases(t, StreamRoutes, []vcase{
		{"empty", `{}`, ""},
		{"full", `{"id":1,"remote_addr":"10.0.0.0/8","server_addr":"::1","server_port":9100,"sni":"*.a.com","upstream":{"nodes":{"a:1":1},"scheme":"tls"},"upstream_id":2,"service_id":3,"plugins":{},"protocol":{"name":"redis","superior_id":4,"conf":{},"logger":[{"name":"syslog","filter":[],"conf":{}}]}}`, ""},
		{"server_port zero", `{"server_port":0}`, ic + `property "server_port" validation failed: expected 0 to be at least 1`},
		{"remote_addr bad", `{"remote_addr":"x"}`, ic + `property "remote_addr" validation failed: object matches none of the required`},
		{"loose ipv6 cidr", `{"server_addr":":/8"}`, "invalid server_addr: :/8"},
		{"protocol without name", `{"protocol":{}}`, ic + `property "protocol" validation failed: property "name" is required`},
		{"logger name without conf", `{"protocol":{"name":"redis","logger":[{"name":"syslog"}]}}`, ic + `property "protocol" validation failed: property "logger" validation failed: failed to validate item 1: property "conf" is required when "name" is set`},
		{"logger extra field", `{"protocol":{"name":"redis","logger":[{"name":"s","conf":{},"x":1}]}}`, ic + `property "protocol" validation failed: property "logger" validation failed: failed to validate item 1: additional properties forbidden, found x`},
		{"uri not allowed", `{"uri":"/"}`, ic + "additional properties forbidden, found uri"},
		{"upstream checked", `{"upstream":{"nodes":{"a:0":1}}}`, "invalid port 0"},
	})
	s := mustValidate[StreamRoute](t, StreamRoutes, `{"server_port":9100,"protocol":{"name":"redis","superior_id":"up"},"upstream":{"nodes":{"a:1":1}}}`)
	if s.ServerPort != 9100 || s.Protocol.Name != "redis" || s.Protocol.SuperiorID != "up" || len(s.Upstream.Nodes) != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestPluginMetadataValidate(t *testing.T) {
	runCases(t, PluginMetadata, []vcase{
		{"any object", `{"id":"http-logger","log_format":{"host":"$host"}}`, ""},
		{"no id", `{"a":1}`, ""},
		{"id not string", `{"id":1}`, ic + `property "id" validation failed: wrong type: expected string, got number`},
	})
	m := mustValidate[PluginMetadataConf](t, PluginMetadata, `{"id":"http-logger","log_format":{"host":"$host"},"create_time":5}`)
	if m.ID != "http-logger" || m.CreateTime != 5 || string(m.Fields["log_format"]) != `{"host":"$host"}` || len(m.Fields) != 1 {
		t.Fatalf("%+v", m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	_ = json.Unmarshal(b, &back)
	if back["id"] != "http-logger" || back["create_time"] != float64(5) || back["log_format"] == nil {
		t.Fatalf("marshal: %s", b)
	}
}

func TestSecretValidate(t *testing.T) {
	runCases(t, Secrets, []vcase{
		{"vault", `{"id":"vault/1","uri":"https://vault.local:8200","prefix":"kv/apisix","token":"t","namespace":"ns"}`, ""},
		{"aws", `{"id":"aws/x","access_key_id":"a","secret_access_key":"s","region":"eu-west-1","endpoint_url":"http://127.0.0.1:4566"}`, ""},
		{"gcp auth_file", `{"id":"gcp/1","auth_file":"/etc/gcp.json"}`, ""},
		{"gcp auth_config", `{"id":"gcp/1","auth_config":{"client_email":"e","private_key":"k","project_id":"p"}}`, ""},
		{"vault missing token", `{"id":"vault/1","uri":"http://v","prefix":"p"}`, ic + `property "token" is required`},
		{"vault bad uri", `{"id":"vault/1","uri":"v","prefix":"p","token":"t"}`, ic + `property "uri" validation failed: failed to match pattern "^[^\\/]+:\\/\\/([\\da-zA-Z.-]+|\\[[\\da-fA-F:]+\\])(:\\d+)?" with "v"`},
		{"aws missing secret", `{"id":"aws/1","access_key_id":"a"}`, ic + `property "secret_access_key" is required`},
		{"gcp both", `{"id":"gcp/1","auth_file":"f","auth_config":{"client_email":"e","private_key":"k","project_id":"p"}}`, ic + "value should match only one schema, but matches both schemas 1 and 2"},
		{"gcp neither", `{"id":"gcp/1"}`, ic + "value should match only one schema, but matches none"},
		{"no id", `{"uri":"http://v","prefix":"p","token":"t"}`, "missing secret type"},
		{"unknown manager", `{"id":"azure/1"}`, "invalid secret manager: azure"},
	})
	s := mustValidate[Secret](t, Secrets, `{"id":"vault/1","uri":"http://v:8200","prefix":"kv","token":"t"}`)
	if s.Manager != "vault" || s.URI != "http://v:8200" || s.Token != "t" {
		t.Fatalf("%+v", s)
	}
	s2, err := ValidateSecret("aws", []byte(`{"access_key_id":"a","secret_access_key":"b"}`))
	if err != nil || s2.Manager != "aws" || s2.AccessKeyID != "a" {
		t.Fatalf("%+v %v", s2, err)
	}
	if _, err := ValidateSecret("nope", []byte(`{}`)); err == nil || err.Error() != "invalid secret manager: nope" {
		t.Fatalf("got %v", err)
	}
}
