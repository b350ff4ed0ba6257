package resource

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUpstreamValidate(t *testing.T) {
	const ic = "invalid configuration: "
	cert, key := testPair(t)
	runCases(t, Upstreams, []vcase{
		// valid
		{"map nodes", `{"nodes":{"127.0.0.1:80":1,"example.com":0}}`, ""},
		{"array nodes", `{"nodes":[{"host":"127.0.0.1","port":80,"weight":1,"priority":-1,"metadata":{"a":1}}]}`, ""},
		{"array node without port", `{"nodes":[{"host":"example.com","weight":1}]}`, ""},
		{"empty nodes object", `{"nodes":{}}`, ""},
		{"empty nodes array", `{"nodes":[]}`, ""},
		{"bracketed ipv6 nodes", `{"nodes":[{"host":"[::1]","port":80,"weight":1}]}`, ""},
		{"map ipv6 nodes", `{"nodes":{"[::1]:80":1,"::1":1}}`, ""},
		{"discovery", `{"service_name":"svc","discovery_type":"dns","discovery_args":{"namespace_id":"n","group_name":"g"}}`, ""},
		{"unknown type accepted", `{"type":"unknown","nodes":{}}`, ""},
		{"all types", `{"type":"least_conn","nodes":{}}`, ""},
		{"chash consumer without key", `{"type":"chash","hash_on":"consumer","nodes":{}}`, ""},
		{"chash vars key", `{"type":"chash","key":"remote_addr","nodes":{}}`, ""},
		{"chash arg key", `{"type":"chash","key":"arg_user-id","nodes":{}}`, ""},
		{"chash header key", `{"type":"chash","hash_on":"header","key":"X-User_Id","nodes":{}}`, ""},
		{"chash cookie key", `{"type":"chash","hash_on":"cookie","key":"sid","nodes":{}}`, ""},
		{"chash vars_combinations", `{"type":"chash","hash_on":"vars_combinations","key":"$host$arg_x","nodes":{}}`, ""},
		{"non-chash ignores key", `{"type":"roundrobin","key":"anything at all","nodes":{}}`, ""},
		{"rewrite with host", `{"pass_host":"rewrite","upstream_host":"example.com","nodes":{}}`, ""},
		{"all schemes", `{"scheme":"kafka","nodes":{}}`, ""},
		{"retries zero", `{"retries":0,"retry_timeout":0,"nodes":{}}`, ""},
		{"keepalive pool", `{"keepalive_pool":{"size":1,"idle_timeout":0,"requests":1},"nodes":{}}`, ""},
		{"checks active", `{"nodes":{},"checks":{"active":{"type":"https","timeout":5,"concurrency":2,"host":"h.com","port":8443,"http_path":"/hc","http_method":"HEAD","http_req_body":"x","https_verify_certificate":false,"req_headers":["A: b"],"healthy":{"interval":2,"http_statuses":[200],"successes":1},"unhealthy":{"interval":1,"http_statuses":[500],"http_failures":254,"tcp_failures":1,"timeouts":1}}}}`, ""},
		{"checks passive zeros", `{"nodes":{},"checks":{"active":{},"passive":{"type":"tcp","healthy":{"successes":0},"unhealthy":{"tcp_failures":0,"timeouts":0,"http_failures":0}}}}`, ""},
		{"tls pair", `{"nodes":{},"tls":{"client_cert":` + jstr(cert) + `,"client_key":` + jstr(key) + `,"verify":true}}`, ""},
		{"tls encrypted key", `{"nodes":{},"tls":{"client_cert":` + jstr(cert) + `,"client_key":"` + repeat("QUJD", 20) + `"}}`, ""},
		{"tls cert id", `{"nodes":{},"tls":{"client_cert_id":"ssl-1"}}`, ""},

		// nodes
		{"no nodes no discovery", `{"type":"roundrobin"}`, ic + "value should match only one schema, but matches none"},
		{"nodes and discovery", `{"nodes":{},"service_name":"s","discovery_type":"dns"}`, ic + "value should match only one schema, but matches both schemas 1 and 2"},
		{"service_name without discovery_type", `{"service_name":"s"}`, ic + "value should match only one schema, but matches none"},
		{"service_name empty", `{"service_name":"","discovery_type":"dns"}`, ic + `property "service_name" validation failed: string too short, expected at least 1, got 0`},
		{"negative weight map", `{"nodes":{"a:80":-1}}`, ic + `property "nodes" validation failed: object matches none of the required`},
		{"string weight map", `{"nodes":{"a:80":"1"}}`, ic + `property "nodes" validation failed: object matches none of the required`},
		{"negative weight array", `{"nodes":[{"host":"a","port":80,"weight":-1}]}`, ic + `property "nodes" validation failed: object matches none of the required`},
		{"missing weight array", `{"nodes":[{"host":"a","port":80}]}`, ic + `property "nodes" validation failed: object matches none of the required`},
		{"port zero array", `{"nodes":[{"host":"a","port":0,"weight":1}]}`, ic + `property "nodes" validation failed: object matches none of the required`},
		{"nodes string", `{"nodes":"a:80"}`, ic + `property "nodes" validation failed: object matches none of the required`},
		{"bare ipv6 array", `{"nodes":[{"host":"::1","port":80,"weight":1}]}`, ic + "IPv6 address must be enclosed with '[' and ']'"},
		{"bare ipv6 before schema", `{"nodes":[{"host":"2001:db8::1","port":80,"weight":1}],"foo":1}`, ic + "IPv6 address must be enclosed with '[' and ']'"},
		{"map port zero", `{"nodes":{"127.0.0.1:0":1}}`, "invalid port 0"},
		{"map port too big", `{"nodes":{"127.0.0.1:65536":1}}`, "invalid port 65536"},
		{"map ipv6 port too big", `{"nodes":{"[::1]:70000":1}}`, "invalid port 70000"},
		{"map port not a number", `{"nodes":{"127.0.0.1:http":1}}`, "invalid port http"},

		// balancer
		{"type not string", `{"type":1,"nodes":{}}`, ic + `property "type" validation failed: wrong type: expected string, got number`},
		{"hash_on enum", `{"type":"chash","hash_on":"ip","key":"x","nodes":{}}`, ic + `property "hash_on" validation failed: matches none of the enum values`},
		{"chash missing key", `{"type":"chash","nodes":{}}`, "missing key"},
		{"chash header missing key", `{"type":"chash","hash_on":"header","nodes":{}}`, "missing key"},
		{"chash bad vars key", `{"type":"chash","key":"not_support","nodes":{}}`, ic + `failed to match pattern "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$" with "not_support"`},
		{"chash bad header key", `{"type":"chash","hash_on":"header","key":"$#^@abc","nodes":{}}`, ic + `failed to match pattern "^[a-zA-Z0-9-_]+$" with "$#^@abc"`},
		{"chash bad cookie key", `{"type":"chash","hash_on":"cookie","key":"a b","nodes":{}}`, ic + `failed to match pattern "^[a-zA-Z0-9-_]+$" with "a b"`},
		{"key not string", `{"type":"chash","key":1,"nodes":{}}`, ic + `property "key" validation failed: wrong type: expected string, got number`},

		// host passing, scheme
		{"pass_host enum", `{"pass_host":"keep","nodes":{}}`, ic + `property "pass_host" validation failed: matches none of the enum values`},
		{"rewrite without host", `{"pass_host":"rewrite","nodes":{}}`, "`upstream_host` can't be empty when `pass_host` is `rewrite`"},
		{"upstream_host pattern", `{"pass_host":"rewrite","upstream_host":"a b","nodes":{}}`, ic + `property "upstream_host" validation failed: failed to match pattern ` + hostPat + ` with "a b"`},
		{"scheme enum", `{"scheme":"ftp","nodes":{}}`, ic + `property "scheme" validation failed: matches none of the enum values`},
		{"scheme number", `{"scheme":1,"nodes":{}}`, ic + `property "scheme" validation failed: matches none of the enum values`},

		// retries, timeouts, pool
		{"retries negative", `{"retries":-1,"nodes":{}}`, ic + `property "retries" validation failed: expected -1 to be at least 0`},
		{"retries float", `{"retries":1.5,"nodes":{}}`, ic + `property "retries" validation failed: wrong type: expected integer, got number`},
		{"retry_timeout negative", `{"retry_timeout":-1,"nodes":{}}`, ic + `property "retry_timeout" validation failed: expected -1 to be at least 0`},
		{"timeout zero read", `{"timeout":{"connect":1,"send":1,"read":0},"nodes":{}}`, ic + `property "timeout" validation failed: property "read" validation failed: expected 0 to be greater than 0`},
		{"keepalive size zero", `{"keepalive_pool":{"size":0},"nodes":{}}`, ic + `property "keepalive_pool" validation failed: property "size" validation failed: expected 0 to be at least 1`},
		{"keepalive idle negative", `{"keepalive_pool":{"idle_timeout":-0.5},"nodes":{}}`, ic + `property "keepalive_pool" validation failed: property "idle_timeout" validation failed: expected -0.5 to be at least 0`},
		{"keepalive requests zero", `{"keepalive_pool":{"requests":0},"nodes":{}}`, ic + `property "keepalive_pool" validation failed: property "requests" validation failed: expected 0 to be at least 1`},

		// health checks
		{"passive only", `{"nodes":{},"checks":{"passive":{}}}`, ic + `property "checks" validation failed: object matches none of the required: ["active"] or ["active","passive"]`},
		{"active type enum", `{"nodes":{},"checks":{"active":{"type":"udp"}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "type" validation failed: matches none of the enum values`},
		{"active successes 255", `{"nodes":{},"checks":{"active":{"healthy":{"successes":255}}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "healthy" validation failed: property "successes" validation failed: expected 255 to be at most 254`},
		{"active successes 0", `{"nodes":{},"checks":{"active":{"healthy":{"successes":0}}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "healthy" validation failed: property "successes" validation failed: expected 0 to be at least 1`},
		{"active statuses unique", `{"nodes":{},"checks":{"active":{"healthy":{"http_statuses":[200,200]}}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "healthy" validation failed: property "http_statuses" validation failed: expected unique items but items 1 and 2 are equal`},
		{"passive status 600", `{"nodes":{},"checks":{"active":{},"passive":{"unhealthy":{"http_statuses":[500,600]}}}}`, ic + `property "checks" validation failed: property "passive" validation failed: property "unhealthy" validation failed: property "http_statuses" validation failed: failed to validate item 2: expected 600 to be at most 599`},
		{"active http_failures float", `{"nodes":{},"checks":{"active":{"unhealthy":{"http_failures":1.5}}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "unhealthy" validation failed: property "http_failures" validation failed: wrong type: expected integer, got number`},
		{"req_headers item", `{"nodes":{},"checks":{"active":{"req_headers":["A: b",2]}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "req_headers" validation failed: failed to validate item 2: wrong type: expected string, got number`},
		{"active port range", `{"nodes":{},"checks":{"active":{"port":65536}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "port" validation failed: expected 65536 to be at most 65535`},
		{"active http_method", `{"nodes":{},"checks":{"active":{"http_method":"FETCH"}}}`, ic + `property "checks" validation failed: property "active" validation failed: property "http_method" validation failed: matches none of the enum values`},

		// tls
		{"tls cert without key", `{"nodes":{},"tls":{"client_cert":` + jstr(cert) + `}}`, ic + `property "tls" validation failed: failed to validate dependent schema for "client_cert": property "client_key" is required`},
		{"tls key without cert", `{"nodes":{},"tls":{"client_key":` + jstr(key) + `}}`, ic + `property "tls" validation failed: failed to validate dependent schema for "client_key": property "client_cert" is required`},
		{"tls cert id and pair", `{"nodes":{},"tls":{"client_cert_id":1,"client_cert":` + jstr(cert) + `,"client_key":` + jstr(key) + `}}`, ic + `property "tls" validation failed: failed to validate dependent schema for "client_cert_id": value wasn't supposed to match schema`},
		{"tls cert short", `{"nodes":{},"tls":{"client_cert":"abc","client_key":` + jstr(key) + `}}`, ic + `property "tls" validation failed: property "client_cert" validation failed: string too short, expected at least 128, got 3`},
		{"tls cert garbage", `{"nodes":{},"tls":{"client_cert":` + jstr(fakePEM("CERTIFICATE", 200)) + `,"client_key":` + jstr(key) + `}}`, "failed to parse cert: PEM_read_bio_X509_AUX() failed"},
		{"tls key garbage", `{"nodes":{},"tls":{"client_cert":` + jstr(cert) + `,"client_key":` + jstr(fakePEM("PRIVATE KEY", 100)) + `}}`, "failed to parse key: PEM_read_bio_PrivateKey() failed"},
		{"tls verify string", `{"nodes":{},"tls":{"client_cert_id":1,"verify":"yes"}}`, ic + `property "tls" validation failed: property "verify" validation failed: wrong type: expected boolean, got string`},

		// metadata
		{"unknown field", `{"nodes":{},"foo":1}`, ic + "additional properties forbidden, found foo"},
		{"labels bad", `{"nodes":{},"labels":{"a":""}}`, ic + `property "labels" validation failed: failed to validate a (matching ".*"): string too short, expected at least 1, got 0`},
		{"discovery_args type", `{"service_name":"s","discovery_type":"nacos","discovery_args":{"group_name":1}}`, ic + `property "discovery_args" validation failed: property "group_name" validation failed: wrong type: expected string, got number`},
	})
}

