package plugins

import (
	"encoding/json"
	"testing"
)

func TestCompileRegex(t *testing.T) {
	cases := map[string]string{
		`^/api/(.*)`: "",
		`\d+\.\w+`:   "",
		`.+(`:        `pcre_compile() failed: missing ) in ".+("`,
		`a)`:         `pcre_compile() failed: unmatched parentheses in "a)"`,
		`[a`:         `pcre_compile() failed: missing terminating ] for character class in "[a"`,
		`*a`:         `pcre_compile() failed: nothing to repeat in "*a"`,
		`a**`:        `pcre_compile() failed: nothing to repeat in "a**"`,
		`a\`:         `pcre_compile() failed: \ at end of pattern in "a\"`,
		`[z-a]`:      `pcre_compile() failed: range out of order in character class in "[z-a]"`,
		// valid PCRE that RE2 (the data plane's engine) cannot run
		`^(?=a)`: "pcre_compile() failed: invalid or unsupported Perl syntax: `(?=` in \"^(?=a)\"",
		`(a)\1`:  "pcre_compile() failed: invalid escape sequence: `\\1` in \"(a)\\1\"",
	}
	for re, want := range cases {
		got := ""
		if err := compileRegex(re); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q:\n got  %s\n want %s", re, got, want)
		}
	}
}

func TestValidTemplate(t *testing.T) {
	cases := map[string]bool{
		"":             true,
		"/plain":       true,
		"/$1/$2":       true,
		"${1}x":        true,
		"$0$134":       true,
		"$$":           true,
		"a$$b":         true,
		"$1abc":        true, // capture 1, then literal "abc"
		"$":            false,
		"/a$":          false,
		"$name":        false, // named captures are not supported
		"${name}":      false,
		"${1":          false, // unclosed bracket
		"${":           false,
		"${}":          false,
		"$-":           false,
		"[$0] [${2}]":  true,
		"[${134]":      false,
		"$_x":          false,
		"trailing $$ ": true,
	}
	for tpl, want := range cases {
		if got := validTemplate(tpl); got != want {
			t.Errorf("validTemplate(%q) = %v, want %v", tpl, got, want)
		}
	}
}

func TestValidBase64(t *testing.T) {
	cases := map[string]bool{
		"":             true,
		"aGVsbG8=":     true,
		"aGVsbG8":      true, // padding is optional
		"aGVsbG8=junk": true, // ngx.decode_base64 stops at "="
		"YQ==":         true,
		"Y":            false, // one char left over
		"aGVsbG8*":     false,
		"a-b_":         false, // URL alphabet is not base64
	}
	for s, want := range cases {
		if got := validBase64(s); got != want {
			t.Errorf("validBase64(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidCIDROrIP(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1":        true,
		"113.74.26.106/24": true,
		"10.0.0.0/32":      true,
		"10.0.0.0/33":      false,
		"::1":              true,
		"::1/128":          true,
		"::1/129":          false,
		"::ffff:1.2.3.4":   true,
		"113.74.26.666":    false,
		"01.2.3.4":         false,
		"fe80::1%eth0":     false,
		"1.2.3.4/x":        false,
		"":                 false,
		"1.2.3.4/-1":       false,
	}
	for s, want := range cases {
		if got := validCIDROrIP(s); got != want {
			t.Errorf("validCIDROrIP(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestHeaderValidators(t *testing.T) {
	for f, want := range map[string]bool{"X-Api": true, "X Api": false, "X:Api": false, "Ä": false, "": true} {
		if got := validHeaderField(f); got != want {
			t.Errorf("validHeaderField(%q) = %v", f, got)
		}
	}
	for v, want := range map[string]bool{"a b;c=d": true, "a\tb": false, "a\x7f": false, "é": false} {
		if got := validHeaderValue(v); got != want {
			t.Errorf("validHeaderValue(%q) = %v", v, got)
		}
	}
}

func TestCheckRegexOptions(t *testing.T) {
	if err := checkRegexOptions("jo"); err != nil {
		t.Error(err)
	}
	if err := checkRegexOptions(""); err != nil {
		t.Error(err)
	}
	err := checkRegexOptions("joz")
	if err == nil || err.Error() != `unknown flag "z" (flags "joz")` {
		t.Errorf("got %v", err)
	}
}

func TestCJSONEncode(t *testing.T) {
	cases := map[string]string{
		`"blah"`:          `"blah"`,
		`"a/b"`:           `"a\/b"`,
		`"q\"\\"`:         `"q\"\\"`,
		`"\u0001\t"`:      `"\u0001\t"`,
		`"\u007f"`:        `"\u007f"`,
		`"ünï"`:           `"ünï"`,
		`1`:               `1`,
		`1.50`:            `1.5`,
		`100000000000000`: `1e+14`,
		`0.1`:             `0.1`,
		`true`:            `true`,
		`null`:            `null`,
	}
	for in, want := range cases {
		v, err := decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := cjsonEncode(v); got != want {
			t.Errorf("cjsonEncode(%s) = %s, want %s", in, got, want)
		}
	}
	if _, err := decode(json.RawMessage(`{} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}
