package router

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// The vars operators are defined by Lua's value semantics; this file holds
// the few coercions they depend on, applied to decoded JSON.

// luaToNumber is LuaJIT's tonumber on a string: surrounding whitespace is
// ignored, decimal and 0x-hex forms (hex with optional fraction and p
// exponent) are numbers, overflow is ±inf, anything else is nil.
func luaToNumber(s string) (float64, bool) {
	s = strings.Trim(s, " \t\n\v\f\r")
	if s == "" || strings.IndexByte(s, '_') >= 0 {
		// strconv accepts Go digit separators; Lua does not.
		return 0, false
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	if len(body) >= 2 && body[0] == '0' && body[1]|0x20 == 'x' {
		if !strings.ContainsAny(body, "pP") {
			// Go wants a p exponent on hex mantissas; Lua does not.
			s += "p0"
		}
	} else if !decimalSyntax(body) {
		// Checked first so that the common non-numeric value costs no
		// strconv error allocation.
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// decimalSyntax accepts digits[.digits][e[+-]digits] with at least one
// mantissa digit, and inf/infinity/nan (LuaJIT's scanner knows them too).
func decimalSyntax(s string) bool {
	if strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") || strings.EqualFold(s, "nan") {
		return true
	}
	i, digits := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && s[i]|0x20 == 'e' {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, exp = i+1, exp+1
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// luaNumberString is Lua's number-to-string conversion ("%.14g"), used where
// lua-resty-expr calls string functions on a number.
func luaNumberString(f float64) string {
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// jsonNumber reports whether v is a Lua number once decoded: float64 from
// encoding/json, json.Number with UseNumber, or a Go integer from callers
// that build Vars by hand.
func jsonNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// jsonList returns v as a Lua array. JSON arrays decode to []any; callers
// may also pass typed slices. A JSON object is a Lua table too, but its
// array part is empty, so it comes back as an empty list with isTable set.
func jsonList(v any) (list []any, isTable bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case map[string]any:
		return nil, true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	case reflect.Map:
		return nil, true
	}
	return nil, false
}

// luaString is what string.lower/upper accept: strings, and numbers via
// their Lua string form. Anything else makes them raise.
func luaString(v any) (string, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	if f, ok := jsonNumber(v); ok {
		return luaNumberString(f), true
	}
	return "", false
}
