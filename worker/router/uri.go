package router

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// uriSpec is one route uri compiled the way lua-resty-radixtree stores it.
type uriSpec struct {
	key   string   // exact path, or the stored prefix (uri cut at the first `*`, or `:` in parameter mode)
	exact bool     // no `*` (and, in parameter mode, no `:`)
	pat   *pattern // prefix uris with capture segments; nil = the prefix alone decides
}

// pattern is the full-path check radixtree applies after a prefix hit when
// the uri has `:name`, `*name` or `*` segments.
type pattern struct {
	re    *regexp.Regexp // nil when trivial or segs is set
	src   string         // the regexp source, kept for tests
	names []string       // capture names in group order; a bare `*` is ":ext"
	// groups[i] is the regexp subexpression index of names[i]: literal
	// segments are embedded as written (radixtree does not escape them, so
	// `/nodes/?` means an optional slash) and may add groups of their own.
	groups []int
	// trivial: the only capture is a trailing `*` after self-matching
	// literals, so the regexp always matches once the stored prefix did and
	// the capture is simply the rest of the path. Skips the regexp (and the
	// allocation) for the ubiquitous `/foo/*`.
	trivial bool
	prefix  int // len(key), to slice the trivial capture
	onlyExt bool
	// segs, when set, replaces the regexp: the uri is plain literal items,
	// `:name` items and at most a trailing `*` item. Such a pattern has a
	// single way to match, so walking it item by item gives exactly the
	// regexp's answer (and captures) at a fraction of the cost.
	segs     []segItem
	trailing bool // the uri ended with '/': one more '/' closes the path
}

type segItem struct {
	kind byte   // 'l' literal, 'p' `:name`, 's' `*name`
	lit  string // kind 'l'
	name int    // index into names, kinds 'p' and 's'
}

const extName = ":ext"

func parseURI(uri string, paramMode bool) (uriSpec, error) {
	if uri == "" {
		return uriSpec{}, fmt.Errorf("empty uri")
	}
	if strings.IndexByte(uri, 0) >= 0 {
		return uriSpec{}, fmt.Errorf("invalid uri %q: NUL byte", uri)
	}
	cut := -1
	if paramMode {
		cut = strings.IndexByte(uri, ':')
	}
	if cut < 0 {
		cut = strings.IndexByte(uri, '*')
	}
	if cut < 0 {
		return uriSpec{key: uri, exact: true}, nil
	}
	s := uriSpec{key: uri[:cut]}
	p, err := compilePattern(uri, len(s.key))
	if err != nil {
		return uriSpec{}, err
	}
	s.pat = p
	return s, nil
}

// compilePattern mirrors radixtree's fetch_pat: split on "/", drop trailing
// empty items (ngx.re.split does), turn `:x` items into `([^/]+)` and `*x`
// items into a dot-all `(.*)`, join with `\/`, and add `\/` back when the
// uri ended with a slash. Items with any other first byte stay as written.
// Named captures use synthetic group names so that regex groups inside
// literal items cannot shift which capture a name gets (radixtree's
// positional mapping does shift; that is a bug, not a contract).
func compilePattern(uri string, prefix int) (*pattern, error) {
	items := strings.Split(uri, "/")
	for len(items) > 0 && items[len(items)-1] == "" {
		items = items[:len(items)-1]
	}
	p := &pattern{prefix: prefix}
	var b strings.Builder
	literalsPlain := true
	lastIsStar := false
	segsOK := true // every item fits segItem (see pattern.segs)
	for i, it := range items {
		if i > 0 {
			b.WriteString(`\/`)
		}
		if lastIsStar {
			segsOK = false // a `*` item that is not the last one
		}
		lastIsStar = false
		switch {
		case it != "" && it[0] == ':':
			fmt.Fprintf(&b, "(?P<p%d>[^/]+)", len(p.names))
			p.segs = append(p.segs, segItem{kind: 'p', name: len(p.names)})
			p.names = append(p.names, it[1:])
		case it != "" && it[0] == '*':
			fmt.Fprintf(&b, "(?P<p%d>(?s:.*))", len(p.names))
			p.segs = append(p.segs, segItem{kind: 's', name: len(p.names)})
			name := it[1:]
			if name == "" {
				name = extName
			}
			p.names = append(p.names, name)
			lastIsStar = true
		default:
			// A literal item walked by segs must match only itself:
			// no regexp metacharacter at all ('.' would match any rune).
			if regexp.QuoteMeta(it) != it {
				segsOK = false
			}
			p.segs = append(p.segs, segItem{kind: 'l', lit: it})
			// A literal item is regexp text, but one without these
			// metacharacters matches itself, and the stored prefix already
			// pinned those bytes ('.' included).
			if strings.ContainsAny(it, `\+*?()[]{}|^$`) {
				literalsPlain = false
			}
			b.WriteString(it)
		}
	}
	if strings.HasSuffix(uri, "/") {
		b.WriteString(`\/`)
		p.trailing = true
		if lastIsStar {
			segsOK = false
		}
		lastIsStar = false
	}
	if len(p.names) == 0 {
		// radixtree: no names -> the stored prefix alone decides.
		return nil, nil
	}
	p.onlyExt = len(p.names) == 1 && p.names[0] == extName
	if len(p.names) == 1 && lastIsStar && literalsPlain && starCutsAt(uri, prefix) {
		p.trivial = true
	}
	p.src = b.String()
	if p.trivial || segsOK {
		// No regexp needed at match time, and these sources are always
		// valid; not compiling saves a few KB per route on large tables.
		return p, nil
	}
	p.segs = nil
	if err := p.compile(); err != nil {
		return nil, fmt.Errorf("invalid uri %q: pattern: %v", uri, err)
	}
	return p, nil
}

