package router

import (
	"fmt"
	"strings"
	"testing"
)

var knownMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

// Every method set a route may have, against every request method
// (including unknown and lower-case ones, which no restricted route takes).
func TestMethods(t *testing.T) {
	sets := [][]string{nil, {}, {"GET"}, {"POST", "PUT"}, {"DELETE", "PATCH", "HEAD"}, knownMethods,
		{"OPTIONS"}, {"CONNECT", "TRACE", "PURGE"}, {"GET", "HEAD"}}
	reqs := append(append([]string{}, knownMethods...), "get", "PROPFIND", "")
	forModes(t, allModes, func(t *testing.T, mode Mode) {
		for i, set := range sets {
			r := mustBuild(t, mode, rt("m", "/m").meth(set...))
			var cases []mcase
			for _, m := range reqs {
				want := ""
				if len(set) == 0 {
					want = "m"
				}
				for _, s := range set {
					if s == m {
						want = "m"
					}
				}
				q := mp(m, "/m")
				if m == "" {
					q.method = "MISSING" // rq defaults "" to GET
				}
				cases = append(cases, mcase{req: q, want: want})
			}
			t.Run(fmt.Sprint(i), func(t *testing.T) { check(t, r, cases) })
		}
	})
}

// remote_addrs: IPv4, IPv6, CIDRs of every size, mapped forms, no address.
func TestRemoteAddrs(t *testing.T) {
	type tc struct {
		addrs []string
		in    []string
		out   []string
	}
	for _, c := range []tc{
		{[]string{"127.0.0.1"}, []string{"127.0.0.1", "::ffff:127.0.0.1"}, []string{"127.0.0.2", "::1", "-"}},
		{[]string{"192.168.0.0/16"}, []string{"192.168.0.1", "192.168.255.255"}, []string{"192.169.0.1", "10.0.0.1", "::ffff:c0a9:1"}},
		{[]string{"10.1.2.3/8"}, []string{"10.0.0.1", "10.255.0.0"}, []string{"11.0.0.0"}},
		{[]string{"0.0.0.0/0"}, []string{"1.2.3.4", "255.255.255.255"}, []string{"::1", "-"}},
		{[]string{"1.2.3.4/32"}, []string{"1.2.3.4"}, []string{"1.2.3.5"}},
		{[]string{"::1"}, []string{"::1"}, []string{"::2", "127.0.0.1"}},
		{[]string{"2001:db8::/32"}, []string{"2001:db8::1", "2001:db8:ffff::1"}, []string{"2001:db9::1", "1.2.3.4"}},
		{[]string{"fe80::/10"}, []string{"fe80::1", "fe80::1%eth0", "febf::1"}, []string{"fec0::1"}},
		{[]string{"::/0"}, []string{"::1", "2001:db8::1"}, []string{"1.2.3.4"}},
		{[]string{"::ffff:10.0.0.0/104"}, []string{"10.1.1.1", "::ffff:10.1.1.1"}, []string{"11.0.0.1"}},
		{[]string{"::ffff:1.2.3.4"}, []string{"1.2.3.4"}, []string{"1.2.3.5"}},
		{[]string{"1.1.1.1", "2.2.2.0/24", "2001:db8::/64"}, []string{"1.1.1.1", "2.2.2.9", "2001:db8::5"}, []string{"1.1.1.2", "2.2.3.1", "2001:db8:0:1::1"}},
	} {
		forModes(t, allModes, func(t *testing.T, mode Mode) {
			r := mustBuild(t, mode, rt("a", "/a").addrs(c.addrs...), rt("fallback", "/a").prio(-1).meth("PURGE"))
			var cases []mcase
			for _, a := range c.in {
				cases = append(cases, mcase{req: ap(a, "/a"), want: "a"})
			}
			for _, a := range c.out {
				cases = append(cases, mcase{req: ap(a, "/a"), want: ""})
			}
			t.Run(strings.Join(c.addrs, ","), func(t *testing.T) { check(t, r, cases) })
		})
	}
}

