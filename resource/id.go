package resource

import (
	"encoding/json"
	"math"
	"strconv"
)

// MaxIDLen is the longest string id APISIX accepts.
const MaxIDLen = 64

// ErrBadID is APISIX's text for an id (URL segment or body) that breaks the
// id rules (spec 3.4).
const ErrBadID = `invalid configuration: property "id" validation failed: object matches none of the required`

// ValidID checks an id taken from a URL path segment: 1..64 characters of
// [a-zA-Z0-9-_.]. (A URL id is always a string; a numeric body id is checked
// by the schema, where an integer >= 1 is also accepted.)
func ValidID(id string) error {
	if len(id) < 1 || len(id) > MaxIDLen {
		return &Error{Reason: ReasonSchema, Path: "/id", Detail: ErrBadID[len(invalidConf):], msg: ErrBadID}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return &Error{Reason: ReasonSchema, Path: "/id", Detail: ErrBadID[len(invalidConf):], msg: ErrBadID}
		}
	}
	return nil
}

// IDString renders an id value the way Lua's tostring does, for comparing
// URL ids with body ids and for building etcd keys: strings unchanged,
// integers in decimal. Nil gives "".
func IDString(id any) string {
	switch v := id.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case json.Number:
		return luaNumber(v)
	case float64:
		return formatLuaNumber(v)
	}
	return ""
}

// idValue converts a decoded id (string or json.Number) to the form typed
// objects carry: string, or int64 for integers. Integers beyond int64 stay
// json.Number.
func idValue(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
		return x
	}
	return v
}
