package router

import (
	"encoding/json"
	"testing"
)

// ecase is one vars evaluation: rule (a whole `vars` value) against
// variables; a nil vars map means Request.Var is nil.
type ecase struct {
	rule  []any
	vars  map[string]string
	lists map[string][]string
	want  bool
}

func runExpr(t *testing.T, cases []ecase) {
	t.Helper()
	for i, c := range cases {
		x, err := compileVars(c.rule)
		if err != nil {
			t.Fatalf("#%d %v: compile: %v", i, c.rule, err)
		}
		req := rq{vars: c.vars, lists: c.lists}.request()
		got := x == nil || x.eval(req)
		if got != c.want {
			t.Errorf("#%d %s with %v %v: got %v, want %v", i, js(c.rule), c.vars, c.lists, got, c.want)
		}
	}
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

// one wraps a single condition as a vars value.
func one(cond ...any) []any { return []any{cond} }

func kv(kvs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kvs); i += 2 {
		m[kvs[i]] = kvs[i+1]
	}
	return m
}

var none = map[string]string{}

// withNegations adds, for every single-condition case, the same case
// negated with "!" and the opposite expectation: negation applies after
// the comparison, missing variables included.
func withNegations(cases []ecase) []ecase {
	out := append([]ecase{}, cases...)
	for _, c := range cases {
		if len(c.rule) != 1 {
			continue
		}
		cond, _ := c.rule[0].([]any)
		if len(cond) != 3 {
			continue
		}
		out = append(out, ecase{rule: one(cond[0], "!", cond[1], cond[2]), vars: c.vars, lists: c.lists, want: !c.want})
	}
	return out
}

func TestExprEqualString(t *testing.T) {
	runExpr(t, withNegations([]ecase{
		{one("arg_x", "==", "json"), kv("arg_x", "json"), nil, true},
		{one("arg_x", "==", "json"), kv("arg_x", "JSON"), nil, false},
		{one("arg_x", "==", "json"), kv("arg_x", "json "), nil, false},
		{one("arg_x", "==", "json"), none, nil, false},
		{one("arg_x", "==", "json"), nil, nil, false},
		{one("arg_x", "==", ""), kv("arg_x", ""), nil, true},
		{one("arg_x", "==", ""), none, nil, false},
		{one("arg_x", "==", "18"), kv("arg_x", "18.0"), nil, false},
		{one("arg_x", "~=", "json"), kv("arg_x", "json"), nil, false},
		{one("arg_x", "~=", "json"), kv("arg_x", "xml"), nil, true},
		{one("arg_x", "~=", "json"), none, nil, true},
		{one("arg_x", "~=", ""), kv("arg_x", ""), nil, false},
		// JSON null on the right is nil: == nil means "missing".
		{one("arg_x", "==", nil), none, nil, true},
		{one("arg_x", "==", nil), kv("arg_x", ""), nil, false},
		{one("arg_x", "~=", nil), none, nil, false},
		{one("arg_x", "~=", nil), kv("arg_x", "1"), nil, true},
		// Booleans and tables never equal a string variable.
		{one("arg_x", "==", true), kv("arg_x", "true"), nil, false},
		{one("arg_x", "~=", true), kv("arg_x", "true"), nil, true},
		{one("arg_x", "==", []any{"a"}), kv("arg_x", "a"), nil, false},
		{one("arg_x", "~=", []any{"a"}), kv("arg_x", "a"), nil, true},
		{one("arg_x", "~=", false), none, nil, true},
	}))
}

