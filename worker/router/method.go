package router

import "fmt"

// methodBit maps the methods APISIX's route schema allows to radixtree's
// bitmask. Any other request method gets 0, which no method-restricted
// route accepts (radixtree does the same with an unknown name).
func methodBit(m string) uint16 {
	switch m {
	case "GET":
		return 1 << 0
	case "POST":
		return 1 << 1
	case "PUT":
		return 1 << 2
	case "DELETE":
		return 1 << 3
	case "PATCH":
		return 1 << 4
	case "HEAD":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "CONNECT":
		return 1 << 7
	case "TRACE":
		return 1 << 8
	case "PURGE":
		return 1 << 9
	}
	return 0
}

// methodMask compiles a route's methods; empty = any (mask 0). Names are
// case-sensitive, as in the schema's enum: radixtree fails on "get".
func methodMask(methods []string) (uint16, error) {
	var mask uint16
	for _, m := range methods {
		b := methodBit(m)
		if b == 0 {
			return 0, fmt.Errorf("invalid method %q", m)
		}
		mask |= b
	}
	return mask, nil
}
