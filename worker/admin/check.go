package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/resource"
)

// checkWrite runs every check a write must pass, in APISIX's order: the
// forbidden timestamps (not for PATCH), the resource schema and semantic
// checks, the plugins, the references. obj is not modified.
func (h *Handler) checkWrite(ctx context.Context, o *op, id string, obj map[string]any, patch bool) *result {
	data, err := encode(obj)
	if err != nil {
		return badRequest(err.Error())
	}
	if !patch {
		if err := resource.CheckNoTimestamps(data); err != nil {
			return badRequest(err.Error())
		}
	}
	if o.kind == resource.Secrets {
		manager, _, _ := strings.Cut(id, "/")
		if id == "" {
			manager, _, _ = strings.Cut(o.id, "/")
		}
		if _, err := resource.ValidateSecret(manager, data); err != nil {
			return badRequest(err.Error())
		}
		return nil
	}
	if o.kind != resource.PluginMetadata {
		if _, err := resource.Validate(o.kind, data); err != nil {
			return badRequest(err.Error())
		}
	}
	if res := h.checkPlugins(o.kind, obj); res != nil {
		return res
	}
	switch o.kind {
	case resource.Credentials:
		resp, err := h.cfg.Client.Get(ctx, h.cfg.Prefix+"/consumers/"+o.consumer)
		if err != nil {
			return etcdError(err)
		}
		if len(resp.Kvs) == 0 {
			return errResult(http.StatusNotFound, "consumer not found")
		}
	case resource.GlobalRules:
		msg, res := h.globalRuleConflict(ctx, id, obj)
		if res != nil {
			return res
		}
		if msg != "" {
			return badRequest(msg)
		}
	}
	if o.kind == resource.Consumers || o.kind == resource.Credentials {
		self := id // the consumer, or consumer/credentials/id
		if o.kind == resource.Credentials {
			self = o.consumer + "/credentials/" + id
		}
		msg, res := h.duplicateAuthKey(ctx, self, obj)
		if res != nil {
			return res
		}
		if msg != "" {
			return badRequest(msg)
		}
	}
	return h.checkRefs(ctx, obj)
}

// ref is one reference a value may hold to another resource.
type ref struct {
	path []string      // field path in the value
	kind resource.Kind // what it names
	noun string        // APISIX's wording: "upstream info by upstream id"
}

var refs = []ref{
	{[]string{"upstream_id"}, resource.Upstreams, "upstream info by upstream id"},
	{[]string{"service_id"}, resource.Services, "service info by service id"},
	{[]string{"plugin_config_id"}, resource.PluginConfigs, "plugin config info by plugin config id"},
	{[]string{"group_id"}, resource.ConsumerGroups, "consumer group info by consumer group id"},
	{[]string{"tls", "client_cert_id"}, resource.SSLs, "ssl info by ssl id"},
	{[]string{"upstream", "tls", "client_cert_id"}, resource.SSLs, "ssl info by ssl id"},
}

// checkRefs makes sure every id the value names exists in etcd (spec 3.4).
func (h *Handler) checkRefs(ctx context.Context, obj map[string]any) *result {
	for _, rf := range refs {
		v := lookup(obj, rf.path...)
		if v == nil {
			continue
		}
		id := resource.IDString(v)
		resp, err := h.cfg.Client.Get(ctx, h.cfg.Prefix+"/"+string(rf.kind)+"/"+id)
		if err != nil {
			return etcdError(err)
		}
		if len(resp.Kvs) == 0 {
			return badRequest(fmt.Sprintf("failed to fetch %s [%s], response code: 404", rf.noun, id))
		}
		if rf.kind == resource.SSLs {
			var ssl struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(resp.Kvs[0].Value, &ssl) != nil || ssl.Type != "client" {
				return badRequest(fmt.Sprintf("failed to fetch %s [%s], wrong ssl type", rf.noun, id))
			}
		}
	}
	return nil
}

