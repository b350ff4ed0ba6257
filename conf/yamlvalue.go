package conf

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"gopkg.in/yaml.v3"
)

// The generic document model shared by substitution, merge and decoding: map[string]any,
// []any, string, bool, int, float64 and nil. parseYAML guarantees nothing else appears.

// parseYAML parses one YAML document whose top level must be a map. A document that is
// empty or only comments yields nil. yaml.v3's messages already carry "line N".
func parseYAML(data []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	doc = normalize(doc)
	switch d := doc.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return d, nil
	default:
		return nil, fmt.Errorf("top level must be a map, got %s", describe(d))
	}
}

// normalize turns yaml.v3's decoded values into the model above: maps with non-string
// keys get their keys printed (as Lua would index them), huge integers become float64.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case int64:
		return int(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int(x)
		}
		return float64(x)
	case float32:
		return float64(x)
	default:
		return v
	}
}

// luaType names a value the way APISIX's merge errors do.
func luaType(v any) string {
	switch v.(type) {
	case map[string]any, []any:
		return "table"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, float64:
		return "number"
	case nil:
		return "nil"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// describe names a value for "expected X, got Y" messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			x = x[:57] + "..."
		}
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case int:
		return fmt.Sprintf("number %d", x)
	case float64:
		return fmt.Sprintf("number %g", x)
	case map[string]any:
		return "map"
	case []any:
		return "list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sortedKeys gives deterministic iteration (and therefore deterministic errors).
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// lookup follows keys through nested maps; ok is false when any step is missing.
func lookup(doc map[string]any, keys ...string) (any, bool) {
	var cur any = doc
	for _, k := range keys {
		m, isMap := cur.(map[string]any)
		if !isMap {
			return nil, false
		}
		v, found := m[k]
		if !found {
			return nil, false
		}
		cur = v
	}
	return cur, true
}
