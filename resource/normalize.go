package resource

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"sync"
)

// normalize applies, in place, the leniencies of api7/jsonschema (the
// validator APISIX uses) that JSON Schema itself lacks, so both validators
// accept the same documents:
//
//   - an empty object where the schema wants an array becomes [] and an empty
//     array where it wants an object becomes {} (Lua cannot tell them apart,
//     and APISIX writes empty tables either way);
//   - an integral number spelled 1.0 or 1e3 where the schema wants an
//     integer is rewritten as plain digits, so typed decoding into int works.
//
// It follows properties, patternProperties, additionalProperties, items and
// the anyOf/oneOf branch whose type matches the value. It returns the
// (possibly replaced) value and whether anything changed.
func normalize(s map[string]any, v any) (any, bool) {
	if s == nil {
		return v, false
	}
	typ, _ := s["type"].(string)
	changed := false
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			if typ == "array" {
				return []any{}, true
			}
			return v, false
		}
		for k, val := range x {
			if nv, c := normalize(propertySchema(s, k), val); c {
				x[k] = nv
				changed = true
			}
		}
	case []any:
		if len(x) == 0 {
			if typ == "object" {
				return map[string]any{}, true
			}
			return v, false
		}
		items, _ := s["items"].(map[string]any)
		for i, val := range x {
			if nv, c := normalize(items, val); c {
				x[i] = nv
				changed = true
			}
		}
	case json.Number:
		if typ == "integer" {
			if n, ok := canonicalInt(x); ok {
				return n, true
			}
		}
	}
	if typ == "" {
		// Descend into the composition branch that declares v's type (the
		// two forms of upstream nodes).
		for _, kw := range [...]string{"anyOf", "oneOf"} {
			branches, _ := s[kw].([]any)
			for _, b := range branches {
				bm, _ := b.(map[string]any)
				if bt, _ := bm["type"].(string); bt != "" && jsonTypeIs(v, bt) {
					nv, c := normalize(bm, v)
					return nv, changed || c
				}
			}
		}
	}
	return v, changed
}

func jsonTypeIs(v any, t string) bool {
	switch v.(type) {
	case map[string]any:
		return t == "object"
	case []any:
		return t == "array"
	case json.Number:
		return t == "integer" || t == "number"
	case string:
		return t == "string"
	case bool:
		return t == "boolean"
	}
	return false
}

// canonicalInt rewrites an integral number that is not written as plain
// digits (1.0, 1e3) as plain digits. It reports false when n is already
// canonical, not integral, or beyond int64.
func canonicalInt(n json.Number) (json.Number, bool) {
	if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return n, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		return n, false
	}
	return json.Number(strconv.FormatInt(int64(f), 10)), true
}

var patternCache sync.Map // string -> *regexp.Regexp

func patternMatch(p, s string) bool {
	if p == ".*" {
		return true
	}
	re, ok := patternCache.Load(p)
	if !ok {
		c, err := regexp.Compile(p)
		if err != nil {
			return false
		}
		re, _ = patternCache.LoadOrStore(p, c)
	}
	return re.(*regexp.Regexp).MatchString(s)
}

// propertySchema is the schema an object schema s gives its property k:
// properties, then the first matching patternProperties, then
// additionalProperties (nil when none applies).
func propertySchema(s map[string]any, k string) map[string]any {
	props, _ := s["properties"].(map[string]any)
	if sub, _ := props[k].(map[string]any); sub != nil {
		return sub
	}
	pats, _ := s["patternProperties"].(map[string]any)
	for p, ps := range pats {
		if patternMatch(p, k) {
			sub, _ := ps.(map[string]any)
			return sub
		}
	}
	addl, _ := s["additionalProperties"].(map[string]any)
	return addl
}
