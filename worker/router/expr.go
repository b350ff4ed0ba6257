package router

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// expr is a compiled lua-resty-expr (v1) rule. Everything that can fail is
// done at Build time: operator names, the 2-element compatibility form,
// right-hand numbers, regexps and IP lists. Evaluation only reads.
type expr struct {
	logic logicOp
	kids  []*expr // groups

	// leaves
	name string
	op   cmpOp
	not  bool // [var, "!", op, value]
	rk   rkind
	rs   string   // rk == rString
	rn   float64  // rk == rNumber
	rnum float64  // tonumber(right side), for > >= < <=
	rnOK bool     // tonumber(right side) succeeded
	in   []string // `in`: the string elements of the right-side array
	re   *regexp.Regexp
	ips  *ipSet
}

type logicOp uint8

const (
	leaf logicOp = iota
	logicAnd
	logicOr
	logicNotAnd
	logicNotOr
)

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opRe
	opReI
	opIn
	opHas
	opIPMatch
)

var cmpOps = map[string]cmpOp{
	"==": opEq, "~=": opNe, ">": opGt, ">=": opGe, "<": opLt, "<=": opLe,
	"~~": opRe, "~*": opReI, "in": opIn, "has": opHas, "ipmatch": opIPMatch,
}

var logicOps = map[string]logicOp{
	"AND": logicAnd, "OR": logicOr, "!AND": logicNotAnd, "!OR": logicNotOr,
}

// rkind is the Lua type of the right-hand value. JSON null is nil: expr
// maps ngx.null to nil before comparing.
type rkind uint8

const (
	rNil rkind = iota
	rString
	rNumber
	rBool
	rTable
)

// exprCompiler compiles vars for one Build. Tables often repeat the same
// regex on thousands of routes; compiled regexps are safe to share, so
// each source is compiled once.
type exprCompiler struct {
	res map[string]*regexp.Regexp
}

// compileVars is resty.expr.v1.new with a throwaway compiler.
func compileVars(rule []any) (*expr, error) {
	return new(exprCompiler).vars(rule)
}

// vars is resty.expr.v1.new. nil or [] means no condition (nil). The error
// texts are lua-resty-expr's.
func (ec *exprCompiler) vars(rule []any) (*expr, error) {
	if len(rule) == 0 {
		return nil, nil
	}
	if _, isTable := jsonList(rule[0]); !isTable {
		s, ok := luaString(rule[0])
		if !ok {
			return nil, errors.New("invalid expression")
		}
		if _, ok := logicOps[strings.ToUpper(s)]; !ok {
			return nil, errors.New("rule should be wrapped inside brackets")
		}
	}
	return ec.rule(rule)
}

func (ec *exprCompiler) rule(rules []any) (*expr, error) {
	if len(rules) == 0 {
		return nil, errors.New("rule too short")
	}
	if _, isTable := jsonList(rules[0]); isTable {
		// A list of rules, ANDed.
		g := &expr{logic: logicAnd}
		for _, r := range rules {
			k, err := ec.child(r)
			if err != nil {
				return nil, err
			}
			g.kids = append(g.kids, k)
		}
		return g, nil
	}
	first, ok := luaString(rules[0])
	if !ok {
		return nil, errors.New("invalid expression")
	}
	if lop, ok := logicOps[strings.ToUpper(first)]; ok {
		if len(rules) <= 2 {
			return nil, errors.New("rule too short")
		}
		g := &expr{logic: lop}
		for _, r := range rules[1:] {
			k, err := ec.child(r)
			if err != nil {
				return nil, err
			}
			g.kids = append(g.kids, k)
		}
		return g, nil
	}
	return ec.leaf(rules)
}

func (ec *exprCompiler) child(v any) (*expr, error) {
	l, isTable := jsonList(v)
	if !isTable {
		return nil, errors.New("invalid expression")
	}
	return ec.rule(l)
}

// leaf is compile_expr: [var, op, value], [var, "!", op, value], and
// the compatibility form [var, value] meaning ==. In that form the value
// passes through string.lower like an operator name would, so
// ["http_x", "ABC"] compares with "abc" and a number with its string form.
func (ec *exprCompiler) leaf(e []any) (*expr, error) {
	x := &expr{}
	var lv, opv, rv any
	hasOp, hasR := len(e) >= 2, len(e) >= 3
	if len(e) == 4 {
		if s, ok := e[1].(string); !ok || s != "!" {
			return nil, errors.New("bad 'not' expression")
		}
		x.not = true
		lv, opv, rv = e[0], e[2], e[3]
	} else {
		lv = e[0]
		if hasOp {
			opv = e[1]
		}
		if hasR {
			rv = e[2]
		}
	}
	var op string
	if hasOp {
		s, ok := luaString(opv)
		if !ok {
			return nil, errors.New("invalid expression")
		}
		op = strings.ToLower(s)
	}
	if _, known := cmpOps[op]; !hasR && !known {
		if !hasOp {
			return nil, errors.New("invalid expression")
		}
		rv, hasR, op = op, true, "=="
	}
	name, ok := lv.(string)
	if !ok {
		return nil, errors.New("invalid expression")
	}
	x.name = name
	cop, ok := cmpOps[op]
	if !ok {
		return nil, fmt.Errorf("invalid operator '%s'", op)
	}
	x.op = cop
	if err := x.setRight(ec, rv, hasR); err != nil {
		return nil, err
	}
	return x, nil
}

