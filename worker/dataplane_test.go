package worker

import (
	"testing"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/store"
)

// A route the router cannot compile is left out; the others are served.
func TestBuildLeavesOutUncompilableRoutes(t *testing.T) {
	items := map[string]map[string]*store.Item{"routes": {}}
	for id, raw := range map[string]string{
		"good": `{"uri":"/good","upstream":{"nodes":{"127.0.0.1:1980":1}}}`,
		// Look-ahead: valid PCRE, accepted by the schema, not by Go's RE2.
		"bad": `{"uri":"/bad","vars":[["arg_x","~~","^(?=a)"]],"upstream":{"nodes":{"127.0.0.1:1980":1}}}`,
	} {
		v, err := resource.Validate(resource.Routes, []byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		items["routes"][id] = &store.Item{Kind: "routes", ID: id, Key: "/apisix/routes/" + id, Value: v, Raw: []byte(raw)}
	}
	dp, err := buildDataPlane(store.NewSnapshot(items, 1), router.HostURI, &pickers{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dp.skipped == nil {
		t.Error("the bad route was not reported")
	}
	if _, ok := dp.router.Match(&router.Request{Method: "GET", Host: "x", Path: "/good"}); !ok {
		t.Error("the good route is not served")
	}
}
