package plugins

import (
	"errors"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// This file reproduces the OpenResty primitives APISIX's check_schema
// functions call: compiling a regex, compiling an ngx.re.sub replacement
// template, ngx.decode_base64, core.ip.validate_cidr_or_ip and the header
// validators. Their error texts are the ones APISIX returns.

// compileRegex reports whether re compiles, with ngx.re's error text:
// `pcre_compile() failed: <reason> in "<re>"`. The data plane runs
// regexes with Go's RE2 engine, so a pattern only PCRE accepts
// (look-around, backreferences, possessive quantifiers) is refused here
// rather than failing at run time; the reason then names the construct.
func compileRegex(re string) error {
	if _, err := regexp.Compile(re); err != nil {
		return errors.New("pcre_compile() failed: " + pcreReason(err) + ` in "` + re + `"`)
	}
	return nil
}

// pcreReason words a parse failure as PCRE does where both engines refuse
// the pattern.
func pcreReason(err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	switch se.Code {
	case syntax.ErrMissingParen:
		return "missing )"
	case syntax.ErrUnexpectedParen:
		return "unmatched parentheses"
	case syntax.ErrMissingBracket:
		return "missing terminating ] for character class"
	case syntax.ErrMissingRepeatArgument, syntax.ErrInvalidRepeatOp:
		return "nothing to repeat"
	case syntax.ErrTrailingBackslash:
		return `\ at end of pattern`
	case syntax.ErrInvalidCharRange:
		return "range out of order in character class"
	}
	return string(se.Code) + ": `" + se.Expr + "`"
}

// checkSub is what ngx.re.sub("/fake_uri", pattern, replacement, "jo")
// reports before it matches anything: a pattern that does not compile, or
// a replacement template that does not.
func checkSub(pattern, replacement string) error {
	if err := compileRegex(pattern); err != nil {
		return err
	}
	if !validTemplate(replacement) {
		return errors.New("failed to compile the replacement template")
	}
	return nil
}

// validTemplate compiles an ngx.re.sub replacement template as
// lua-nginx-module's script compiler does: "$$" is a dollar, "$N" and
// "${N}" are captures; a lone "$", an unclosed "${" and named variables
// ("$name", "${name}") are errors.
func validTemplate(t string) bool {
	for i := 0; i < len(t); {
		if t[i] != '$' {
			i++
			continue
		}
		i++
		if i == len(t) {
			return false
		}
		if t[i] == '$' {
			i++
			continue
		}
		bracket := t[i] == '{'
		if bracket {
			if i++; i == len(t) {
				return false
			}
		}
		numVar := isDigit(t[i])
		n := 0
		for ; i < len(t); i, n = i+1, n+1 {
			c := t[i]
			if c == '}' && bracket {
				i++
				bracket = false
				break
			}
			if numVar {
				if !isDigit(c) {
					break
				}
				continue
			}
			if !isWordByte(c) {
				break
			}
		}
		if bracket || n == 0 || !numVar {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return isDigit(c) || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// validBase64 reports whether ngx.decode_base64 accepts s: standard
// alphabet up to the first "=" (anything after it is ignored) and not a
// length of 1 modulo 4.
func validBase64(s string) bool {
	n := 0
	for ; n < len(s) && s[n] != '='; n++ {
		c := s[n]
		if !(isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '/') {
			return false
		}
	}
	return n%4 != 1
}

// validCIDROrIP is core.ip.validate_cidr_or_ip: an IPv4 or IPv6 address
// (inet_pton syntax: no zone, no leading zeros), optionally with a "/mask"
// that Lua's tonumber reads as 0..32 for IPv4, 0..128 for IPv6.
func validCIDROrIP(s string) bool {
	mask := 0.0
	if i := strings.IndexByte(s, '/'); i >= 0 {
		m, err := strconv.ParseFloat(strings.TrimSpace(s[i+1:]), 64)
		if err != nil || m != m || m < 0 || m > 128 {
			return false
		}
		mask, s = m, s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return false
	}
	return a.Is6() || mask <= 32
}

// validHeaderField is core.utils.validate_header_field: visible ASCII
// except ":".
func validHeaderField(f string) bool {
	for i := 0; i < len(f); i++ {
		if c := f[i]; c <= 32 || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

// validHeaderValue is core.utils.validate_header_value for a string: no
// control characters and nothing beyond ASCII.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 32 || c >= 127 {
			return false
		}
	}
	return true
}

// regexOptions are the flags ngx.re accepts; any other is an error raised
// while parsing them.
const regexOptions = "ojismuUxdaDJ"

// checkRegexOptions returns ngx.re's error for an unknown flag in opts.
func checkRegexOptions(opts string) error {
	for i := 0; i < len(opts); i++ {
		if !strings.ContainsRune(regexOptions, rune(opts[i])) {
			return errors.New(`unknown flag "` + opts[i:i+1] + `" (flags "` + opts + `")`)
		}
	}
	return nil
}

// isSecretRef is APISIX's secret.is_secret_ref for a string: the value is
// resolved at run time, so checks of its content are skipped.
func isSecretRef(s string) bool {
	return strings.HasPrefix(s, "$secret://") || strings.HasPrefix(strings.ToUpper(s), "$ENV://")
}
