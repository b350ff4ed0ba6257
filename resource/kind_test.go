package resource

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestKindsComplete(t *testing.T) {
	// spec 2.1: the etcd directories.
	want := []Kind{"routes", "services", "upstreams", "consumers", "consumer_groups", "ssls",
		"global_rules", "plugin_configs", "plugin_metadata", "protos", "stream_routes", "secrets"}
	got := Kinds()
	if len(got) != len(want) {
		t.Fatalf("Kinds() = %v", got)
	}
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Errorf("Kinds() lacks %s", k)
		}
	}
	got[0] = "mutated"
	if Kinds()[0] == "mutated" {
		t.Fatal("Kinds returns shared state")
	}
	for _, k := range append(Kinds(), Credentials) {
		if !k.Valid() || k.Name() == "" || k.SchemaName() == "" {
			t.Errorf("%s: incomplete metadata", k)
		}
		if back, ok := KindBySchemaName(k.SchemaName()); !ok || back != k {
			t.Errorf("KindBySchemaName(%s) = %s", k.SchemaName(), back)
		}
	}
	if Kind("nope").Valid() || Kind("nope").HasID() {
		t.Fatal("unknown kind valid")
	}
	if Consumers.HasID() || PluginMetadata.HasID() || !Routes.HasID() || !Secrets.HasID() {
		t.Fatal("HasID")
	}
	if GlobalRules.Name() != "global rule" || PluginConfigs.Name() != "plugin config" || StreamRoutes.SchemaName() != "stream_route" {
		t.Fatal("names")
	}
}

func TestSchemaDocuments(t *testing.T) {
	for _, k := range append(Kinds(), Credentials) {
		b := Schema(k)
		if len(b) == 0 {
			t.Fatalf("Schema(%s) empty", k)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("Schema(%s): %v", k, err)
		}
		if doc["type"] != "object" {
			t.Errorf("Schema(%s) type = %v", k, doc["type"])
		}
		if strings.Contains(string(b), `"$ref"`) {
			t.Errorf("Schema(%s) still has $ref", k)
		}
		b[0] = 'X'
		if Schema(k)[0] == 'X' {
			t.Fatalf("Schema(%s) returns shared bytes", k)
		}
	}
	if Schema("nope") != nil {
		t.Fatal("unknown kind has a schema")
	}
	var route map[string]any
	_ = json.Unmarshal(Schema(Routes), &route)
	props := route["properties"].(map[string]any)
	up := props["upstream"].(map[string]any)
	if up["additionalProperties"] != false || up["properties"].(map[string]any)["nodes"] == nil {
		t.Fatal("route schema does not embed the upstream schema")
	}
	if route["additionalProperties"] != false {
		t.Fatal("route additionalProperties")
	}
	for _, m := range SecretManagers {
		if SecretSchema(m) == nil {
			t.Fatalf("no schema for secret manager %s", m)
		}
	}
	if SecretSchema("nope") != nil {
		t.Fatal("unknown manager")
	}
}

func TestUnknownKind(t *testing.T) {
	_, err := Validate("widgets", []byte(`{}`))
	if err == nil || err.Error() != "unknown resource kind: widgets" {
		t.Fatalf("got %v", err)
	}
	if err := CheckSchema("widgets", []byte(`{}`)); err == nil {
		t.Fatal("CheckSchema accepted unknown kind")
	}
}

func TestCheckSchema(t *testing.T) {
	if err := CheckSchema(Routes, []byte(`{"uri":"/a","upstream_id":1}`)); err != nil {
		t.Fatal(err)
	}
	// Schema only: the chash key rule is not part of it.
	if err := CheckSchema(Upstreams, []byte(`{"type":"chash","nodes":{}}`)); err != nil {
		t.Fatal(err)
	}
	err := CheckSchema(Routes, []byte(`{"uri":1,"upstream_id":1}`))
	if err == nil || err.Error() != `property "uri" validation failed: wrong type: expected string, got number` {
		t.Fatalf("got %v", err)
	}
	err = CheckSchema(Secrets, []byte(`{"id":"vault/1","uri":"http://v:8200","prefix":"kv"}`))
	if err == nil || err.Error() != `property "token" is required` {
		t.Fatalf("got %v", err)
	}
}

func TestValidateReturnTypes(t *testing.T) {
	cert, key := testPair(t)
	for kind, c := range map[Kind]struct {
		raw  string
		want any
	}{
		Routes:         {`{"uri":"/","upstream_id":1}`, &Route{}},
		Services:       {`{}`, &Service{}},
		Upstreams:      {`{"nodes":{}}`, &Upstream{}},
		Consumers:      {`{"username":"u"}`, &Consumer{}},
		Credentials:    {`{}`, &Credential{}},
		ConsumerGroups: {`{"id":1,"plugins":{}}`, &ConsumerGroup{}},
		PluginConfigs:  {`{"id":1,"plugins":{}}`, &PluginConfig{}},
		GlobalRules:    {`{"id":1,"plugins":{}}`, &GlobalRule{}},
		SSLs:           {`{"cert":` + jstr(cert) + `,"key":` + jstr(key) + `,"sni":"a.com"}`, &SSL{}},
		PluginMetadata: {`{"id":"p"}`, &PluginMetadataConf{}},
		Protos:         {`{"content":"x"}`, &Proto{}},
		StreamRoutes:   {`{}`, &StreamRoute{}},
		Secrets:        {`{"id":"aws/1","access_key_id":"a","secret_access_key":"b"}`, &Secret{}},
	} {
		v, err := Validate(kind, []byte(c.raw))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if reflect.TypeOf(v) != reflect.TypeOf(c.want) {
			t.Errorf("Validate(%s) returned %T, want %T", kind, v, c.want)
		}
	}
}
