package admin

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestMerge(t *testing.T) {
	cases := []struct{ dst, patch, want string }{
		{`{"a":1,"b":{"c":1,"d":2}}`, `{"b":{"c":null,"e":3}}`, `{"a":1,"b":{"d":2,"e":3}}`},
		{`{"a":[1,2]}`, `{"a":[3]}`, `{"a":[3]}`},
		{`{"a":{"x":1}}`, `{"a":"s"}`, `{"a":"s"}`},
		{`{"a":1}`, `{"b":{"c":null,"d":1}}`, `{"a":1,"b":{"d":1}}`},
		{`{"a":1}`, `{"a":null}`, `{}`},
	}
	for _, c := range cases {
		var dst, patch, want map[string]any
		json.Unmarshal([]byte(c.dst), &dst)
		json.Unmarshal([]byte(c.patch), &patch)
		json.Unmarshal([]byte(c.want), &want)
		if got := merge(dst, patch); !reflect.DeepEqual(got, want) {
			t.Errorf("merge(%s, %s) = %v, want %s", c.dst, c.patch, got, c.want)
		}
	}
}

func TestSetAt(t *testing.T) {
	obj := map[string]any{"a": map[string]any{"b": 1}, "s": "str"}
	if res := setAt(obj, "/a/c/d", 5); res != nil {
		t.Fatal(res.body)
	}
	if got := obj["a"].(map[string]any)["c"].(map[string]any)["d"]; got != 5 {
		t.Fatalf("set: %v", obj)
	}
	res := setAt(obj, "/s/x", 1)
	if res == nil || res.body.(map[string]string)["error_msg"] != "invalid sub-path: /s" {
		t.Fatalf("non-object intermediate: %+v", res)
	}
}

func TestSplitPath(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"/routes/1", []string{"routes", "1"}, true},
		{"/routes/1/", []string{"routes", "1", ""}, true},
		{"/routes/a%2Fb", nil, false},
		{"/routes/%zz", nil, false},
		{"", nil, true},
	}
	for _, c := range cases {
		got, ok := splitPath(c.in)
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitPath(%q) = %v %v, want %v %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestAuthorize(t *testing.T) {
	h := &Handler{cfg: Config{KeyRequired: true, Keys: []Key{{"a", "admin-key", RoleAdmin}, {"v", "viewer-key", RoleViewer}}}}
	cases := []struct {
		method, target, header, cookie, want string
	}{
		{"GET", "/apisix/admin/routes", "", "", "missing apikey"},
		{"GET", "/apisix/admin/routes", "nope", "", "wrong apikey"},
		{"GET", "/apisix/admin/routes", "admin-key", "", ""},
		{"PUT", "/apisix/admin/routes", "admin-key", "", ""},
		{"GET", "/apisix/admin/routes?api_key=admin-key", "", "", ""},
		{"GET", "/apisix/admin/routes", "", "admin-key", ""},
		{"GET", "/apisix/admin/routes", "viewer-key", "", ""},
		{"DELETE", "/apisix/admin/routes", "viewer-key", "", "invalid method for role viewer"},
		// The header wins over the query argument.
		{"PUT", "/apisix/admin/routes?api_key=admin-key", "viewer-key", "", "invalid method for role viewer"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		if c.header != "" {
			r.Header.Set("X-API-KEY", c.header)
		}
		if c.cookie != "" {
			r.Header.Set("Cookie", "x_api_key="+c.cookie)
		}
		if got := h.authorize(r); got != c.want {
			t.Errorf("%s %s key=%q cookie=%q: %q, want %q", c.method, c.target, c.header, c.cookie, got, c.want)
		}
	}
	open := &Handler{cfg: Config{KeyRequired: false, Keys: h.cfg.Keys}}
	if got := open.authorize(httptest.NewRequest("PUT", "/apisix/admin/routes", nil)); got != "" {
		t.Errorf("admin_key_required false: %q", got)
	}
}

func TestPeerAndOrigin(t *testing.T) {
	allow, err := ParseAllow([]string{"127.0.0.1", "10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{cfg: Config{Allow: allow, Loopback: true}}
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.0.0.2:5000": false, "10.1.2.3:1": true, "[::1]:1": true,
		"[::ffff:127.0.0.1]:1": true, "garbage": false,
	} {
		if got := h.peerAllowed(addr); got != want {
			t.Errorf("peer %s: %v, want %v", addr, got, want)
		}
	}
	if _, err := ParseAllow([]string{"not-an-ip"}); err == nil || !strings.Contains(err.Error(), "not-an-ip") {
		t.Errorf("ParseAllow error: %v", err)
	}
	cases := []struct {
		host, origin, site string
		want               bool
	}{
		{"127.0.0.1:9180", "", "", true},
		{"localhost:9180", "", "", true},
		{"[::1]:9180", "", "", true},
		{"evil.example", "", "", false},
		{"127.0.0.1:9180", "http://127.0.0.1:9180", "", true},
		{"127.0.0.1:9180", "http://localhost:3000", "", true},
		{"127.0.0.1:9180", "http://evil.example", "", false},
		{"127.0.0.1:9180", "null", "", false},
		{"127.0.0.1:9180", "", "cross-site", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/apisix/admin/routes", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if got := h.originAllowed(r); got != c.want {
			t.Errorf("host %q origin %q site %q: %v, want %v", c.host, c.origin, c.site, got, c.want)
		}
	}
	if !(&Handler{cfg: Config{AllowAll: true}}).peerAllowed("192.0.2.1:1") {
		t.Error("allow_admin ~ must allow everyone")
	}
}
