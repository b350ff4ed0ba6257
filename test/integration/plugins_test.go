package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A route that carries an enabled plugin the data plane cannot run (here
// key-auth, through the route itself, its service or a global rule) answers
// 503 instead of being proxied without authentication; a disabled plugin
// is ignored, and removing the plugin serves the route again.
func TestUnrunnablePluginsFailClosed(t *testing.T) {
	g := newAdminGateway(t, 2, "")
	up := echoUpstream(t, "up")
	upstream := fmt.Sprintf(`"upstream":{"nodes":{%q:1}}`, up)
	mustPut := func(path, body string) {
		t.Helper()
		if r := g.call(t, "PUT", path, body); r.status != 200 && r.status != 201 {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
	expect := func(path string, want int) {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			for i := 0; i < 6; i++ { // every worker
				if code, body := get(t, g, path, ""); code != want {
					return fmt.Errorf("%s: %d %q, want %d", path, code, body, want)
				}
			}
			return nil
		})
	}
	mustPut("/apisix/admin/routes/plain", `{"uri":"/plain",`+upstream+`}`)
	mustPut("/apisix/admin/routes/auth", `{"uri":"/auth","plugins":{"key-auth":{}},`+upstream+`}`)
	mustPut("/apisix/admin/services/s", `{"plugins":{"key-auth":{}}}`)
	mustPut("/apisix/admin/routes/svc", `{"uri":"/svc","service_id":"s",`+upstream+`}`)
	mustPut("/apisix/admin/routes/off", `{"uri":"/off","plugins":{"key-auth":{"_meta":{"disable":true}}},`+upstream+`}`)
	expect("/plain", 200)
	expect("/auth", 503)
	expect("/svc", 503)
	expect("/off", 200)
	if !strings.Contains(g.Logs(), "plugin key-auth is not implemented") {
		t.Errorf("the 503 is not explained in the error log:\n%s", g.logTail())
	}

	mustPut("/apisix/admin/global_rules/1", `{"plugins":{"key-auth":{}}}`)
	expect("/plain", 503)
	expect("/off", 503)
	if r := g.call(t, "DELETE", "/apisix/admin/global_rules/1", ""); r.status != 200 {
		t.Fatalf("delete global rule: %d %s", r.status, r.body)
	}
	expect("/plain", 200)
	mustPut("/apisix/admin/routes/auth", `{"uri":"/auth",`+upstream+`}`)
	expect("/auth", 200)
}
