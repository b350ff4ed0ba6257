package worker

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/resource/plugins"
	"github.com/portico-gw/portico/worker/extplugin"
	"github.com/portico-gw/portico/worker/router"
	"github.com/portico-gw/portico/worker/store"
)

// The plugins the data plane runs. Any other plugin that is enabled (in
// the `plugins:` list) and configured on a route, its service, its plugin
// config or a global rule makes the routes it applies to answer 503: serving
// them without it could skip authentication, authorization or a limit the
// operator relies on. APISIX ignores plugins that are not enabled, and so
// does Portico.
const (
	extPreReq   = "ext-plugin-pre-req"
	extPostReq  = "ext-plugin-post-req"
	extPostResp = "ext-plugin-post-resp"
)

var runnablePlugins = map[string]bool{extPreReq: true, extPostReq: true, extPostResp: true}

// Owners of a plugin configuration, as APISIX names them in ext-plugin conf
// keys (conf_type).
const (
	ownerRoute        = "route"
	ownerService      = "service"
	ownerPluginConfig = "plugin_config"
	ownerGlobalRule   = "global_rule"
)

const (
	pluginConfigsKind = string(resource.PluginConfigs)
	globalRulesKind   = string(resource.GlobalRules)
)

// extCall is one configured ext-plugin-* instance, resolved at build time.
type extCall struct {
	plugin           string
	key              string            // the PrepareConf idempotency key (spec 8.1)
	entries          []extplugin.Entry // the conf list, for PrepareConf; nil when absent
	allowDegradation bool
	filter           *router.Expr // _meta.filter; nil = always
}

type extConfItem struct{ Name, Value string }

// chain is what a route (or the set of global rules) runs around proxying,
// in APISIX's order: HTTPReqCall plugins (pre-req, then post-req), then the
// post-resp ones, which see the upstream response.
type chain struct {
	req  []*extCall
	resp []*extCall
}

func (c *chain) empty() bool { return c == nil || len(c.req) == 0 && len(c.resp) == 0 }

// pluginConf is one plugin configuration and where it comes from.
type pluginConf struct {
	name      string
	raw       json.RawMessage
	ownerType string
	ownerID   string
}

// pluginMeta is the part of a plugin configuration the data plane reads for
// every plugin.
type pluginMeta struct {
	Meta *struct {
		Disable bool  `json:"disable"`
		Filter  []any `json:"filter"`
	} `json:"_meta"`
}

// extConf is the shared schema of the ext-plugin-* plugins (spec 7).
type extConf struct {
	Conf             []extConfItem `json:"conf"`
	AllowDegradation bool          `json:"allow_degradation"`
}

// unsupportedError says why a route cannot be served as configured.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

// buildChain turns the effective plugin configurations into a chain.
// Disabled plugins (`_meta.disable`) and plugins that are not enabled are
// skipped, as APISIX does; a plugin the data plane cannot run, or whose
// configuration does not validate (it was written to etcd past the Admin
// API), is an error: the caller serves 503 instead.
func buildChain(confs []pluginConf, enabled func(string) bool) (*chain, error) {
	c := &chain{}
	var pre, post []*extCall
	for _, pc := range confs {
		if !enabled(pc.name) {
			continue
		}
		var meta pluginMeta
		if err := json.Unmarshal(pc.raw, &meta); err != nil {
			return nil, &unsupportedError{fmt.Sprintf("%s %s: plugin %s: %v", pc.ownerType, pc.ownerID, pc.name, err)}
		}
		if meta.Meta != nil && meta.Meta.Disable {
			continue
		}
		if !runnablePlugins[pc.name] {
			return nil, &unsupportedError{fmt.Sprintf("%s %s: plugin %s is not implemented by Portico's data plane", pc.ownerType, pc.ownerID, pc.name)}
		}
		p, ok := plugins.Lookup(plugins.HTTP, pc.name)
		if !ok {
			return nil, &unsupportedError{fmt.Sprintf("%s %s: plugin %s is unknown", pc.ownerType, pc.ownerID, pc.name)}
		}
		if err := p.Check(plugins.Route, pc.raw); err != nil {
			return nil, &unsupportedError{fmt.Sprintf("%s %s: %v", pc.ownerType, pc.ownerID, err)}
		}
		var ec extConf
		if err := json.Unmarshal(pc.raw, &ec); err != nil {
			return nil, &unsupportedError{fmt.Sprintf("%s %s: plugin %s: %v", pc.ownerType, pc.ownerID, pc.name, err)}
		}
		call := &extCall{
			plugin:           pc.name,
			key:              confKey(pc),
			allowDegradation: ec.AllowDegradation,
		}
		for _, it := range ec.Conf {
			call.entries = append(call.entries, extplugin.Entry{Name: it.Name, Value: it.Value, HasValue: true})
		}
		if meta.Meta != nil && len(meta.Meta.Filter) > 0 {
			f, err := router.CompileExpr(meta.Meta.Filter)
			if err != nil {
				return nil, &unsupportedError{fmt.Sprintf("%s %s: plugin %s: _meta.filter: %v", pc.ownerType, pc.ownerID, pc.name, err)}
			}
			call.filter = f
		}
		switch pc.name {
		case extPreReq:
			pre = append(pre, call)
		case extPostReq:
			post = append(post, call)
		case extPostResp:
			c.resp = append(c.resp, call)
		}
	}
	c.req = append(pre, post...)
	return c, nil
}