// lookup walks obj along path; nil when any step is missing.
func lookup(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// globalRuleConflict enforces "a plugin may appear in only one global
// rule" against the synced snapshot.
func (h *Handler) globalRuleConflict(ctx context.Context, id string, obj map[string]any) (string, *result) {
	plugins, _ := obj["plugins"].(map[string]any)
	items, res := h.items(ctx, resource.GlobalRules)
	if res != nil {
		return "", res
	}
	for _, other := range sortedIDs(items) {
		if other == id {
			continue
		}
		var rule struct {
			Plugins map[string]json.RawMessage `json:"plugins"`
		}
		if json.Unmarshal(items[other], &rule) != nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(plugins)) {
			if _, dup := rule.Plugins[name]; dup {
				return fmt.Sprintf("plugin '%s' already exists in global rule with id '%s'", name, other), nil
			}
		}
	}
	return "", nil
}

// items reads a directory from etcd: id -> value. The checks that look at
// other resources read etcd rather than the worker's synced view, so a
// change made a moment ago through any worker already counts.
func (h *Handler) items(ctx context.Context, kind resource.Kind) (map[string][]byte, *result) {
	dir := h.cfg.Prefix + "/" + string(kind) + "/"
	resp, err := h.cfg.Client.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, etcdError(err)
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if id := strings.TrimPrefix(string(kv.Key), dir); id != "" {
			out[id] = kv.Value
		}
	}
	return out, nil
}

// authKeyField names the field that identifies a consumer for each auth
// plugin; two consumers (or credentials) may not share its value.
var authKeyField = map[string]string{"key-auth": "key", "basic-auth": "username", "jwt-auth": "key", "hmac-auth": "key_id"}

// duplicateAuthKey finds another consumer or credential of the synced
// snapshot with the same auth key (APISIX's check_duplicate_key). self is
// the item being written, as its id under consumers/.
func (h *Handler) duplicateAuthKey(ctx context.Context, self string, obj map[string]any) (string, *result) {
	owner, _, _ := strings.Cut(self, "/")
	confs := pluginConfs(obj)
	pl, _ := obj["plugins"].(map[string]any)
	if len(pl) == 0 {
		return "", nil
	}
	items, res := h.items(ctx, resource.Consumers)
	if res != nil {
		return "", res
	}
	for _, name := range slices.Sorted(maps.Keys(pl)) {
		field, ok := authKeyField[name]
		want, isStr := confs[name][field].(string)
		if !ok || !isStr {
			continue
		}
		for _, id := range sortedIDs(items) {
			if id == self {
				continue
			}
			tree, err := resource.ParseJSON(items[id])
			other, isObj := tree.(map[string]any)
			if err != nil || !isObj {
				continue
			}
			h.decryptPlugins(resource.Consumers, other)
			if got, _ := pluginConfs(other)[name][field].(string); got != want {
				continue
			}
			user, cred, isCred := strings.Cut(id, "/credentials/")
			if isCred {
				if user == owner && self == owner {
					continue // a consumer's own credential
				}
				return fmt.Sprintf("duplicate key of plugin %s found with credential: %s of consumer: %s", name, cred, user), nil
			}
			if user == owner {
				continue
			}
			return fmt.Sprintf("duplicate key of plugin %s found with consumer: %s", name, user), nil
		}
	}
	return "", nil
}

// user is the part of a stored value the "still in use" checks read.
type user struct {
	ServiceID      any                        `json:"service_id"`
	UpstreamID     any                        `json:"upstream_id"`
	PluginConfigID any                        `json:"plugin_config_id"`
	GroupID        any                        `json:"group_id"`
	Plugins        map[string]json.RawMessage `json:"plugins"`
	Protocol       struct {
		SuperiorID any `json:"superior_id"`
	} `json:"protocol"`
}

// inUse returns APISIX's refusal when another resource still references
// o's item, or "". APISIX consults each worker's synced view, so a route
// written a moment before could still lose its upstream; this reads etcd.
func (h *Handler) inUse(ctx context.Context, o *op) (string, *result) {
	var failed *result
	scan := func(kind resource.Kind, match func(u *user) bool) string {
		if failed != nil {
			return ""
		}
		items, res := h.items(ctx, kind)
		if res != nil {
			failed = res
			return ""
		}
		for _, id := range sortedIDs(items) {
			var u user
			if json.Unmarshal(items[id], &u) == nil && match(&u) {
				return id
			}
		}
		return ""
	}
	msg := h.inUseMessage(o, scan)
	return msg, failed
}