// setRight classifies the right-hand value and precompiles what the
// operator needs from it.
func (x *expr) setRight(ec *exprCompiler, rv any, present bool) error {
	if s, ok := rv.(string); ok {
		x.rk, x.rs = rString, s
		x.rnum, x.rnOK = luaToNumber(s)
	} else if f, ok := jsonNumber(rv); ok {
		x.rk, x.rn, x.rnum, x.rnOK = rNumber, f, f, true
	} else if _, ok := rv.(bool); ok {
		x.rk = rBool
	} else if l, isTable := jsonList(rv); isTable {
		x.rk = rTable
		for _, el := range l {
			if s, ok := el.(string); ok {
				// Lua ==: only strings equal a string variable.
				x.in = append(x.in, s)
			}
		}
	}
	switch x.op {
	case opRe, opReI:
		src, ok := luaString(rv)
		if !ok {
			return fmt.Errorf("invalid regex: %v", rv)
		}
		if x.op == opReI {
			src = "(?i)" + src
		}
		if x.re = ec.res[src]; x.re != nil {
			break
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return fmt.Errorf("invalid regex '%s': %v", src, err)
		}
		if ec.res == nil {
			ec.res = map[string]*regexp.Regexp{}
		}
		ec.res[src], x.re = re, re
	case opIPMatch:
		if !present || rv == nil || rv == "" {
			return errors.New("invalid ip address")
		}
		var list []string
		if s, ok := rv.(string); ok {
			list = []string{s}
		} else if l, isTable := jsonList(rv); isTable {
			for _, el := range l {
				s, ok := el.(string)
				if !ok {
					return fmt.Errorf("invalid ip address: %v", el)
				}
				list = append(list, s)
			}
		} else {
			return fmt.Errorf("invalid ip address: %v", rv)
		}
		if len(list) == 0 {
			return errors.New("invalid ip address")
		}
		ips, err := parseIPSet(list)
		if err != nil {
			return err
		}
		x.ips = ips
	}
	return nil
}

// eval is lua-resty-expr's eval: groups short-circuit left to right, so a
// variable is resolved only if its condition is reached.
func (x *expr) eval(req *Request) bool {
	switch x.logic {
	case leaf:
		return x.test(req) != x.not
	case logicAnd:
		return x.all(req)
	case logicOr:
		return x.any(req)
	case logicNotAnd:
		return !x.all(req)
	default:
		return !x.any(req)
	}
}

func (x *expr) all(req *Request) bool {
	for _, k := range x.kids {
		if !k.eval(req) {
			return false
		}
	}
	return true
}

func (x *expr) any(req *Request) bool {
	for _, k := range x.kids {
		if k.eval(req) {
			return true
		}
	}
	return false
}

// test is compare_val for one leaf; a missing variable is Lua nil.
func (x *expr) test(req *Request) bool {
	if x.op == opHas {
		if req.VarList == nil || x.rk != rString {
			return false
		}
		l, ok := req.VarList(x.name)
		if !ok {
			return false
		}
		for _, v := range l {
			if v == x.rs {
				return true
			}
		}
		return false
	}
	var v string
	ok := false
	if req.Var != nil {
		v, ok = req.Var(x.name)
	}
	switch x.op {
	case opEq:
		if x.rk == rNumber {
			if !ok {
				return false
			}
			n, good := luaToNumber(v)
			return good && n == x.rn
		}
		switch x.rk {
		case rNil:
			return !ok
		case rString:
			return ok && v == x.rs
		}
		return false
	case opNe:
		if x.rk == rNumber {
			if !ok {
				return true
			}
			n, good := luaToNumber(v)
			return !good || n != x.rn
		}
		switch x.rk {
		case rNil:
			return ok
		case rString:
			return !ok || v != x.rs
		}
		return true
	case opGt, opGe, opLt, opLe:
		if !ok || !x.rnOK {
			return false
		}
		n, good := luaToNumber(v)
		if !good {
			return false
		}
		switch x.op {
		case opGt:
			return n > x.rnum
		case opGe:
			return n >= x.rnum
		case opLt:
			return n < x.rnum
		default:
			return n <= x.rnum
		}
	case opRe, opReI:
		return ok && x.re.MatchString(v)
	case opIn:
		if !ok {
			return false
		}
		for _, s := range x.in {
			if s == v {
				return true
			}
		}
		return false
	case opIPMatch:
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(v)
		return err == nil && a.Zone() == "" && x.ips.contains(a.Unmap())
	}
	return false
}

// Expr is a compiled vars expression used outside route matching (a
// plugin's `_meta.filter`); it evaluates exactly as a route's `vars`.
type Expr struct{ x *expr }

// CompileExpr compiles a lua-resty-expr rule.
func CompileExpr(rule []any) (*Expr, error) {
	x, err := compileVars(rule)
	if err != nil {
		return nil, err
	}
	return &Expr{x}, nil
}

// Eval reports whether the rule holds for req (an empty rule always holds).
func (e *Expr) Eval(req *Request) bool { return e.x == nil || e.x.eval(req) }