func TestUpstreamTyped(t *testing.T) {
	u := mustValidate[Upstream](t, Upstreams, `{"id":12,"type":"chash","hash_on":"cookie","key":"sid","retries":0,"retry_timeout":1.5,
		"nodes":{"b.example.com:8080":2,"a.example.com":1},"pass_host":"rewrite","upstream_host":"h.com","scheme":"https",
		"keepalive_pool":{"size":8},"tls":{"client_cert_id":"ssl-9"},"timeout":{"connect":1,"send":2,"read":3},"labels":{"k":"v"}}`)
	if u.ID != int64(12) || u.TLS.ClientCertID != "ssl-9" {
		t.Fatalf("ids %#v %#v", u.ID, u.TLS.ClientCertID)
	}
	if u.Retries == nil || *u.Retries != 0 || u.RetryTimeout == nil || *u.RetryTimeout != 1.5 {
		t.Fatalf("retries %+v", u)
	}
	want := Nodes{{Host: "b.example.com", Port: 8080, Weight: 2}, {Host: "a.example.com", Weight: 1}}
	if !reflect.DeepEqual(u.Nodes, want) {
		t.Fatalf("nodes (document order) %+v", u.Nodes)
	}
	if u.KeepalivePool.Size != 8 || u.KeepalivePool.IdleTimeout != nil {
		t.Fatalf("pool %+v", u.KeepalivePool)
	}
}

