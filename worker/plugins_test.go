package worker

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/store"
)

// Routes carrying enabled plugins the data plane cannot run answer 503
// rather than being proxied without them; disabled plugins and plugins not
// in the `plugins:` list are ignored, as APISIX ignores them.
func TestPluginsFailClosed(t *testing.T) {
	up := `"upstream":{"nodes":{"127.0.0.1:1980":1}}`
	items := map[string]map[string]*store.Item{"routes": {}, "services": {}, "plugin_configs": {}}
	add := func(kind resource.Kind, id, raw string) { items[string(kind)][id] = item(t, kind, id, raw) }
	add(resource.Services, "auth", `{"plugins":{"key-auth":{}}}`)
	add(resource.PluginConfigs, "pc", `{"id":"pc","plugins":{"limit-count":{"count":1,"time_window":60}}}`)
	cases := []struct {
		id, raw string
		status  int
		ext     int // ext-plugin calls in the chain
	}{
		{"plain", `{"uri":"/plain",` + up + `}`, 0, 0},
		{"auth", `{"uri":"/auth","plugins":{"key-auth":{}},` + up + `}`, 503, 0},
		{"via-service", `{"uri":"/svc","service_id":"auth",` + up + `}`, 503, 0},
		{"via-plugin-config", `{"uri":"/pc","plugin_config_id":"pc",` + up + `}`, 503, 0},
		{"missing-plugin-config", `{"uri":"/nopc","plugin_config_id":"nope",` + up + `}`, 503, 0},
		{"disabled", `{"uri":"/off","plugins":{"key-auth":{"_meta":{"disable":true}}},` + up + `}`, 0, 0},
		{"not-enabled", `{"uri":"/ne","plugins":{"not-in-list":{}},` + up + `}`, 0, 0},
		{"script", `{"uri":"/script","script":"return 1234567",` + up + `}`, 503, 0},
		{"ext", `{"uri":"/ext","plugins":{"ext-plugin-pre-req":{"conf":[{"name":"a","value":"b"}]},"ext-plugin-post-resp":{}},` + up + `}`, 0, 1},
		{"ext-bad-conf", `{"uri":"/extbad","plugins":{"ext-plugin-pre-req":{"conf":[]}},` + up + `}`, 503, 0},
	}
	for _, c := range cases {
		add(resource.Routes, c.id, c.raw)
	}
	b := &builder{enabled: map[string]bool{"key-auth": true, "limit-count": true, extPreReq: true, extPostReq: true, extPostResp: true}}
	dp, err := buildDataPlane(store.NewSnapshot(items, 1), router.HostURI, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		m, ok := dp.router.Match(&router.Request{Method: http.MethodGet, Host: "x", Path: strings.SplitN(c.raw, `"`, 5)[3]})
		if !ok {
			t.Fatalf("%s: not routed", c.id)
		}
		tg := m.Route.Value.(*target)
		if tg.status != c.status {
			t.Errorf("%s: status %d, want %d", c.id, tg.status, c.status)
		}
		if c.ext > 0 && (tg.plugins == nil || len(tg.plugins.req) != c.ext || len(tg.plugins.resp) != 1) {
			t.Errorf("%s: chain %+v", c.id, tg.plugins)
		}
	}
	for _, want := range []string{"route auth: plugin key-auth", "service auth: plugin key-auth", "plugin_config pc: plugin limit-count", "plugin config nope not found", "script"} {
		if dp.unsupported == nil || !strings.Contains(dp.unsupported.Error(), want) {
			t.Errorf("unsupported report %v lacks %q", dp.unsupported, want)
		}
	}

	// A global rule with such a plugin makes every matched route answer 503.
	// (Snapshots are immutable: each gets its own outer map.)
	items = maps.Clone(items)
	items["global_rules"] = map[string]*store.Item{"1": item(t, resource.GlobalRules, "1", `{"id":"1","plugins":{"key-auth":{}}}`)}
	dp, err = buildDataPlane(store.NewSnapshot(items, 2), router.HostURI, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dp.globalErr == nil || !strings.Contains(dp.globalErr.Error(), "global_rule 1: plugin key-auth") {
		t.Fatalf("global error %v", dp.globalErr)
	}
	// ...and removing it restores them.
	items = maps.Clone(items)
	delete(items, "global_rules")
	dp, err = buildDataPlane(store.NewSnapshot(items, 3), router.HostURI, b, nil)
	if err != nil || dp.globalErr != nil {
		t.Fatalf("after removing the rule: %v %v", err, dp.globalErr)
	}
}