// lefts maps a variable value to its Lua tonumber (ok=false: nil).
var numLefts = []struct {
	s  string
	n  float64
	ok bool
}{
	{"-1", -1, true}, {"0", 0, true}, {"1", 1, true}, {"1.5", 1.5, true}, {"2", 2, true},
	{"10", 10, true}, {"  3 ", 3, true}, {"0x10", 16, true}, {"1e1", 10, true}, {".5", 0.5, true},
	{"+2", 2, true}, {"1_0", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1e", 0, false},
	{"0x", 0, false}, {"12abc", 0, false}, {"--1", 0, false}, {"\t16\n", 16, true}, {"0X1p4", 16, true},
}

// The numeric grid: every left value (and a missing one) against number
// and string right sides, for == ~= > >= < <=, checked against Lua's rules
// computed independently here.
func TestExprNumericGrid(t *testing.T) {
	rights := []any{0.0, 1.0, 1.5, 2.0, 10.0, 16.0, -1.0, "1", "10", "x", "0x10", 3}
	ops := []string{"==", "~=", ">", ">=", "<", "<="}
	var cases []ecase
	for _, op := range ops {
		for _, r := range rights {
			rn, rIsNum := jsonNumber(r)
			rs, _ := r.(string)
			rnum, rnumOK := rn, rIsNum
			if !rIsNum {
				rnum, rnumOK = map[string]float64{"1": 1, "10": 10, "0x10": 16}[rs], rs != "x"
			}
			for _, l := range append(numLefts, struct {
				s  string
				n  float64
				ok bool
			}{"<missing>", 0, false}) {
				missing := l.s == "<missing>"
				vars := kv("v", l.s)
				if missing {
					vars = none
				}
				var want bool
				switch op {
				case "==":
					if rIsNum {
						want = !missing && l.ok && l.n == rn
					} else {
						want = !missing && l.s == rs
					}
				case "~=":
					if rIsNum {
						want = missing || !l.ok || l.n != rn
					} else {
						want = missing || l.s != rs
					}
				default:
					if missing || !l.ok || !rnumOK {
						want = false
						break
					}
					want = map[string]bool{">": l.n > rnum, ">=": l.n >= rnum, "<": l.n < rnum, "<=": l.n <= rnum}[op]
				}
				cases = append(cases, ecase{one("v", op, r), vars, nil, want})
			}
		}
	}
	if len(cases) < 1000 {
		t.Fatalf("grid too small: %d", len(cases))
	}
	runExpr(t, withNegations(cases))
}

func TestExprRegex(t *testing.T) {
	runExpr(t, withNegations([]ecase{
		{one("uri", "~~", "^/api/v[0-9]+$"), kv("uri", "/api/v12"), nil, true},
		{one("uri", "~~", "^/api/v[0-9]+$"), kv("uri", "/api/v12/x"), nil, false},
		{one("uri", "~~", "v[0-9]"), kv("uri", "/api/v1/x"), nil, true}, // unanchored find
		{one("uri", "~~", "API"), kv("uri", "/api"), nil, false},
		{one("uri", "~*", "API"), kv("uri", "/api"), nil, true},
		{one("uri", "~*", "^/Api/V\\d$"), kv("uri", "/aPI/v3"), nil, true},
		{one("uri", "~~", "x"), none, nil, false},
		{one("uri", "~*", "x"), none, nil, false},
		{one("uri", "~~", ""), kv("uri", ""), nil, true},
		{one("uri", "~~", "^$"), kv("uri", "a"), nil, false},
		{one("arg_n", "~~", 12), kv("arg_n", "x12y"), nil, true}, // a number is used as its string
		{one("arg_n", "~~", 12), kv("arg_n", "1 2"), nil, false},
		{one("h", "~~", "a|b"), kv("h", "zzb"), nil, true},
		{one("h", "~~", "[[:digit:]]{3}"), kv("h", "ab123"), nil, true},
		{one("h", "~~", "^\\w+@\\w+\\.com$"), kv("h", "me@x.com"), nil, true},
		{one("h", "~~", "^\\w+@\\w+\\.com$"), kv("h", "me@x.org"), nil, false},
		{one("h", "~~", "."), kv("h", "\n"), nil, false},
	}))
}

func TestExprInHas(t *testing.T) {
	runExpr(t, withNegations([]ecase{
		{one("v", "in", []any{"a", "b"}), kv("v", "a"), nil, true},
		{one("v", "in", []any{"a", "b"}), kv("v", "c"), nil, false},
		{one("v", "in", []any{"a", "b"}), none, nil, false},
		{one("v", "in", []any{1.0, 2.0}), kv("v", "1"), nil, false}, // Lua: "1" ~= 1
		{one("v", "in", []any{"1", 2.0}), kv("v", "1"), nil, true},
		{one("v", "in", []any{}), kv("v", "a"), nil, false},
		{one("v", "in", "a"), kv("v", "a"), nil, false}, // right side not a table
		{one("v", "in", map[string]any{"a": "a"}), kv("v", "a"), nil, false},
		{one("v", "in", []string{"x", "y"}), kv("v", "y"), nil, true},
		{one("v", "IN", []any{"a"}), kv("v", "a"), nil, true},
		{one("f", "has", "x"), none, map[string][]string{"f": {"x", "y"}}, true},
		{one("f", "has", "z"), none, map[string][]string{"f": {"x", "y"}}, false},
		{one("f", "HAS", "y"), none, map[string][]string{"f": {"x", "y"}}, true},
		{one("f", "has", "x"), none, map[string][]string{"g": {"x"}}, false},
		{one("f", "has", "x"), kv("f", "x"), nil, false}, // a string is not a table
		{one("f", "has", 1.0), none, map[string][]string{"f": {"1"}}, false},
		{one("f", "has", "x"), none, map[string][]string{"f": {}}, false},
	}))
}

func TestExprIPMatch(t *testing.T) {
	v4 := []any{"10.0.0.0/8", "192.168.1.1"}
	v6 := []any{"2001:db8::/32", "::1"}
	runExpr(t, withNegations([]ecase{
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "10.1.2.3"), nil, true},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "192.168.1.1"), nil, true},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "192.168.1.2"), nil, false},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "11.0.0.1"), nil, false},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "::ffff:10.0.0.1"), nil, true},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "2001:db8::1"), nil, false},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", "not-an-ip"), nil, false},
		{one("remote_addr", "ipmatch", v4), kv("remote_addr", ""), nil, false},
		{one("remote_addr", "ipmatch", v4), none, nil, false},
		{one("remote_addr", "ipmatch", v6), kv("remote_addr", "2001:db8:1::1"), nil, true},
		{one("remote_addr", "ipmatch", v6), kv("remote_addr", "::1"), nil, true},
		{one("remote_addr", "ipmatch", v6), kv("remote_addr", "::2"), nil, false},
		{one("remote_addr", "ipmatch", v6), kv("remote_addr", "10.0.0.1"), nil, false},
		{one("remote_addr", "ipmatch", v6), kv("remote_addr", "2001:db8::1%eth0"), nil, false},
		{one("remote_addr", "ipmatch", "127.0.0.1"), kv("remote_addr", "127.0.0.1"), nil, true},
		{one("remote_addr", "IPMATCH", "127.0.0.0/24"), kv("remote_addr", "127.0.0.9"), nil, true},
		{one("http_x_real_ip", "ipmatch", []any{"0.0.0.0/0", "::/0"}), kv("http_x_real_ip", "8.8.8.8"), nil, true},
		{one("http_x_real_ip", "ipmatch", []any{"0.0.0.0/0", "::/0"}), kv("http_x_real_ip", "2606:4700::1"), nil, true},
	}))
}

