package plugins

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/resource"
)

// This file holds the Lua semantics the checks depend on: how cjson
// decoded a value (its Lua type, its truthiness) and how cjson prints one
// back.

// isTable reports whether v decodes to a Lua table (a JSON object or array).
func isTable(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

var (
	luaType = resource.LuaType   // Lua's type() of a cjson-decoded value
	truthy  = resource.LuaTruthy // present and not false (null is truthy)
)

// number returns conf[key] when it is a number (Lua type "number").
func number(conf map[string]any, key string) (float64, bool) {
	n, ok := conf[key].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// cjsonEncode prints a scalar as cjson.encode does: numbers with "%.14g",
// strings with cjson's escapes ("/" included), null as null.
func cjsonEncode(v any) string {
	switch x := v.(type) {
	case string:
		return cjsonString(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return string(x)
		}
		return luaNumber(f)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func cjsonString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '/':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				sb.WriteString(`\u00`)
				sb.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
				sb.WriteString(strconv.FormatUint(uint64(c)&0xf, 16))
				continue
			}
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// luaNumber is LuaJIT's "%.14g".
func luaNumber(f float64) string {
	switch {
	case math.IsInf(f, 0) || math.IsNaN(f):
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}
