package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"
)

const (
	testAdminKey  = "3f1d9c0b7a5e4c2d8b6a0f9e7d5c3b1a"
	testViewerKey = "a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9"
)

// newAdminGateway starts a gateway with an admin and a viewer key; extra is
// inserted under deployment.admin.
func newAdminGateway(t *testing.T, workers int, adminExtra string) *Gateway {
	t.Helper()
	return newAdminGatewayWith(t, workers, adminExtra, "")
}

// newAdminGatewayWith is newAdminGateway with top-level sections appended
// to config.yaml.
func newAdminGatewayWith(t *testing.T, workers int, adminExtra, topLevel string) *Gateway {
	t.Helper()
	g := newGateway(t, workers)
	g.WriteRawConfig(fmt.Sprintf(`apisix:
  node_listen:
    - ip: 127.0.0.1
      port: %d
  enable_ipv6: false
nginx_config:
  worker_processes: %d
  error_log_level: info
deployment:
  admin:
    admin_key:
      - name: admin
        key: %s
        role: admin
      - name: viewer
        key: %s
        role: viewer
    admin_listen:
      ip: 127.0.0.1
      port: %d
%s
  etcd:
    embedded: true
    host:
      - "http://127.0.0.1:%d"
%s`, g.NodePort, workers, testAdminKey, testViewerKey, g.AdminPort, adminExtra, g.EtcdPort, topLevel))
	g.Start()
	return g
}

// adminCall is one Admin API request.
type adminCall struct {
	method, path, body string
	key                string            // X-API-KEY; "" sends none
	header             map[string]string // extra headers
}

type adminReply struct {
	status int
	body   string
	header http.Header
}

func (g *Gateway) admin(t *testing.T, c adminCall) adminReply {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, fmt.Sprintf("http://127.0.0.1:%d%s", g.AdminPort, c.path), body)
	if err != nil {
		t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("X-API-KEY", c.key)
	}
	for k, v := range c.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return adminReply{resp.StatusCode, string(data), resp.Header}
}

// call is admin with the admin key.
func (g *Gateway) call(t *testing.T, method, path, body string) adminReply {
	t.Helper()
	return g.admin(t, adminCall{method: method, path: path, body: body, key: testAdminKey})
}

// etcdRevision is the store's current revision.
func etcdRevision(t *testing.T, g *Gateway) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := etcdClient(t, g).Get(ctx, "/portico-test-revision-probe")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// jsonField decodes body and returns the value at a dotted path.
func jsonField(t *testing.T, body, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestAdminAuthAndExposure(t *testing.T) {
	g := newAdminGateway(t, 1, "")
	unauthorized := func(desc string) string {
		return `{"description":"` + desc + `","error_msg":"failed to check token"}` + "\n"
	}
	cases := []struct {
		name   string
		call   adminCall
		status int
		body   string // exact when set
	}{
		{"no key", adminCall{method: "GET", path: "/apisix/admin/routes"}, 401, unauthorized("missing apikey")},
		{"wrong key", adminCall{method: "GET", path: "/apisix/admin/routes", key: "nope"}, 401, unauthorized("wrong apikey")},
		{"header key", adminCall{method: "GET", path: "/apisix/admin/routes", key: testAdminKey}, 200, `{"list":[],"total":0}` + "\n"},
		{"query key", adminCall{method: "GET", path: "/apisix/admin/routes?api_key=" + testAdminKey}, 200, ""},
		{"cookie key", adminCall{method: "GET", path: "/apisix/admin/routes", header: map[string]string{"Cookie": "x_api_key=" + testAdminKey}}, 200, ""},
		{"viewer reads", adminCall{method: "GET", path: "/apisix/admin/routes", key: testViewerKey}, 200, ""},
		{"viewer writes", adminCall{method: "PUT", path: "/apisix/admin/routes/1", key: testViewerKey, body: `{"uri":"/x","upstream":{"nodes":{"127.0.0.1:1":1}}}`}, 401, unauthorized("invalid method for role viewer")},
		{"the historical default key is just a wrong key", adminCall{method: "GET", path: "/apisix/admin/routes", key: "edd1c9f034335f136f87ad84b625c8f1"}, 401, unauthorized("wrong apikey")},
		{"head needs no key", adminCall{method: "HEAD", path: "/apisix/admin"}, 200, ""},
		{"options needs no key", adminCall{method: "OPTIONS", path: "/apisix/admin/routes"}, 200, ""},
		{"foreign Host", adminCall{method: "GET", path: "/apisix/admin/routes", key: testAdminKey, header: map[string]string{"Host": "evil.example"}}, 403, ""},
		{"cross-site Origin", adminCall{method: "GET", path: "/apisix/admin/routes", key: testAdminKey, header: map[string]string{"Origin": "http://evil.example"}}, 403, ""},
		{"no-cors cross-site fetch", adminCall{method: "GET", path: "/apisix/admin/routes", key: testAdminKey, header: map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Site": "cross-site"}}, 403, ""},
		{"localhost Host", adminCall{method: "GET", path: "/apisix/admin/routes", key: testAdminKey, header: map[string]string{"Host": "localhost", "Origin": "http://localhost:9000"}}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := g.admin(t, c.call)
			if r.status != c.status || c.body != "" && r.body != c.body {
				t.Fatalf("got %d %q, want %d %q", r.status, r.body, c.status, c.body)
			}
		})
	}
	r := g.admin(t, adminCall{method: "OPTIONS", path: "/apisix/admin/routes"})
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST, GET, PUT, OPTIONS, DELETE, PATCH",
		"Access-Control-Allow-Headers": "*",
		"Access-Control-Max-Age":       "3600",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("OPTIONS %s = %q, want %q", k, got, v)
		}
	}
	if r := g.call(t, "GET", "/apisix/admin/routes", ""); r.header.Get("X-API-VERSION") != "v3" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.header)
	}
	// The data port does not serve the Admin API.
	if code, _ := get(t, g, "/apisix/admin/routes", ""); code != 404 {
		t.Errorf("admin path on the data port: %d, want 404", code)
	}
	// The key never reaches a log line.
	if strings.Contains(g.Logs(), testAdminKey) {
		t.Error("the admin key appears in the error log")
	}
	if data, err := os.ReadFile(filepath.Join(g.Prefix, "logs", "access.log")); err == nil && strings.Contains(string(data), testAdminKey) {
		t.Error("the admin key appears in the access log")
	}
}

