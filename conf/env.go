package conf

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// varPattern is APISIX's ${{ NAME }} / ${{ NAME:=default }}: spaces allowed inside the
// braces, NAME is [A-Za-z0-9_]+, the default is trimmed. ${VAR} and $VAR never match: nginx
// owns those.
var varPattern = regexp.MustCompile(`\$\{\{\s*([A-Za-z0-9_]+)\s*(?::=(.*?))?\s*\}\}`)

// substituter replaces ${{VAR}} in the user document (after YAML parsing, before the merge).
type substituter struct {
	getenv func(string) (string, bool)
	used   map[string]bool // every variable name referenced, found or defaulted
	errs   *errs
}

// doc substitutes every key and string value of the user document in place.
func (s *substituter) doc(m map[string]any) {
	s.mapping(m, "")
}

func (s *substituter) mapping(m map[string]any, p path) {
	// Collect renames first: changing a map while ranging over it is unspecified.
	renamed := map[string]string{}
	for _, k := range sortedKeys(m) {
		nk, changed, ok := s.str(k, p.key(k))
		if ok && changed {
			renamed[k] = nk
		}
	}
	for _, old := range sortedKeys(renamed) {
		nk := renamed[old]
		if _, clash := m[nk]; clash {
			s.errs.add(p.key(old), "key becomes %q after substitution, which is already defined", nk)
			continue
		}
		m[nk] = m[old]
		delete(m, old)
	}
	for _, k := range sortedKeys(m) {
		m[k] = s.value(m[k], p.key(k))
	}
}

func (s *substituter) value(v any, p path) any {
	switch x := v.(type) {
	case map[string]any:
		s.mapping(x, p)
		return x
	case []any:
		for i, e := range x {
			x[i] = s.value(e, p.index(i))
		}
		return x
	case string:
		out, changed, ok := s.str(x, p)
		if !ok || !changed {
			return x
		}
		// APISIX: only a string that went through substitution is coerced.
		return coerce(out)
	default:
		return v
	}
}

// str expands one string. changed reports whether any ${{...}} was found; ok is false when a
// variable had neither a value nor a default (the error is recorded).
func (s *substituter) str(in string, p path) (out string, changed, ok bool) {
	if !strings.Contains(in, "${{") {
		return in, false, true
	}
	ok = true
	out = varPattern.ReplaceAllStringFunc(in, func(match string) string {
		sub := varPattern.FindStringSubmatch(match)
		name := sub[1]
		s.used[name] = true
		changed = true
		if v, found := s.getenv(name); found {
			return v
		}
		if strings.Contains(match, ":=") {
			return strings.TrimSpace(sub[2])
		}
		s.errs.add(p, "failed to handle configuration: can't find environment variable %s", name)
		ok = false
		return ""
	})
	return out, changed, ok
}

// coerce turns a substituted string into a number or boolean when the whole string is one,
// as APISIX does with Lua's tonumber (decimal, 0x hex, exponent; surrounding spaces ignored).
func coerce(s string) any {
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return s
	}
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		return int(i)
	}
	neg, digits := false, t
	if digits[0] == '-' || digits[0] == '+' {
		neg, digits = digits[0] == '-', digits[1:]
	}
	if strings.HasPrefix(digits, "0x") || strings.HasPrefix(digits, "0X") {
		if u, err := strconv.ParseUint(digits[2:], 16, 63); err == nil {
			if neg {
				return -int(u)
			}
			return int(u)
		}
		return s
	}
	// ParseFloat also takes "inf", "nan" and Go's 1_000 and hex-float forms; tonumber does not.
	lower := strings.ToLower(digits)
	if strings.ContainsAny(lower, "_inapx") {
		return s
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) {
		return f
	}
	return s
}
