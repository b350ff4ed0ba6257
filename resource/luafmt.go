package resource

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// This file reproduces how LuaJIT prints values, because APISIX's error texts
// are built with Lua's string.format / tostring.

// luaQuote is LuaJIT's string.format("%q", s): double quotes; `"`, `\` and
// newline escaped with a backslash (newline stays a real newline); other
// control characters as decimal escapes (\0, \13, three digits when a digit
// follows).
func luaQuote(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + 2)
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '\n':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			sb.WriteByte('\\')
			nextDigit := i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'
			if nextDigit {
				sb.WriteString(strconv.Itoa(int(c) + 1000)[1:]) // zero-padded to 3 digits
			} else {
				sb.WriteString(strconv.Itoa(int(c)))
			}
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// formatLuaNumber is LuaJIT's tostring for a number ("%.14g").
func formatLuaNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// luaNumber formats a JSON number the way Lua prints it after cjson decoded it.
func luaNumber(n json.Number) string {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return string(n)
	}
	return formatLuaNumber(f)
}

// LuaType is Lua's type() of a value decoded by cjson: objects and arrays are
// both "table", JSON null is cjson.null, a "userdata". Plugin checks use it
// for APISIX's "got <type>" texts.
func LuaType(v any) string { return luaType(v) }

func luaType(v any) string {
	switch v.(type) {
	case map[string]any, []any:
		return "table"
	case string:
		return "string"
	case json.Number, float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "userdata"
	}
	return "userdata"
}

// LuaTruthy reports whether obj[key] is truthy in Lua: present and not false
// (JSON null decodes to cjson.null, which is truthy).
func LuaTruthy(obj map[string]any, key string) bool { return luaTruthy(obj, key) }

func luaTruthy(obj map[string]any, key string) bool {
	v, ok := obj[key]
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	return !isBool || b
}