// The 2-element form [var, value] is ==, with the value passed through
// string.lower (so a number becomes its string form) - lua-resty-expr's
// compatibility path. A 2-element [var, op] keeps op with a nil right side.
func TestExprTwoElement(t *testing.T) {
	runExpr(t, []ecase{
		{one("arg_x", "json"), kv("arg_x", "json"), nil, true},
		{one("arg_x", "JSON"), kv("arg_x", "json"), nil, true},
		{one("arg_x", "JSON"), kv("arg_x", "JSON"), nil, false},
		{one("arg_x", "json"), none, nil, false},
		{one("arg_x", 18.0), kv("arg_x", "18"), nil, true},
		{one("arg_x", 18.0), kv("arg_x", "18.0"), nil, false}, // string compare with "18"
		{one("arg_x", 1.5), kv("arg_x", "1.5"), nil, true},
		{one("arg_x", "=="), none, nil, true},
		{one("arg_x", "=="), kv("arg_x", "a"), nil, false},
		{one("arg_x", "~="), kv("arg_x", "a"), nil, true},
		{one("arg_x", "in"), kv("arg_x", "a"), nil, false},
		{one("arg_x", ">"), kv("arg_x", "5"), nil, false},
	})
}

// Groups: AND/OR/!AND/!OR in any case, nested, with at least two children;
// a top-level list is an AND.
func TestExprLogic(t *testing.T) {
	a1 := []any{"a", "==", "1"}
	b1 := []any{"b", "==", "1"}
	c1 := []any{"c", "==", "1"}
	var cases []ecase
	for _, av := range []string{"0", "1"} {
		for _, bv := range []string{"0", "1"} {
			for _, cv := range []string{"0", "1"} {
				vars := kv("a", av, "b", bv, "c", cv)
				a, b, c := av == "1", bv == "1", cv == "1"
				cases = append(cases,
					ecase{[]any{a1, b1}, vars, nil, a && b},
					ecase{[]any{a1, b1, c1}, vars, nil, a && b && c},
					ecase{[]any{"AND", a1, b1}, vars, nil, a && b},
					ecase{[]any{"and", a1, b1, c1}, vars, nil, a && b && c},
					ecase{[]any{"OR", a1, b1}, vars, nil, a || b},
					ecase{[]any{"Or", a1, b1, c1}, vars, nil, a || b || c},
					ecase{[]any{"!AND", a1, b1}, vars, nil, !(a && b)},
					ecase{[]any{"!and", a1, b1, c1}, vars, nil, !(a && b && c)},
					ecase{[]any{"!OR", a1, b1}, vars, nil, !(a || b)},
					ecase{[]any{"!Or", a1, b1, c1}, vars, nil, !(a || b || c)},
					ecase{[]any{"OR", []any{"AND", a1, b1}, c1}, vars, nil, (a && b) || c},
					ecase{[]any{"AND", []any{"OR", a1, b1}, c1}, vars, nil, (a || b) && c},
					ecase{[]any{a1, []any{"OR", b1, c1}}, vars, nil, a && (b || c)},
					ecase{[]any{[]any{"!OR", a1, b1}, c1}, vars, nil, !(a || b) && c},
					ecase{[]any{"OR", []any{a1, b1}, c1}, vars, nil, (a && b) || c},
					ecase{[]any{"!AND", []any{"!OR", a1, []any{"AND", b1, c1}}, c1}, vars, nil, !(!(a || (b && c)) && c)},
					ecase{[]any{"OR", []any{"a", "!", "==", "1"}, b1}, vars, nil, !a || b},
					ecase{[]any{"AND", []any{"OR", []any{"OR", a1, b1}, c1}, []any{"!AND", a1, c1}}, vars, nil, (a || b || c) && !(a && c)},
				)
			}
		}
	}
	runExpr(t, cases)
}

