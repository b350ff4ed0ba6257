package balancer

import (
	"fmt"
	"hash/crc32"
	"strings"
)

// chashKey is the hash key of one chash upstream, prepared at New so that
// hashing a request allocates nothing: the key is hashed piecewise, never
// assembled.
type chashKey struct {
	on   string    // vars, header, cookie, consumer, vars_combinations
	name string    // variable for vars, header and cookie
	tpl  []tplPart // vars_combinations
}

// tplPart is a literal, or a variable with an optional default.
type tplPart struct {
	lit    string
	name   string
	def    string
	isVar  bool
	hasDef bool
}

func newCHashKey(hashOn, key string) (*chashKey, error) {
	if hashOn == "" {
		hashOn = "vars"
	}
	k := &chashKey{on: hashOn}
	switch hashOn {
	case "vars", "header", "cookie", "vars_combinations":
		if key == "" {
			return nil, fmt.Errorf("balancer: key: missing key (required for hash_on %s)", hashOn)
		}
	case "consumer":
		return k, nil
	default:
		return nil, fmt.Errorf("balancer: hash_on: unsupported %q (want vars, header, cookie, consumer or vars_combinations)", hashOn)
	}
	switch hashOn {
	case "vars":
		k.name = key
	case "header":
		// nginx's $http_<name>: lower case, '-' as '_'.
		k.name = "http_" + strings.ReplaceAll(strings.ToLower(key), "-", "_")
	case "cookie":
		k.name = "cookie_" + key
	case "vars_combinations":
		k.tpl = parseTemplate(key)
	}
	return k, nil
}

// hash returns crc32 of the request's key, falling back to the client
// address when the key is absent or empty.
func (k *chashKey) hash(req *Request) uint32 {
	if req == nil {
		return 0
	}
	switch k.on {
	case "consumer":
		if req.Consumer != "" {
			return crcString(0, req.Consumer)
		}
	case "vars_combinations":
		if h, ok := k.hashTemplate(req); ok {
			return h
		}
	default:
		if req.Var != nil {
			if v, ok := req.Var(k.name); ok && v != "" {
				return crcString(0, v)
			}
		}
	}
	return crcString(0, req.RemoteAddr)
}

// hashTemplate hashes the resolved template as APISIX's
// core.utils.resolve_var renders it: an absent variable renders empty
// (or its default). ok is false when no variable resolved or the result
// is empty, as APISIX then falls back to remote_addr.
func (k *chashKey) hashTemplate(req *Request) (h uint32, ok bool) {
	resolved, length := 0, 0
	for i := range k.tpl {
		part := &k.tpl[i]
		s := part.lit
		if part.isVar {
			v, found := "", false
			if req.Var != nil {
				v, found = req.Var(part.name)
			}
			if !found {
				if !part.hasDef {
					continue
				}
				v = part.def
			}
			resolved++
			s = v
		}
		h = crcString(h, s)
		length += len(s)
	}
	return h, resolved > 0 && length > 0
}

// parseTemplate splits a vars_combinations key the way resolve_var's
// pattern (?<!\\)\$(\{\s*([^}]+?)\s*\}|([\w\.]+)) does: $name or
// ${ name ?? default }; a '$' after a backslash, or followed by neither,
// stays literal (the backslash too).
func parseTemplate(tpl string) []tplPart {
	var parts []tplPart
	lit := 0 // start of the pending literal
	flush := func(end int) {
		if end > lit {
			parts = append(parts, tplPart{lit: tpl[lit:end]})
		}
	}
	for i := 0; i < len(tpl); i++ {
		if tpl[i] != '$' || (i > 0 && tpl[i-1] == '\\') {
			continue
		}
		var v tplPart
		end := -1
		if i+1 < len(tpl) && tpl[i+1] == '{' {
			if j := strings.IndexByte(tpl[i+2:], '}'); j > 0 {
				end = i + 2 + j + 1
				v = braceVar(tpl[i+2 : i+2+j])
			}
		}
		if end < 0 {
			j := i + 1
			for j < len(tpl) && isVarChar(tpl[j]) {
				j++
			}
			if j > i+1 {
				end = j
				v = tplPart{name: tpl[i+1 : j]}
			}
		}
		if end < 0 {
			continue // a lone '$' is literal
		}
		flush(i)
		v.isVar = true
		parts = append(parts, v)
		lit = end
		i = end - 1
	}
	flush(len(tpl))
	return parts
}

// braceVar parses the inside of ${...}: "name" or "name ?? default".
func braceVar(in string) tplPart {
	in = strings.Trim(in, " \t\n\r\f\v")
	name, def, hasDef := strings.Cut(in, "??")
	v := tplPart{name: strings.TrimRight(name, " \t\n\r\f\v")}
	if hasDef {
		def = strings.TrimLeft(def, " \t\n\r\f\v")
		if d, _, more := strings.Cut(def, "??"); more {
			def = strings.TrimRight(d, " \t\n\r\f\v")
		}
		v.def, v.hasDef = def, true
	}
	return v
}

func isVarChar(c byte) bool {
	return c == '_' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// crcString continues the IEEE CRC-32 crc over s, as crc32.Update does over
// a byte slice, without converting s.
func crcString(crc uint32, s string) uint32 {
	crc = ^crc
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}
