package resource

import (
	"encoding/json"
	"fmt"
	"strings"
)

// checkVars compiles a route's vars like lua-resty-expr's expr.new does
// (spec 4.4), reporting its errors as "failed to validate the 'vars'
// expression: <err>". Evaluation is the router's job.
func checkVars(vars []any) *Error {
	if msg := compileExprRoot(vars); msg != "" {
		return checkErr("/vars", "failed to validate the 'vars' expression: "+msg)
	}
	if msg := checkPostArgs(vars); msg != "" {
		return checkErr("/vars", "failed to validate the 'vars' expression: "+msg)
	}
	return nil
}

var exprLogicOps = map[string]bool{"AND": true, "OR": true, "!AND": true, "!OR": true}

var exprCompareOps = map[string]bool{
	"==": true, "~=": true, ">": true, ">=": true, "<": true, "<=": true,
	"~~": true, "~*": true, "in": true, "has": true, "ipmatch": true,
}

// luaString is tostring for the scalar types str_upper/str_lower accept.
func luaString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return luaNumber(x), true
	}
	return "", false
}

func compileExprRoot(rule []any) string {
	if len(rule) == 0 {
		return ""
	}
	if !isTable(rule[0]) {
		op, _ := luaString(rule[0])
		if !exprLogicOps[strings.ToUpper(op)] {
			return "rule should be wrapped inside brackets"
		}
	}
	return compileExpr(rule)
}

func isTable(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

func compileExpr(v any) string {
	rules, ok := v.([]any)
	if !ok || len(rules) == 0 {
		if _, isObj := v.(map[string]any); isObj || ok {
			return "rule too short"
		}
		return "invalid expression"
	}
	if isTable(rules[0]) {
		for _, r := range rules {
			if msg := compileExpr(r); msg != "" {
				return msg
			}
		}
		return ""
	}
	if op, ok := luaString(rules[0]); ok && exprLogicOps[strings.ToUpper(op)] {
		if len(rules) <= 2 {
			return "rule too short"
		}
		for _, r := range rules[1:] {
			if msg := compileExpr(r); msg != "" {
				return msg
			}
		}
		return ""
	}
	return compileCond(rules)
}

// compileCond is compile_expr: [var, op, val], [var, "!", op, val] or the
// two-element shorthand [var, val] meaning ==.
func compileCond(expr []any) string {
	var args [3]any
	var have [3]bool
	get := func(i int) (any, bool) {
		if i < len(expr) {
			return expr[i], true
		}
		return nil, false
	}
	if len(expr) == 4 {
		if s, _ := expr[1].(string); s != "!" {
			return "bad 'not' expression"
		}
		args[0], have[0] = get(0)
		args[1], have[1] = get(2)
		args[2], have[2] = get(3)
	} else {
		for i := range args {
			args[i], have[i] = get(i)
		}
	}
	opStr := ""
	if have[1] {
		s, ok := luaString(args[1])
		if !ok {
			return "invalid expression"
		}
		opStr = strings.ToLower(s)
	}
	if !have[2] && !exprCompareOps[opStr] {
		// Shorthand [var, value]: value compared with ==.
		if !have[1] {
			return "invalid expression"
		}
		args[2], have[2] = args[1], true
		opStr = "=="
	}
	if !have[0] {
		return "invalid expression"
	}
	if !exprCompareOps[opStr] {
		return "invalid operator '" + opStr + "'"
	}
	if opStr == "ipmatch" {
		return checkIPMatch(args[2])
	}
	return ""
}

func checkIPMatch(v any) string {
	var list []any
	switch x := v.(type) {
	case string:
		if x == "" {
			return "invalid ip address"
		}
		list = []any{x}
	case []any:
		list = x
	case nil:
		return "invalid ip address"
	default:
		list = []any{x}
	}
	if len(list) == 0 {
		return "invalid ip address"
	}
	for _, item := range list {
		s, _ := item.(string)
		if !validCIDROrIP(s) {
			return fmt.Sprintf("invalid ip address: %v", item)
		}
	}
	return ""
}

// checkPostArgs checks that post_arg.<path> variables name a usable JSON
// path. APISIX runs a JSONPath parser; this is a structural subset: the
// path must be non-empty, not end with "." and have balanced brackets.
func checkPostArgs(v any) string {
	node, ok := v.([]any)
	if !ok {
		return ""
	}
	if len(node) >= 3 {
		if s, ok := node[0].(string); ok && strings.HasPrefix(s, "post_arg.") {
			return checkJSONPath(s[len("post_arg."):])
		}
	}
	for _, child := range node {
		if msg := checkPostArgs(child); msg != "" {
			return msg
		}
	}
	return ""
}

func checkJSONPath(p string) string {
	if p == "" || strings.HasSuffix(p, ".") {
		return "invalid JSON path: " + p
	}
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '[':
			depth++
		case ']':
			if depth--; depth < 0 {
				return "invalid JSON path: " + p
			}
		}
	}
	if depth != 0 {
		return "invalid JSON path: " + p
	}
	return ""
}