func (h *Handler) inUseMessage(o *op, scan func(kind resource.Kind, match func(u *user) bool) string) string {
	is := func(v any) bool { return v != nil && resource.IDString(v) == o.id }
	nouns := map[resource.Kind]string{
		resource.Routes: "route", resource.Services: "service", resource.PluginConfigs: "plugin_config",
		resource.Consumers: "consumer", resource.ConsumerGroups: "consumer_group", resource.GlobalRules: "global_rules",
		resource.StreamRoutes: "stream_route",
	}
	switch o.kind {
	case resource.Services:
		for _, k := range []resource.Kind{resource.Routes, resource.StreamRoutes} {
			if id := scan(k, func(u *user) bool { return is(u.ServiceID) }); id != "" {
				return fmt.Sprintf("can not delete this service directly, %s [%s] is still using it now", nouns[k], id)
			}
		}
	case resource.Upstreams:
		for _, k := range []resource.Kind{resource.Routes, resource.Services, resource.StreamRoutes} {
			if id := scan(k, func(u *user) bool { return is(u.UpstreamID) }); id != "" {
				return fmt.Sprintf("can not delete this upstream, %s [%s] is still using it now", nouns[k], id)
			}
		}
		for _, k := range []resource.Kind{resource.Routes, resource.Services, resource.PluginConfigs, resource.Consumers, resource.ConsumerGroups, resource.GlobalRules} {
			if id := scan(k, func(u *user) bool { return trafficSplitUses(u.Plugins["traffic-split"], o.id) }); id != "" {
				return fmt.Sprintf("can not delete this upstream, plugin in %s [%s] is still using it now", nouns[k], id)
			}
		}
	case resource.PluginConfigs:
		if id := scan(resource.Routes, func(u *user) bool { return is(u.PluginConfigID) }); id != "" {
			return fmt.Sprintf("can not delete this plugin config, route [%s] is still using it now", id)
		}
	case resource.ConsumerGroups:
		if id := scan(resource.Consumers, func(u *user) bool { return is(u.GroupID) }); id != "" {
			return fmt.Sprintf("can not delete this consumer group, consumer [%s] is still using it now", id)
		}
	case resource.Protos:
		for _, k := range []resource.Kind{resource.Routes, resource.Services} {
			if id := scan(k, func(u *user) bool { return grpcTranscodeUses(u.Plugins["grpc-transcode"], o.id) }); id != "" {
				return fmt.Sprintf("can not delete this proto, %s [%s] is still using it now", nouns[k], id)
			}
		}
	case resource.StreamRoutes:
		if id := scan(resource.StreamRoutes, func(u *user) bool { return is(u.Protocol.SuperiorID) }); id != "" {
			return fmt.Sprintf("can not delete this stream route directly, stream_route [%s] is still using it now", id)
		}
	}
	return ""
}

func trafficSplitUses(conf json.RawMessage, id string) bool {
	if conf == nil {
		return false
	}
	var ts struct {
		Rules []struct {
			WeightedUpstreams []struct {
				UpstreamID any `json:"upstream_id"`
			} `json:"weighted_upstreams"`
		} `json:"rules"`
	}
	if json.Unmarshal(conf, &ts) != nil {
		return false
	}
	for _, r := range ts.Rules {
		for _, wu := range r.WeightedUpstreams {
			if wu.UpstreamID != nil && resource.IDString(normalizeNumber(wu.UpstreamID)) == id {
				return true
			}
		}
	}
	return false
}

func grpcTranscodeUses(conf json.RawMessage, id string) bool {
	var gt struct {
		ProtoID any `json:"proto_id"`
	}
	return conf != nil && json.Unmarshal(conf, &gt) == nil && gt.ProtoID != nil && resource.IDString(normalizeNumber(gt.ProtoID)) == id
}

// normalizeNumber turns encoding/json's float64 into an int64 when it is
// one, so ids compare as Lua's tostring renders them.
func normalizeNumber(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	// Numeric ids in numeric order, as etcd's listing of APISIX's ids
	// usually reads; ties and strings lexicographically.
	slices.SortFunc(ids, func(a, b string) int {
		if len(a) != len(b) && isDigits(a) && isDigits(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return ids
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
