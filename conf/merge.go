package conf

import (
	"fmt"
	"strings"
)

// merge applies the user document onto the defaults in place, with APISIX's rules
// (apisix/cli/file.lua merge_conf):
//
//   - a map merges key by key, recursively;
//   - a list replaces the default wholesale, and so does an empty map or list (to Lua an
//     empty table is an array);
//   - null (~) deletes the default key;
//   - a scalar whose type differs from the default's is an error naming the arrow path,
//     "failed to merge, path[a->b] expect: table, but got: number", except where
//     multiType allows it. A non-empty map over a scalar default is the same error (Lua
//     would crash there). A map over a list default replaces it, and the strict decoder
//     then names the wrong type with its dotted path.
//
// Every mismatch is reported, not only the first; base keeps its default there.
func merge(base, user map[string]any, parent string, e *errs) {
	for _, k := range sortedKeys(user) {
		val := user[k]
		p := k
		if parent != "" {
			p = parent + "->" + k
		}
		switch u := val.(type) {
		case nil:
			delete(base, k)
		case []any:
			base[k] = u
		case map[string]any:
			if len(u) == 0 {
				base[k] = u
				continue
			}
			switch b := base[k].(type) {
			case nil:
				m := map[string]any{}
				base[k] = m
				merge(m, u, p, e)
			case map[string]any:
				merge(b, u, p, e)
			case []any:
				base[k] = u
			default:
				e.add("", "%s", mergeError(p, b, u))
			}
		default:
			b, exists := base[k]
			if !exists || b == nil || luaType(b) == luaType(u) || multiType(p, u) {
				base[k] = u
				continue
			}
			e.add("", "%s", mergeError(p, b, u))
		}
	}
}

func mergeError(p string, base, user any) string {
	return fmt.Sprintf("failed to merge, path[%s] expect: %s, but got: %s", p, luaType(base), luaType(user))
}

// multiType lists the paths where APISIX accepts a scalar of another type than the default
// (file.lua path_is_multi_type), plus one Portico addition: deployment->etcd->host given as
// a single URL string, which init_etcd has always accepted.
func multiType(p string, user any) bool {
	t := luaType(user)
	switch {
	case strings.HasPrefix(p, "nginx_config->") && (t == "number" || t == "string"):
		return true
	case p == "apisix->node_listen" && t == "number":
		return true
	case p == "apisix->data_encryption->keyring":
		return true
	case p == "deployment->etcd->host" && t == "string":
		return true
	}
	return false
}