func TestUpstreamDefaults(t *testing.T) {
	u := mustValidate[Upstream](t, Upstreams, `{"nodes":{"a":1,"b:8080":2},"scheme":"https","keepalive_pool":{"size":10},"tls":{"client_cert_id":1},
		"checks":{"active":{"http_path":"/h","healthy":{"successes":3}},"passive":{"healthy":{"successes":0}}}}`)
	orig, _ := json.Marshal(u)
	d := u.Defaults()
	if d.Type != "roundrobin" || d.HashOn != "vars" || d.PassHost != "pass" || d.Scheme != "https" {
		t.Fatalf("scalars %+v", d)
	}
	if d.Nodes[0].Port != 443 || d.Nodes[1].Port != 8080 {
		t.Fatalf("node ports %+v", d.Nodes)
	}
	if d.Retries != nil || d.EffectiveRetries(len(d.Nodes)) != 1 {
		t.Fatalf("retries %v %d", d.Retries, d.EffectiveRetries(2))
	}
	kp := d.KeepalivePool
	if kp.Size != 10 || kp.IdleTimeout == nil || *kp.IdleTimeout != 60 || kp.Requests != 1000 {
		t.Fatalf("pool %+v", kp)
	}
	if d.TLS.Verify == nil || *d.TLS.Verify {
		t.Fatalf("tls verify %+v", d.TLS)
	}
	a := d.Checks.Active
	if a.Type != "http" || *a.Timeout != 1 || *a.Concurrency != 10 || a.HTTPPath != "/h" || a.HTTPMethod != "GET" || !*a.HTTPSVerifyCertificate {
		t.Fatalf("active %+v", a)
	}
	if a.Healthy.Interval != 1 || a.Healthy.Successes != 3 || !reflect.DeepEqual(a.Healthy.HTTPStatuses, []int{200, 302}) {
		t.Fatalf("active healthy %+v", a.Healthy)
	}
	if a.Unhealthy.HTTPFailures != 5 || a.Unhealthy.TCPFailures != 2 || a.Unhealthy.Timeouts != 3 ||
		!reflect.DeepEqual(a.Unhealthy.HTTPStatuses, []int{429, 404, 500, 501, 502, 503, 504, 505}) {
		t.Fatalf("active unhealthy %+v", a.Unhealthy)
	}
	p := d.Checks.Passive
	if p.Type != "http" || *p.Healthy.Successes != 0 || len(p.Healthy.HTTPStatuses) != 19 {
		t.Fatalf("passive healthy %+v", p.Healthy)
	}
	if *p.Unhealthy.TCPFailures != 2 || *p.Unhealthy.Timeouts != 7 || *p.Unhealthy.HTTPFailures != 5 ||
		!reflect.DeepEqual(p.Unhealthy.HTTPStatuses, []int{429, 500, 503}) {
		t.Fatalf("passive unhealthy %+v", p.Unhealthy)
	}
	// Defaults never touch the stored object.
	after, _ := json.Marshal(u)
	if string(orig) != string(after) {
		t.Fatalf("Defaults modified the upstream:\n%s\n%s", orig, after)
	}
	if u.Type != "" || u.Nodes[0].Port != 0 || u.Checks.Active.Type != "" || u.KeepalivePool.Requests != 0 {
		t.Fatalf("stored object changed: %+v", u)
	}
}

