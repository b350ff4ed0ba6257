package resource

import "testing"

const benchRoute = `{
	"id": "1", "name": "bench", "uri": "/api/v1/*", "hosts": ["api.example.com", "*.example.org"],
	"methods": ["GET", "POST"], "priority": 5, "labels": {"team": "core"},
	"vars": [["arg_version", "==", "2"], ["http_x_canary", "~~", "^(yes|true)$"]],
	"plugins": {"limit-count": {"count": 100, "time_window": 60, "key": "remote_addr"}, "proxy-rewrite": {"uri": "/v1"}},
	"upstream": {"type": "roundrobin", "nodes": {"10.0.0.1:8080": 1, "10.0.0.2:8080": 2},
		"timeout": {"connect": 1, "send": 5, "read": 5},
		"checks": {"active": {"http_path": "/health", "healthy": {"interval": 2, "successes": 1}}}}
}`

func BenchmarkValidateRoute(b *testing.B) {
	raw := []byte(benchRoute)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Validate(Routes, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateRouteMinimal(b *testing.B) {
	raw := []byte(`{"uri":"/a","upstream_id":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(Routes, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateRouteInvalid(b *testing.B) {
	raw := []byte(`{"uri":"/a","upstream_id":1,"upstream":{"nodes":{"a:1":-1}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(Routes, raw); err == nil {
			b.Fatal("accepted")
		}
	}
}