// Build errors name the route and the field, and never yield a router.
func TestBuildErrors(t *testing.T) {
	type tc struct {
		route Route
		want  string
	}
	good := rt("ok", "/ok")
	for _, c := range []tc{
		{rt("1"), "route 1: uris: missing uri"},
		{rt("2", ""), "route 2: uris: empty uri"},
		{rt("3", "/a\x00b"), `route 3: uris: invalid uri "/a\x00b": NUL byte`},
		{rt("4", "/a/(/*x/"), `route 4: uris: invalid uri "/a/(/*x/": pattern: `},
		{rt("5", "/a").host(""), `route 5: hosts: invalid host ""`},
		{rt("6", "/a").host("a.*.com"), `route 6: hosts: invalid host "a.*.com"`},
		{rt("7", "/a").host("a b.com"), `route 7: hosts: invalid host "a b.com"`},
		{rt("8", "/a").host("ok.com", "**"), `route 8: hosts: invalid host "**"`},
		{rt("9", "/a").host("a/b"), `route 9: hosts: invalid host "a/b"`},
		{rt("10", "/a").meth("get"), `route 10: methods: invalid method "get"`},
		{rt("11", "/a").meth("GET", "FOO"), `route 11: methods: invalid method "FOO"`},
		{rt("12", "/a").addrs("1.2.3"), "route 12: remote_addrs: invalid ip address: 1.2.3"},
		{rt("13", "/a").addrs("1.2.3.4/33"), "route 13: remote_addrs: invalid ip address: 1.2.3.4/33"},
		{rt("14", "/a").addrs("::1/129"), "route 14: remote_addrs: invalid ip address: ::1/129"},
		{rt("15", "/a").addrs("10.0.0.1", "host.example"), "route 15: remote_addrs: invalid ip address: host.example"},
		{rt("16", "/a").addrs("fe80::1%eth0"), "route 16: remote_addrs: invalid ip address: fe80::1%eth0"},
		{rt("17", "/a").addrs(""), "route 17: remote_addrs: invalid ip address: "},
		{rt("18", "/a").vars([]any{"arg_x", "X", "1"}), "route 18: vars: invalid operator 'x'"},
		{rt("19", "/a").vars([]any{"arg_x", "=", "1"}), "route 19: vars: invalid operator '='"},
		{rt("20", "/a").vars("arg_x", "==", "1"), "route 20: vars: rule should be wrapped inside brackets"},
		{rt("21", "/a").vars([]any{}), "route 21: vars: rule too short"},
		{rt("22", "/a").vars([]any{"arg_x"}), "route 22: vars: invalid expression"},
		{rt("23", "/a").vars([]any{"arg_x", "?", "==", "1"}), "route 23: vars: bad 'not' expression"},
		{rt("24", "/a").vars("AND", []any{"a", "==", "1"}), "route 24: vars: rule too short"},
		{rt("25", "/a").vars([]any{"OR", []any{"a", "==", "1"}}), "route 25: vars: rule too short"},
		{rt("26", "/a").vars([]any{"a", "~~", "("}), "route 26: vars: invalid regex '(': "},
		{rt("27", "/a").vars([]any{"a", "ipmatch", "x"}), "route 27: vars: invalid ip address: x"},
		{rt("28", "/a").vars([]any{"a", "ipmatch", []any{}}), "route 28: vars: invalid ip address"},
		{rt("29", "/a").vars([]any{"a", "ipmatch", ""}), "route 29: vars: invalid ip address"},
		{rt("30", "/a").vars([]any{"a", "ipmatch"}), "route 30: vars: invalid ip address"},
		{rt("31", "/a").vars([]any{"a", "~~", true}), "route 31: vars: invalid regex: true"},
		{rt("32", "/a").vars([]any{true, "==", "1"}), "route 32: vars: invalid expression"},
		{rt("33", "/a").vars([]any{"a", true}), "route 33: vars: invalid expression"},
		{rt("34", "/a").vars([]any{"a", "==", "1"}, "b"), "route 34: vars: invalid expression"},
		{rt("35", "/a").vars([]any{"a", "~*", "(?<=x)"}), "route 35: vars: invalid regex '(?i)(?<=x)': "},
		{rt("36", "/a").vars([]any{"a", "ipmatch", []any{"1.1.1.1", 5}}), "route 36: vars: invalid ip address: 5"},
		{rt("37", "/a").vars([]any{[]any{"a", "==", "1"}, []any{"NOT", []any{"b", "==", "1"}, []any{"c", "==", "1"}}}), "route 37: vars: invalid expression"},
		{rt("38", "/a").vars([]any{"!OR", []any{"a", "==", "1"}, []any{}}), "route 38: vars: rule too short"},
		{rt("39", "/a").vars([]any{nil, "==", "1"}), "route 39: vars: invalid expression"},
		{rt("40", "/a").vars([]any{"a", "!", "bad", "1"}), "route 40: vars: invalid operator 'bad'"},
	} {
		t.Run(c.route.ID, func(t *testing.T) {
			for _, mode := range allModes {
				r, err := Build(mode, []Route{good, c.route, good})
				if err == nil || r != nil {
					t.Fatalf("%s: Build = %v, %v; want error", mode, r, err)
				}
				if !strings.HasPrefix(err.Error(), c.want) {
					t.Fatalf("%s: error %q, want prefix %q", mode, err, c.want)
				}
			}
		})
	}
	if _, err := Build("radixtree_bogus", nil); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if r, err := Build("", []Route{good}); err != nil || r.mode != HostURI {
		t.Fatalf("empty mode: %v %v", r, err)
	}
	if r, err := Build(URI, nil); err != nil {
		t.Fatalf("no routes: %v", err)
	} else if _, ok := r.Match(p("/").request()); ok {
		t.Fatal("empty router matched")
	}
}

// Accepted host and address shapes do not error.
func TestBuildAccepts(t *testing.T) {
	routes := []Route{
		rt("h", "/a").host("*", "*.a.com", "*a.com", "A.COM", "a-b_c.d", "[::1]", "a.com:8080", "[::1]:80"),
		rt("a", "/a").addrs("1.2.3.4", "1.2.3.0/24", "::", "::/0", "2001:db8::1/128", "::ffff:1.2.3.4"),
		rt("v", "/a").vars([]any{"a", "==", 1}, []any{"b", "!", "IN", []any{"x", 2}}, []any{"AND", []any{"c", "~*", "x"}, []any{"d", "ipmatch", "10.0.0.0/8"}}),
		rt("2", "/a").vars([]any{"a", "v"}, []any{"a", 18}, []any{"a", "in"}, []any{"a", "==", nil}),
		rt("5", "/a").vars([]any{"a", "==", "1", "extra", "ignored"}),
		rt("or", "/a").vars("or", []any{"a", "==", "1"}, []any{"b", "==", "1"}),
		rt("m", "/a").meth(knownMethods...),
	}
	for _, mode := range allModes {
		if _, err := Build(mode, routes); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
}