func (p *pattern) compile() error {
	re, err := regexp.Compile(p.src)
	if err != nil {
		return err
	}
	p.re = re
	p.groups = make([]int, len(p.names))
	for i := range p.names {
		p.groups[i] = re.SubexpIndex("p" + strconv.Itoa(i))
	}
	return nil
}

// starCutsAt reports whether the stored prefix ends exactly where the only
// `*` item starts, i.e. the uri is prefix + "*name". Only then is the
// capture the remainder of the request path.
func starCutsAt(uri string, prefix int) bool {
	return prefix < len(uri) && uri[prefix] == '*' &&
		(prefix == 0 || uri[prefix-1] == '/') &&
		strings.IndexByte(uri[prefix+1:], '/') < 0
}

// match runs the full-path check. It returns the captures to expose (nil
// when none are exposed in this mode) and whether the path matched.
func (p *pattern) match(path string, exposeExt bool) (map[string]string, bool) {
	if p.trivial {
		if p.onlyExt && !exposeExt {
			return nil, true
		}
		return map[string]string{p.names[0]: path[p.prefix:]}, true
	}
	if p.segs != nil {
		return p.walk(path, exposeExt)
	}
	loc := p.re.FindStringSubmatchIndex(path)
	// radixtree: re_match (unanchored, leftmost) and then m[0] == path.
	if loc == nil || loc[0] != 0 || loc[1] != len(path) {
		return nil, false
	}
	if p.onlyExt && !exposeExt {
		return nil, true
	}
	var params map[string]string
	for i, name := range p.names {
		if name == extName && !exposeExt {
			continue
		}
		g := p.groups[i]
		if loc[2*g] < 0 {
			continue
		}
		if params == nil {
			params = make(map[string]string, len(p.names))
		}
		params[name] = path[loc[2*g]:loc[2*g+1]]
	}
	return params, true
}

// walk matches segs against the whole path: items joined by '/', a
// `:name` item taking one non-empty run of non-'/' bytes, a trailing `*`
// item taking the rest. It checks first and builds the captures only on
// success, so a miss costs no allocation.
func (p *pattern) walk(path string, exposeExt bool) (map[string]string, bool) {
	pos := 0
	for i, it := range p.segs {
		if i > 0 {
			if pos >= len(path) || path[pos] != '/' {
				return nil, false
			}
			pos++
		}
		switch it.kind {
		case 'l':
			if !strings.HasPrefix(path[pos:], it.lit) {
				return nil, false
			}
			pos += len(it.lit)
		case 'p':
			j := pos
			for j < len(path) && path[j] != '/' {
				j++
			}
			if j == pos {
				return nil, false
			}
			pos = j
		default:
			pos = len(path)
		}
	}
	if p.trailing {
		if pos >= len(path) || path[pos] != '/' {
			return nil, false
		}
		pos++
	}
	if pos != len(path) || p.onlyExt && !exposeExt {
		return nil, pos == len(path)
	}
	// Second pass, now known to succeed: collect the captures.
	params := make(map[string]string, len(p.names))
	pos = 0
	for i, it := range p.segs {
		if i > 0 {
			pos++
		}
		switch it.kind {
		case 'l':
			pos += len(it.lit)
		case 'p':
			j := pos
			for j < len(path) && path[j] != '/' {
				j++
			}
			params[p.names[it.name]] = path[pos:j]
			pos = j
		default:
			if name := p.names[it.name]; name != extName || exposeExt {
				params[name] = path[pos:]
			}
			pos = len(path)
		}
	}
	return params, true
}