// confKey is the PrepareConf key `<conf_type>#<conf_id>#<plugin>#<version>`.
// The version is a digest of the configuration itself: the runner returns
// the token it already has for a known key, so a changed configuration
// must change the key, and a standalone file has no revision to use.
func confKey(pc pluginConf) string {
	h := fnv.New64a()
	h.Write(pc.raw)
	return extplugin.Key(pc.ownerType, pc.ownerID, pc.name, strconv.FormatUint(h.Sum64(), 16))
}

// routePlugins gathers a route's effective plugin configurations (APISIX:
// the route's own win over its plugin config's, which win over its
// service's), noting the plugin config it looked up in res. A missing
// plugin config is an error (APISIX answers 503).
func routePlugins(snap *store.Snapshot, item *store.Item, rt *resource.Route, svc *resource.Service, res *resolved) ([]pluginConf, error) {
	byName := map[string]pluginConf{}
	if svc != nil {
		sid := resource.IDString(rt.ServiceID)
		for name, raw := range svc.Plugins {
			byName[name] = pluginConf{name, raw, ownerService, sid}
		}
		if svc.Script != "" {
			return nil, &unsupportedError{fmt.Sprintf("service %s: script is not supported by Portico's data plane", sid)}
		}
	}
	if rt.PluginConfigID != nil {
		id := resource.IDString(rt.PluginConfigID)
		res.deps = append(res.deps, pluginConfigsKind+"/"+id)
		pi := snap.Get(pluginConfigsKind, id)
		if pi == nil {
			return nil, &unsupportedError{fmt.Sprintf("route %s: plugin config %s not found", item.ID, id)}
		}
		for name, raw := range pi.Value.(*resource.PluginConfig).Plugins {
			byName[name] = pluginConf{name, raw, ownerPluginConfig, id}
		}
	}
	for name, raw := range rt.Plugins {
		byName[name] = pluginConf{name, raw, ownerRoute, item.ID}
	}
	if rt.Script != "" {
		return nil, &unsupportedError{fmt.Sprintf("route %s: script is not supported by Portico's data plane", item.ID)}
	}
	return sortedConfs(byName), nil
}

// globalPlugins gathers the plugin configurations of every global rule, in
// rule id order.
func globalPlugins(snap *store.Snapshot) []pluginConf {
	rules := snap.Items[globalRulesKind]
	var out []pluginConf
	for _, id := range slices.Sorted(maps.Keys(rules)) {
		gr, ok := rules[id].Value.(*resource.GlobalRule)
		if !ok {
			continue
		}
		byName := map[string]pluginConf{}
		for name, raw := range gr.Plugins {
			byName[name] = pluginConf{name, raw, ownerGlobalRule, id}
		}
		out = append(out, sortedConfs(byName)...)
	}
	return out
}

// sortedConfs orders configurations by plugin priority, highest first, as
// APISIX runs them. Names the registry does not know come last, kept so
// that buildChain refuses them rather than dropping them.
func sortedConfs(byName map[string]pluginConf) []pluginConf {
	all := slices.Sorted(maps.Keys(byName))
	names := plugins.Sorted(plugins.HTTP, all)
	out := make([]pluginConf, 0, len(byName))
	for _, n := range names {
		out = append(out, byName[n])
		delete(byName, n)
	}
	for _, n := range all {
		if pc, ok := byName[n]; ok {
			out = append(out, pc)
		}
	}
	return out
}