// Evaluation short-circuits: a variable behind a decided AND/OR is never
// resolved (it may read the request body).
func TestExprLazy(t *testing.T) {
	for _, c := range []struct {
		rule  []any
		calls int
	}{
		{[]any{[]any{"a", "==", "0"}, []any{"b", "==", "1"}}, 1},
		{[]any{"OR", []any{"a", "==", "1"}, []any{"b", "==", "1"}}, 1},
		{[]any{"AND", []any{"a", "==", "0"}, []any{"b", "==", "1"}}, 1},
		{[]any{"!OR", []any{"a", "==", "1"}, []any{"b", "==", "1"}}, 1},
		{[]any{"OR", []any{"a", "==", "0"}, []any{"b", "==", "1"}}, 2},
	} {
		x, err := compileVars(c.rule)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		x.eval(&Request{Var: func(string) (string, bool) { calls++; return "1", true }})
		if calls != c.calls {
			t.Errorf("%s: %d Var calls, want %d", js(c.rule), calls, c.calls)
		}
	}
}

// Vars through the router, from JSON as the Admin API stores it.
func TestExprFromJSON(t *testing.T) {
	for i, c := range []struct {
		json string
		vars map[string]string
		want bool
	}{
		{`[["arg_name","==","json"],["arg_age",">",18]]`, kv("arg_name", "json", "arg_age", "19"), true},
		{`[["arg_name","==","json"],["arg_age",">",18]]`, kv("arg_name", "json", "arg_age", "18"), false},
		{`[["arg_name","==","json"],["arg_age",">",18]]`, kv("arg_name", "json"), false},
		{`[["http_x_env","IN",["dev","stage"]]]`, kv("http_x_env", "stage"), true},
		{`[["cookie_a","!","~~","^x"]]`, kv("cookie_a", "yz"), true},
		{`[["cookie_a","!","~~","^x"]]`, none, true},
		{`["OR",["arg_a","==","1"],["arg_b","==","1"]]`, kv("arg_b", "1"), true},
		{`[["arg_k","==",null]]`, none, true},
		{`[]`, none, true},
		{`[["remote_addr","ipmatch",["127.0.0.1","::1"]]]`, kv("remote_addr", "::1"), true},
	} {
		var vars []any
		if err := json.Unmarshal([]byte(c.json), &vars); err != nil {
			t.Fatal(err)
		}
		r := mustBuild(t, URI, rt("v", "/v").vars(vars...))
		_, ok := r.Match(rq{path: "/v", vars: c.vars}.request())
		if ok != c.want {
			t.Errorf("#%d %s %v: matched=%v, want %v", i, c.json, c.vars, ok, c.want)
		}
	}
}

func TestLuaToNumber(t *testing.T) {
	for _, l := range numLefts {
		n, ok := luaToNumber(l.s)
		if ok != l.ok || ok && n != l.n {
			t.Errorf("tonumber(%q) = %v, %v; want %v, %v", l.s, n, ok, l.n, l.ok)
		}
	}
	for _, s := range []string{"inf", "-Infinity", "1e400"} {
		if _, ok := luaToNumber(s); !ok {
			t.Errorf("tonumber(%q) failed", s)
		}
	}
	for f, s := range map[float64]string{18: "18", 1.5: "1.5", 1e15: "1e+15", 0.1: "0.1", -3: "-3"} {
		if got := luaNumberString(f); got != s {
			t.Errorf("tostring(%v) = %q, want %q", f, got, s)
		}
	}
}
