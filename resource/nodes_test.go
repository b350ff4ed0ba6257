package resource

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestNodesUnmarshalForms(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Nodes
	}{
		{"map host:port", `{"127.0.0.1:8080":1}`, Nodes{{Host: "127.0.0.1", Port: 8080, Weight: 1}}},
		{"map keeps document order", `{"z.com:1":3,"a.com:2":0,"m.com":5}`, Nodes{{Host: "z.com", Port: 1, Weight: 3}, {Host: "a.com", Port: 2}, {Host: "m.com", Weight: 5}}},
		{"map domain without port", `{"example.com":1}`, Nodes{{Host: "example.com", Weight: 1}}},
		{"map bracketed ipv6 with port", `{"[::1]:80":1}`, Nodes{{Host: "[::1]", Port: 80, Weight: 1}}},
		{"map bracketed ipv6 no port", `{"[2001:db8::1]":1}`, Nodes{{Host: "[2001:db8::1]", Weight: 1}}},
		{"map bare ipv6", `{"2001:db8::1":1}`, Nodes{{Host: "2001:db8::1", Weight: 1}}},
		{"map integral float weight", `{"a:1":2.0}`, Nodes{{Host: "a", Port: 1, Weight: 2}}},
		{"map empty", `{}`, Nodes{}},
		{"array full", `[{"host":"a","port":1,"weight":2,"priority":-1,"metadata":{"k":"v"}}]`, Nodes{{Host: "a", Port: 1, Weight: 2, Priority: -1, Metadata: map[string]any{"k": "v"}}}},
		{"array without port", `[{"host":"a","weight":2}]`, Nodes{{Host: "a", Weight: 2}}},
		{"array empty", `[]`, Nodes{}},
		{"array metadata empty array", `[{"host":"a","weight":1,"metadata":[]}]`, Nodes{{Host: "a", Weight: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n Nodes
			if err := json.Unmarshal([]byte(c.in), &n); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(n, c.want) {
				t.Fatalf("got %#v want %#v", n, c.want)
			}
			if n == nil {
				t.Fatal("present nodes must be non-nil")
			}
		})
	}
}

func TestNodesUnmarshalErrors(t *testing.T) {
	for _, in := range []string{`"a:1"`, `1`, `{"a:0":1}`, `{"a:99999":1}`, `{"a:x":1}`, `{"a:1":1.5}`, `[{"host":"a","weight":1.5}]`} {
		var n Nodes
		if err := json.Unmarshal([]byte(in), &n); err == nil {
			t.Errorf("%s: accepted as %+v", in, n)
		}
	}
	var n Nodes = Nodes{{Host: "x"}}
	if err := json.Unmarshal([]byte(`null`), &n); err != nil || n != nil {
		t.Fatalf("null: %v %v", n, err)
	}
}

func TestNodesRoundTrip(t *testing.T) {
	// Both forms marshal to the array form, which unmarshals to the same
	// Nodes and validates as an upstream again.
	for _, in := range []string{
		`{"127.0.0.1:80":1,"example.com":0,"[::1]:8080":3}`,
		`[{"host":"127.0.0.1","port":80,"weight":1},{"host":"example.com","weight":0},{"host":"[::1]","port":8080,"weight":3,"priority":2,"metadata":{"z":"1"}}]`,
	} {
		var n Nodes
		if err := json.Unmarshal([]byte(in), &n); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		if out[0] != '[' {
			t.Fatalf("%s marshalled to %s, want the array form", in, out)
		}
		var back Nodes
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(n, back) {
			t.Fatalf("round trip changed nodes:\n%#v\n%#v", n, back)
		}
		if _, err := Validate(Upstreams, []byte(`{"nodes":`+string(out)+`}`)); err != nil {
			t.Fatalf("re-validate %s: %v", out, err)
		}
	}
	if b, _ := json.Marshal(Nodes{}); string(b) != "[]" {
		t.Fatalf("empty nodes marshal to %s", b)
	}
}

func TestUpstreamMarshalKeepsEmptyNodes(t *testing.T) {
	u := mustValidate[Upstream](t, Upstreams, `{"nodes":{}}`)
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"nodes":[]}` {
		t.Fatalf("got %s", b)
	}
	u = mustValidate[Upstream](t, Upstreams, `{"service_name":"s","discovery_type":"dns"}`)
	if u.Nodes != nil {
		t.Fatalf("absent nodes decoded as %#v", u.Nodes)
	}
	if b, _ := json.Marshal(u); string(b) != `{"service_name":"s","discovery_type":"dns"}` {
		t.Fatalf("got %s", b)
	}
}

func TestParseAddr(t *testing.T) {
	for _, c := range []struct {
		in, host, port string
		has            bool
	}{
		{"127.0.0.1:80", "127.0.0.1", "80", true},
		{"127.0.0.1", "127.0.0.1", "", false},
		{"example.com:443", "example.com", "443", true},
		{"localhost:8080", "localhost", "8080", true},
		{"localhost", "localhost", "", false},
		{"[::1]:80", "[::1]", "80", true},
		{"[::1]", "[::1]", "", false},
		{"::1", "::1", "", false},
		{"fe80::1:2", "fe80::1:2", "", false},
		{"host:", "host:", "", false},
		{"[bad", "[bad", "", false},
	} {
		h, p, ok := parseAddr(c.in)
		if h != c.host || p != c.port || ok != c.has {
			t.Errorf("parseAddr(%q) = %q %q %v", c.in, h, p, ok)
		}
	}
}
