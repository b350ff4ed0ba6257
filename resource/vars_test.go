package resource

import "testing"

func TestVarsExpressions(t *testing.T) {
	const pre = "failed to validate the 'vars' expression: "
	route := func(vars string) string { return `{"uri":"/a","upstream_id":1,"vars":` + vars + `}` }
	runCases(t, Routes, []vcase{
		{"empty", route(`[]`), ""},
		{"simple", route(`[["arg_name","==","json"],["arg_age",">",18]]`), ""},
		{"operators", route(`[["a","~=",1],["a",">=",1],["a","<",1],["a","<=",1],["a","~~","^x"],["a","~*","x"],["a","in",["x"]],["a","has","x"]]`), ""},
		{"upper case operators", route(`[["a","IN",["x"]],["a","HAS","x"]]`), ""},
		{"negation", route(`[["arg_a","!","==","x"]]`), ""},
		{"shorthand equal", route(`[["arg_a","x"]]`), ""},
		{"null value", route(`[["arg_a","==",null]]`), ""},
		{"logic group", route(`["OR",["arg_a","==","1"],["arg_b","==","2"]]`), ""},
		{"nested groups", route(`[["!AND",["a","==","1"],["OR",["b","==","2"],["c","==","3"]]]]`), ""},
		{"ipmatch", route(`[["remote_addr","ipmatch",["10.0.0.0/8","::1"]]]`), ""},
		{"ipmatch string", route(`[["remote_addr","ipmatch","10.0.0.1"]]`), ""},
		{"post_arg path", route(`[["post_arg.user.name","==","x"]]`), ""},

		{"bad operator", route(`[["arg_a","=","1"]]`), pre + "invalid operator '='"},
		{"bad operator lowered", route(`[["arg_a","LIKE","1"]]`), pre + "invalid operator 'like'"},
		{"bad not", route(`[["arg_a","not","==","1"]]`), pre + "bad 'not' expression"},
		{"not wrapped", route(`["arg_a","==","1"]`), pre + "rule should be wrapped inside brackets"},
		{"single element", route(`[["arg_a"]]`), pre + "invalid expression"},
		{"empty condition", route(`[[]]`), pre + "rule too short"},
		{"logic too short", route(`["AND",["a","==","1"]]`), pre + "rule too short"},
		{"ipmatch empty", route(`[["remote_addr","ipmatch",""]]`), pre + "invalid ip address"},
		{"ipmatch empty list", route(`[["remote_addr","ipmatch",[]]]`), pre + "invalid ip address"},
		{"ipmatch bad ip", route(`[["remote_addr","ipmatch",["10.0.0.300"]]]`), pre + "invalid ip address: 10.0.0.300"},
		{"post_arg empty path", route(`[["post_arg.","==","x"]]`), pre + "invalid JSON path: "},
		{"post_arg unbalanced", route(`[["post_arg.a[0","==","x"]]`), pre + "invalid JSON path: a[0"},
	})
}