// allow_admin judges the TCP peer, never X-Real-IP or X-Forwarded-For.
func TestAdminAllowListUsesThePeerAddress(t *testing.T) {
	g := newAdminGateway(t, 1, "    allow_admin:\n      - 127.0.0.1/32")
	from := func(local string, hdr map[string]string) int {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/apisix/admin/routes", g.AdminPort), nil)
		req.Header.Set("X-API-KEY", testAdminKey)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := from("127.0.0.1", nil); code != 200 {
		t.Fatalf("from 127.0.0.1: %d", code)
	}
	for _, hdr := range []map[string]string{nil, {"X-Real-IP": "127.0.0.1"}, {"X-Forwarded-For": "127.0.0.1"}} {
		if code := from("127.0.0.2", hdr); code != 403 {
			t.Errorf("from 127.0.0.2 with %v: %d, want 403", hdr, code)
		}
	}
}

// Every resource through its method table: status codes and envelopes.
func TestAdminResourceMethods(t *testing.T) {
	g := newAdminGateway(t, 1, "")
	up := `{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`
	cases := []struct {
		path         string // collection, e.g. /apisix/admin/routes
		body         string // valid body without id
		post, patch  bool
		patchBody    string
		idField      string // "" = "id"
		patchedCheck string // dotted field that patchBody sets
	}{
		{"/apisix/admin/upstreams", up, true, true, `{"desc":"patched"}`, "", "desc"},
		{"/apisix/admin/routes", `{"uri":"/r","upstream":` + up + `}`, true, true, `{"desc":"patched"}`, "", "desc"},
		{"/apisix/admin/services", `{"upstream":` + up + `}`, true, true, `{"desc":"patched"}`, "", "desc"},
		{"/apisix/admin/consumers", `{"username":"jack"}`, false, false, "", "username", ""},
		{"/apisix/admin/global_rules", `{"plugins":{"prometheus":{}}}`, false, true, `{"plugins":{"prometheus":{"prefer_name":true}}}`, "", "plugins.prometheus.prefer_name"},
		{"/apisix/admin/plugin_configs", `{"plugins":{"prometheus":{}}}`, false, true, `{"desc":"patched"}`, "", "desc"},
		{"/apisix/admin/consumer_groups", `{"plugins":{"prometheus":{}}}`, false, true, `{"desc":"patched"}`, "", "desc"},
		{"/apisix/admin/protos", `{"content":"syntax = \"proto3\"; package p; message M { string a = 1; }"}`, true, false, "", "", ""},
		{"/apisix/admin/secrets", `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix","token":"root"}`, false, true, `{"prefix":"kv/other"}`, "", "prefix"},
		{"/apisix/admin/plugin_metadata", `{"allow_origins":{"a":"http://a.example"}}`, false, false, "", "", ""},
		{"/apisix/admin/consumers/owner/credentials", `{"plugins":{"key-auth":{"key":"cred-key-123"}}}`, false, false, "", "", ""},
	}
	if r := g.call(t, "PUT", "/apisix/admin/consumers/owner", `{"username":"owner"}`); r.status != 201 {
		t.Fatalf("consumer: %d %s", r.status, r.body)
	}
	for _, c := range cases {
		name := strings.TrimPrefix(c.path, "/apisix/admin/")
		t.Run(name, func(t *testing.T) {
			id := "t1"
			switch name {
			case "consumers":
				id = "jack"
			case "secrets":
				id = "vault/t1"
			case "plugin_metadata":
				id = "cors"
			}
			item := c.path + "/" + id
			key := "/apisix/" + name + "/" + id
			r := g.call(t, "PUT", item, c.body)
			if r.status != 201 || jsonField(t, r.body, "key") != key {
				t.Fatalf("PUT new: %d %s", r.status, r.body)
			}
			if name != "consumers" && jsonField(t, r.body, "value.id") != strings.TrimPrefix(id, "") {
				t.Fatalf("PUT stores the URL id as a string: %s", r.body)
			}
			ct := jsonField(t, r.body, "value.create_time")
			if (ct == nil || jsonField(t, r.body, "value.update_time") == nil) && name != "plugin_metadata" {
				t.Fatalf("timestamps missing: %s", r.body)
			}
			if r = g.call(t, "PUT", item, c.body); r.status != 200 || jsonField(t, r.body, "value.create_time") != ct {
				t.Fatalf("PUT again: %d %s (create_time kept: %v)", r.status, r.body, ct)
			}
			r = g.call(t, "GET", item, "")
			if r.status != 200 || jsonField(t, r.body, "createdIndex") == nil || jsonField(t, r.body, "modifiedIndex") == nil {
				t.Fatalf("GET: %d %s", r.status, r.body)
			}
			r = g.call(t, "GET", c.path, "")
			if want := float64(1); name == "consumers" {
				want = 2 // and owner
				if jsonField(t, r.body, "total") != want {
					t.Fatalf("list: %d %s", r.status, r.body)
				}
			} else if r.status != 200 || jsonField(t, r.body, "total") != want {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
			r = g.call(t, "POST", c.path, c.body)
			if c.post {
				newID, _ := jsonField(t, r.body, "value.id").(string)
				if r.status != 201 || !regexp.MustCompile(`^\d{20}$`).MatchString(newID) {
					t.Fatalf("POST: %d %s", r.status, r.body)
				}
				if d := g.call(t, "DELETE", c.path+"/"+newID, ""); d.status != 200 {
					t.Fatalf("DELETE posted: %d %s", d.status, d.body)
				}
			} else if r.status != 405 || !strings.Contains(r.body, "not supported `POST` method for") {
				t.Fatalf("POST: %d %s, want 405", r.status, r.body)
			}
			r = g.call(t, "PATCH", item, c.patchBody)
			if c.patch {
				if r.status != 200 || jsonField(t, r.body, "value."+c.patchedCheck) == nil {
					t.Fatalf("PATCH: %d %s", r.status, r.body)
				}
			} else if r.status != 405 {
				t.Fatalf("PATCH: %d %s, want 405", r.status, r.body)
			}
			r = g.call(t, "DELETE", item, "")
			if want := `{"deleted":"1","key":"` + key + `"}` + "\n"; r.status != 200 || r.body != want {
				t.Fatalf("DELETE: %d %q, want %q", r.status, r.body, want)
			}
			notFound := `{"message":"Key not found"}` + "\n"
			if r = g.call(t, "GET", item, ""); r.status != 404 || r.body != notFound {
				t.Fatalf("GET deleted: %d %s", r.status, r.body)
			}
			if r = g.call(t, "DELETE", item, ""); r.status != 404 || r.body != notFound {
				t.Fatalf("DELETE deleted: %d %s", r.status, r.body)
			}
		})
	}
}

// The error texts of spec 3.4 and 3.5, each leaving etcd untouched.
func TestAdminErrorTexts(t *testing.T) {
	g := newAdminGateway(t, 1, "")
	up := `"upstream":{"nodes":{"127.0.0.1:1980":1}}`
	cases := []struct {
		name, method, path, body string
		status                   int
		msg                      string // error_msg (or message) expected
	}{
		{"missing body", "PUT", "/apisix/admin/routes/1", "", 400, "missing configurations"},
		{"missing id", "PUT", "/apisix/admin/routes", `{"uri":"/a",` + up + `}`, 400, "missing route id"},
		{"wrong id", "PUT", "/apisix/admin/routes/1", `{"id":"2","uri":"/a",` + up + `}`, 400, "wrong route id"},
		{"post with id", "POST", "/apisix/admin/routes", `{"id":"2","uri":"/a",` + up + `}`, 400, "wrong route id, do not need it"},
		{"post with url id", "POST", "/apisix/admin/upstreams/3", `{"nodes":{"127.0.0.1:1":1}}`, 400, "wrong upstream id, do not need it"},
		{"create_time", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","create_time":1,` + up + `}`, 400, "the property is forbidden:  create_time"},
		{"uri and uris", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","uris":["/b"],` + up + `}`, 400, "invalid configuration: allOf 1 failed: value should match only one schema, but matches both schemas 1 and 2"},
		{"host and hosts", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","host":"a.com","hosts":["b.com"],` + up + `}`, 400, "only one of host or hosts is allowed"},
		{"nothing to route to", "PUT", "/apisix/admin/routes/1", `{"uri":"/a"}`, 400, `invalid configuration: object matches none of the required: ["plugins","uri"] or ["upstream","uri"] or ["upstream_id","uri"] or ["service_id","uri"] or ["plugins","uris"] or ["upstream","uris"] or ["upstream_id","uris"] or ["service_id","uris"] or ["script","uri"] or ["script","uris"]`},
		{"wrong type", "PUT", "/apisix/admin/routes/1", `{"uri":1,` + up + `}`, 400, `invalid configuration: property "uri" validation failed: wrong type: expected string, got number`},
		{"bad method", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","methods":["FETCH"],` + up + `}`, 400, `invalid configuration: property "methods" validation failed: failed to validate item 1: matches none of the enum values`},
		{"unknown field", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","nope":1,` + up + `}`, 400, "invalid configuration: additional properties forbidden, found nope"},
		{"bad port", "PUT", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:0":1}}`, 400, "invalid port 0"},
		{"rewrite without host", "PUT", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:1":1},"pass_host":"rewrite"}`, 400, "`upstream_host` can't be empty when `pass_host` is `rewrite`"},
		{"chash without key", "PUT", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:1":1},"type":"chash"}`, 400, "missing key"},
		{"missing upstream", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream_id":"404"}`, 400, "failed to fetch upstream info by upstream id [404], response code: 404"},
		{"missing service", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","service_id":"404"}`, 400, "failed to fetch service info by service id [404], response code: 404"},
		{"missing plugin config", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugin_config_id":"404",` + up + `}`, 400, "failed to fetch plugin config info by plugin config id [404], response code: 404"},
		{"missing group", "PUT", "/apisix/admin/consumers/jack", `{"username":"jack","group_id":"404"}`, 400, "failed to fetch consumer group info by consumer group id [404], response code: 404"},
		{"wrong username", "PUT", "/apisix/admin/consumers/jack", `{"username":"jim"}`, 400, "wrong username"},
		{"unknown plugin", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugins":{"no-such-plugin":{}},` + up + `}`, 400, "unknown plugin [no-such-plugin]"},
		{"plugin schema", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugins":{"limit-count":{"time_window":60}},` + up + `}`, 400, "failed to check the configuration of plugin limit-count err: value should match only one schema, but matches none"},
		{"plugin conf not an object", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugins":{"key-auth":"blah"},` + up + `}`, 400, `invalid plugin conf "blah" for plugin [key-auth]`},
		{"consumer plugin schema", "PUT", "/apisix/admin/consumers/jack", `{"username":"jack","plugins":{"key-auth":{}}}`, 400, `invalid plugins configuration: failed to check the configuration of plugin key-auth err: property "key" is required`},
		{"plugin metadata of no plugin", "PUT", "/apisix/admin/plugin_metadata/nope", `{"a":1}`, 400, "invalid plugin name"},
		{"credential of nobody", "PUT", "/apisix/admin/consumers/nobody/credentials/c1", `{"plugins":{"key-auth":{"key":"k-123456"}}}`, 404, "consumer not found"},
		{"unknown resource", "GET", "/apisix/admin/nope", "", 404, "Unsupported resource type: nope"},
		{"stream routes disabled", "GET", "/apisix/admin/stream_routes", "", 400, "stream mode is disabled, can not add stream routes"},
		{"patch without id", "PATCH", "/apisix/admin/routes", `{"desc":"x"}`, 400, "missing route id"},
		{"patch missing", "PATCH", "/apisix/admin/routes/404", `{"desc":"x"}`, 404, "Key not found"},
		{"delete without id", "DELETE", "/apisix/admin/routes", "", 400, "missing route id"},
		{"ttl not a number", "PUT", "/apisix/admin/routes/1?ttl=abc", `{"uri":"/a",` + up + `}`, 400, "invalid argument ttl: should be a number"},
		{"schema unknown", "GET", "/apisix/admin/schema/nope", "", 400, "not found schema: nope"},
		{"plugin schema unknown", "GET", "/apisix/admin/schema/plugins/nope", "", 404, "plugin not found in subsystem http"},
		{"reload by GET", "GET", "/apisix/admin/plugins/reload", "", 405, "please use PUT method to reload the plugins, GET method is not allowed."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := etcdRevision(t, g)
			r := g.call(t, c.method, c.path, c.body)
			msg, _ := jsonField(t, r.body, "error_msg").(string)
			if msg == "" {
				msg, _ = jsonField(t, r.body, "message").(string)
			}
			if r.status != c.status || msg != c.msg {
				t.Fatalf("got %d %s\nwant %d %q", r.status, r.body, c.status, c.msg)
			}
			if after := etcdRevision(t, g); after != before {
				t.Fatalf("etcd revision moved %d -> %d", before, after)
			}
		})
	}
}

// Hostile bodies and ids: 4xx with a JSON error naming the problem, and the
// etcd revision does not move.
func TestAdminHostileInput(t *testing.T) {
	g := newAdminGateway(t, 1, "")
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	big := `{"uri":"/a","desc":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		status                   int
		msg                      string // substring of error_msg
	}{
		{"truncated", "PUT", "/apisix/admin/routes/1", `{"uri":"/a"`, 400, "invalid request body: "},
		{"not json", "PUT", "/apisix/admin/routes/1", `uri=/a`, 400, "invalid request body: "},
		{"duplicate keys", "PUT", "/apisix/admin/routes/1", `{"uri":"/a","uri":"/b","upstream":{"nodes":{"127.0.0.1:1":1}}}`, 400, "duplicate"},
		{"deep nesting", "PUT", "/apisix/admin/routes/1", deep, 400, "nesting deeper than"},
		{"2 MiB body", "PUT", "/apisix/admin/routes/1", big, 400, "is greater than the maximum size 1572864 allowed"},
		{"invalid utf-8", "PUT", "/apisix/admin/routes/1", "{\"uri\":\"/a\xff\",\"upstream\":{\"nodes\":{\"127.0.0.1:1\":1}}}", 400, "invalid UTF-8"},
		{"array body", "PUT", "/apisix/admin/routes/1", `[1,2]`, 400, "invalid configuration"},
		{"id with dot-dot", "PUT", "/apisix/admin/routes/..", `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}`, 400, "invalid configuration"},
		{"id with encoded slash", "PUT", "/apisix/admin/routes/a%2F..%2Fb", `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}`, 400, "invalid path"},
		{"id too long", "PUT", "/apisix/admin/routes/" + strings.Repeat("a", 65), `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}`, 400, "invalid configuration"},
		{"body id with slash", "PUT", "/apisix/admin/routes", `{"id":"../x","uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}}`, 400, "invalid configuration"},
		{"wrong types", "PUT", "/apisix/admin/upstreams/1", `{"nodes":"127.0.0.1:1"}`, 400, "invalid configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := etcdRevision(t, g)
			r := g.call(t, c.method, c.path, c.body)
			msg, _ := jsonField(t, r.body, "error_msg").(string)
			if r.status != c.status || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %d %.300s\nwant %d containing %q", r.status, r.body, c.status, c.msg)
			}
			if after := etcdRevision(t, g); after != before {
				t.Fatalf("etcd revision moved %d -> %d", before, after)
			}
		})
	}
}

// PATCH, lists, delete checks and ttl: the generic semantics of spec 3.4.
func TestAdminSemantics(t *testing.T) {
	g := newAdminGateway(t, 1, "")
	must := func(r adminReply, status int) adminReply {
		t.Helper()
		if r.status != status {
			t.Fatalf("got %d %s, want %d", r.status, r.body, status)
		}
		return r
	}
	must(g.call(t, "PUT", "/apisix/admin/upstreams/u1", `{"nodes":{"127.0.0.1:1980":1,"127.0.0.1:1981":2},"labels":{"env":"prod"}}`), 201)
	// Recursive merge: null deletes a node, other keys stay.
	r := must(g.call(t, "PATCH", "/apisix/admin/upstreams/u1", `{"nodes":{"127.0.0.1:1981":null},"desc":"one"}`), 200)
	if nodes := jsonField(t, r.body, "value.nodes").(map[string]any); len(nodes) != 1 || jsonField(t, r.body, "value.labels.env") != "prod" {
		t.Fatalf("merge: %s", r.body)
	}
	// Sub-path PATCH replaces the value there.
	r = must(g.call(t, "PATCH", "/apisix/admin/upstreams/u1/nodes", `{"127.0.0.1:1982":5}`), 200)
	if jsonField(t, r.body, "value.nodes.127.0.0.1:1982") != nil {
		// dotted path helper cannot read keys with dots; check the raw text
	}
	if !strings.Contains(r.body, `"nodes":{"127.0.0.1:1982":5}`) {
		t.Fatalf("sub-path patch: %s", r.body)
	}
	must(g.call(t, "PATCH", "/apisix/admin/upstreams/u1/desc/x", `"y"`), 400)
	// An invalid merge result is refused with PUT's message.
	r = must(g.call(t, "PATCH", "/apisix/admin/upstreams/u1", `{"type":"chash"}`), 400)
	if jsonField(t, r.body, "error_msg") != "missing key" {
		t.Fatalf("invalid patch: %s", r.body)
	}

	// Delete checks.
	must(g.call(t, "PUT", "/apisix/admin/routes/r1", `{"uri":"/r1","upstream_id":"u1","name":"first","labels":{"team":"a"}}`), 201)
	// Checked against etcd, so at once (APISIX reads its synced view).
	r = must(g.call(t, "DELETE", "/apisix/admin/upstreams/u1", ""), 400)
	if jsonField(t, r.body, "error_msg") != "can not delete this upstream, route [r1] is still using it now" {
		t.Fatalf("delete in use: %s", r.body)
	}

	// Lists: filters and paging.
	for i := 0; i < 12; i++ {
		must(g.call(t, "PUT", fmt.Sprintf("/apisix/admin/routes/p%02d", i), fmt.Sprintf(`{"uri":"/p%d","upstream_id":"u1"}`, i)), 201)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/routes?name=^fir", ""), 200); jsonField(t, r.body, "total") != float64(1) {
		t.Fatalf("name filter: %s", r.body)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/routes?label=team", ""), 200); jsonField(t, r.body, "total") != float64(1) {
		t.Fatalf("label filter: %s", r.body)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/routes?uri=^/p1", ""), 200); jsonField(t, r.body, "total") != float64(3) {
		t.Fatalf("uri filter (p1, p10, p11): %s", r.body)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/routes?filter=upstream_id%3Du1", ""), 200); jsonField(t, r.body, "total") != float64(13) {
		t.Fatalf("filter: %s", r.body)
	}
	r = must(g.call(t, "GET", "/apisix/admin/routes?page=2&page_size=10", ""), 200)
	if list := jsonField(t, r.body, "list").([]any); len(list) != 3 || jsonField(t, r.body, "total") != float64(13) {
		t.Fatalf("page 2: %d items, %s", len(list), r.body[:200])
	}
	if r := must(g.call(t, "GET", "/apisix/admin/routes?page=1&page_size=5", ""), 400); r.body != "page_size must be between 10 and 500" {
		t.Fatalf("page_size: %q", r.body)
	}
	// force=true skips the check.
	must(g.call(t, "DELETE", "/apisix/admin/upstreams/u1?force=true", ""), 200)

	// ttl: the item goes away by itself.
	must(g.call(t, "PUT", "/apisix/admin/upstreams/tmp?ttl=1", `{"nodes":{"127.0.0.1:1":1}}`), 201)
	eventually(t, 5*time.Second, func() error {
		if r := g.call(t, "GET", "/apisix/admin/upstreams/tmp", ""); r.status != 404 {
			return fmt.Errorf("ttl item still there: %d", r.status)
		}
		return nil
	})

	// A body-only integer id keeps its type.
	r = must(g.call(t, "PUT", "/apisix/admin/upstreams", `{"id":7,"nodes":{"127.0.0.1:1":1}}`), 201)
	if jsonField(t, r.body, "value.id") != float64(7) || jsonField(t, r.body, "key") != "/apisix/upstreams/7" {
		t.Fatalf("integer id: %s", r.body)
	}

	// Consumers and their credentials.
	must(g.call(t, "PUT", "/apisix/admin/consumers", `{"username":"jack"}`), 201)
	must(g.call(t, "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"secret-key-1"}}}`), 201)
	for _, c := range []struct{ path, body, msg string }{
		{"/apisix/admin/consumers/jim", `{"username":"jim","plugins":{"key-auth":{"key":"secret-key-1"}}}`, "duplicate key of plugin key-auth found with credential: c1 of consumer: jack"},
		{"/apisix/admin/consumers/jack/credentials/c2", `{"plugins":{"limit-count":{"count":1,"time_window":1}}}`, "only supports auth type plugins in consumer credential"},
	} {
		if r := must(g.call(t, "PUT", c.path, c.body), 400); jsonField(t, r.body, "error_msg") != c.msg {
			t.Fatalf("PUT %s: %s, want %q", c.path, r.body, c.msg)
		}
	}
	must(g.call(t, "PUT", "/apisix/admin/global_rules/g1", `{"plugins":{"prometheus":{}}}`), 201)
	if r := must(g.call(t, "PUT", "/apisix/admin/global_rules/g2", `{"plugins":{"prometheus":{}}}`), 400); jsonField(t, r.body, "error_msg") != "plugin 'prometheus' already exists in global rule with id 'g1'" {
		t.Fatalf("global rule conflict: %s", r.body)
	}
	r = must(g.call(t, "GET", "/apisix/admin/consumers/jack/credentials/c1", ""), 200)
	if jsonField(t, r.body, "value.plugins.key-auth.key") != "secret-key-1" {
		t.Fatalf("credential GET returns the decrypted key: %s", r.body)
	}
	if stored, err := etcdGet(t, etcdClient(t, g), "/apisix/consumers/jack/credentials/c1"); err != nil || strings.Contains(stored, "secret-key-1") {
		t.Fatalf("credential key stored in clear: %s %v", stored, err)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/consumers", ""), 200); jsonField(t, r.body, "total") != float64(1) {
		t.Fatalf("consumer list includes credentials: %s", r.body)
	}
	must(g.call(t, "DELETE", "/apisix/admin/consumers/jack", ""), 200)
	must(g.call(t, "GET", "/apisix/admin/consumers/jack/credentials/c1", ""), 404)

	// Meta endpoints.
	r = must(g.call(t, "GET", "/apisix/admin/plugins/list", ""), 200)
	var names []string
	if err := json.Unmarshal([]byte(r.body), &names); err != nil || len(names) == 0 || names[0] != "real-ip" {
		t.Fatalf("plugins/list: %s", r.body)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/schema/route", ""), 200); jsonField(t, r.body, "properties") == nil {
		t.Fatalf("route schema: %.200s", r.body)
	}
	if r := must(g.call(t, "GET", "/apisix/admin/schema/plugins/key-auth", ""), 200); jsonField(t, r.body, "$comment") != "this is a mark for our injected plugin schema" {
		t.Fatalf("plugin schema: %.300s", r.body)
	}
	// plugins/reload publishes the lists and reloads the generation.
	gen := g.Status().Master.Generation
	if r := must(g.call(t, "PUT", "/apisix/admin/plugins/reload", ""), 200); r.body != "done" {
		t.Fatalf("reload: %q", r.body)
	}
	if stored, err := etcdGet(t, etcdClient(t, g), "/apisix/plugins"); err != nil || !strings.Contains(stored, `{"name":"real-ip"}`) || !strings.Contains(stored, `"stream":true`) {
		t.Fatalf("PREFIX/plugins: %s %v", stored, err)
	}
	eventually(t, 10*time.Second, func() error {
		if now := g.Status().Master.Generation; now <= gen {
			return fmt.Errorf("generation still %d", now)
		}
		return nil
	})
	must(g.call(t, "POST", "/apisix/admin/schema/validate/route", `{"uri":"/a","upstream_id":"1"}`), 200)
	r = must(g.call(t, "POST", "/apisix/admin/schema/validate/route", `{"uri":1,"upstream_id":"1"}`), 400)
	if jsonField(t, r.body, "error_msg") != `property "uri" validation failed: wrong type: expected string, got number` {
		t.Fatalf("schema validate: %s", r.body)
	}
}

// A route written through the Admin API is served by every worker without
// a reload; deleted, it stops being served.
func TestAdminRouteIsServed(t *testing.T) {
	g := newAdminGateway(t, 2, "")
	up := echoUpstream(t, "admin-up")
	r := g.call(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/via-admin","upstream":{"nodes":{"`+up+`":1}}}`)
	if r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	waitServed(t, g, "/via-admin")
	if r := g.call(t, "DELETE", "/apisix/admin/routes/1", ""); r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	eventually(t, 5*time.Second, func() error {
		for i := 0; i < 10; i++ {
			if code, _ := get(t, g, "/via-admin", ""); code != 404 {
				return fmt.Errorf("still served: %d", code)
			}
		}
		return nil
	})
}

// No key is shipped: start writes a random one into config.yaml (0600),
// which then works; the historical APISIX key is refused at start.
func TestAdminKeyLifecycle(t *testing.T) {
	g := newGateway(t, 1) // its config.yaml sets no admin key
	out := g.MustRun("start")
	g.WaitServing(5 * time.Second)
	cfgPath := filepath.Join(g.Prefix, "conf", "config.yaml")
	if !strings.Contains(out, cfgPath) {
		t.Errorf("start does not say where the key is: %q", out)
	}
	st, err := os.Stat(cfgPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config.yaml mode: %v %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(cfgPath)
	m := regexp.MustCompile(`key: "?([0-9a-f]{32})"?`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("no generated key in config.yaml:\n%s", data)
	}
	if strings.Contains(out, m[1]) || strings.Contains(g.Logs(), m[1]) {
		t.Error("the generated key was printed or logged")
	}
	if r := g.admin(t, adminCall{method: "GET", path: "/apisix/admin/routes", key: m[1]}); r.status != 200 {
		t.Fatalf("generated key: %d %s", r.status, r.body)
	}
	if r := g.admin(t, adminCall{method: "GET", path: "/apisix/admin/routes"}); r.status != 401 {
		t.Fatalf("no key: %d", r.status)
	}
	g.MustRun("stop")

	bad := newGateway(t, 1)
	bad.WriteRawConfig(strings.Replace(configFor(bad), "deployment:\n  admin:\n", "deployment:\n  admin:\n    admin_key:\n      - name: admin\n        key: edd1c9f034335f136f87ad84b625c8f1\n        role: admin\n", 1))
	out, code := bad.Run("start")
	if code == 0 || !strings.Contains(out, "deployment.admin.admin_key[0].key") {
		t.Fatalf("start with the historical key: exit %d\n%s", code, out)
	}
}

// configFor renders the harness's config.yaml for g.
func configFor(g *Gateway) string {
	var sb strings.Builder
	template.Must(template.New("c").Parse(configTemplate)).Execute(&sb, g)
	return sb.String()
}

// selfSigned returns a PEM certificate for sni and its key.
func selfSigned(t *testing.T, sni string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: sni}, DNSNames: []string{sni},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// SSL objects: the pair is checked, the key is stored encrypted and never
// returned.
func TestAdminSSL(t *testing.T) {
	g := newAdminGateway(t, 1, "")
	cert, key := selfSigned(t, "a.example")
	_, otherKey := selfSigned(t, "b.example")
	body := func(cert, key string) string {
		b, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"a.example"}})
		return string(b)
	}
	r := g.call(t, "PUT", "/apisix/admin/ssls/s1", body(cert, key))
	if r.status != 201 || strings.Contains(r.body, "PRIVATE KEY") || jsonField(t, r.body, "value.key") != nil {
		t.Fatalf("PUT: %d %.300s", r.status, r.body)
	}
	stored, err := etcdGet(t, etcdClient(t, g), "/apisix/ssls/s1")
	if err != nil || strings.Contains(stored, "PRIVATE KEY") || jsonField(t, stored, "key") == nil {
		t.Fatalf("stored key must be encrypted: %.300s %v", stored, err)
	}
	if r := g.call(t, "GET", "/apisix/admin/ssls/s1", ""); r.status != 200 || jsonField(t, r.body, "value.key") != nil || jsonField(t, r.body, "value.cert") != cert {
		t.Fatalf("GET: %d %.300s", r.status, r.body)
	}
	if r := g.call(t, "GET", "/apisix/admin/ssls", ""); strings.Contains(r.body, `"key"`) && strings.Contains(r.body, "PRIVATE") {
		t.Fatalf("list returns keys: %.300s", r.body)
	}
	// PATCH re-validates the merged object with the stored key decrypted.
	if r := g.call(t, "PATCH", "/apisix/admin/ssls/s1", `{"snis":["a.example","c.example"]}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	before := etcdRevision(t, g)
	r = g.call(t, "PUT", "/apisix/admin/ssls/s2", body(cert, otherKey))
	if r.status != 400 || !strings.Contains(jsonField(t, r.body, "error_msg").(string), "failed to match cert and key") {
		t.Fatalf("mismatched pair: %d %s", r.status, r.body)
	}
	r = g.call(t, "PUT", "/apisix/admin/ssls/s2", body("-----BEGIN CERTIFICATE-----\n"+strings.Repeat("A", 200)+"\n-----END CERTIFICATE-----\n", key))
	if r.status != 400 || jsonField(t, r.body, "error_msg") != "failed to parse cert: PEM_read_bio_X509_AUX() failed" {
		t.Fatalf("bad cert: %d %s", r.status, r.body)
	}
	if etcdRevision(t, g) != before {
		t.Fatal("a refused SSL moved the etcd revision")
	}
	if r := g.call(t, "DELETE", "/apisix/admin/ssls/s1", ""); r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
}