func TestUpstreamDefaultsMinimal(t *testing.T) {
	u := mustValidate[Upstream](t, Upstreams, `{"nodes":[{"host":"a","weight":1},{"host":"b","weight":1},{"host":"c","port":81,"weight":1}]}`)
	d := u.Defaults()
	if d.Scheme != "http" || d.Nodes[0].Port != 80 || d.Nodes[2].Port != 81 {
		t.Fatalf("%+v", d)
	}
	if d.KeepalivePool != nil || d.Checks != nil || d.TLS != nil || d.Timeout != nil {
		t.Fatalf("absent objects must stay absent: %+v", d)
	}
	if got := d.EffectiveRetries(3); got != 2 {
		t.Fatalf("EffectiveRetries = %d", got)
	}
	if got := (&Upstream{}).EffectiveRetries(1); got != 0 {
		t.Fatalf("single node retries = %d", got)
	}
	if s := u.StreamDefaults(); s.Scheme != "tcp" || s.Nodes[0].Port != 0 {
		t.Fatalf("stream defaults %+v", s)
	}
	if s := (&Upstream{Scheme: "udp", Nodes: Nodes{{Host: "a", Weight: 1}}}).StreamDefaults(); s.Scheme != "udp" || s.Nodes[0].Port != 0 {
		t.Fatalf("udp stream defaults %+v", s)
	}
	for scheme, port := range map[string]int{"": 80, "http": 80, "grpc": 80, "https": 443, "grpcs": 443, "tcp": 0, "kafka": 0} {
		if DefaultPort(scheme) != port {
			t.Fatalf("DefaultPort(%q) = %d", scheme, DefaultPort(scheme))
		}
	}
}
