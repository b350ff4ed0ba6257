package router

import (
	"errors"
	"strings"
)

// ErrBadPath is wrapped by every Normalize error; the caller answers 400,
// as nginx does for the same inputs.
var ErrBadPath = errors.New("bad request path")

var (
	errNotAbsolute = pathErr("path does not start with '/'")
	errNUL         = pathErr("NUL byte in path")
	errBadEscape   = pathErr("invalid percent-encoding")
	errAboveRoot   = pathErr("'..' above the root")
)

type pathError string

func pathErr(s string) error        { return pathError(s) }
func (e pathError) Error() string   { return "bad request path: " + string(e) }
func (e pathError) Is(t error) bool { return t == ErrBadPath }

// Normalize turns a raw request path (no query string) into what nginx
// calls $uri and what the router matches: percent-decoded exactly once,
// `//` runs merged, `.` segments dropped and `..` segments resolved. A
// decoded byte counts as much as a literal one (`%2F` separates segments,
// `%2e%2e` is `..`), because a backend that decodes would see it that way;
// a decoded `%` never starts another escape, so `%252e` stays `%2e`. It
// rejects what nginx rejects with 400: a path not starting with '/', a raw
// or encoded NUL, a malformed escape, and `..` climbing above the root.
//
// A path that needs none of this is returned as is, without allocating.
func Normalize(rawPath string) (string, error) {
	if rawPath == "" || rawPath[0] != '/' {
		return "", errNotAbsolute
	}
	if clean(rawPath) {
		return rawPath, nil
	}
	// Pass 1: decode. The output never grows.
	dec := make([]byte, 0, len(rawPath))
	for i := 0; i < len(rawPath); i++ {
		c := rawPath[i]
		switch c {
		case 0:
			return "", errNUL
		case '%':
			if i+2 >= len(rawPath) {
				return "", errBadEscape
			}
			h, ok1 := unhex(rawPath[i+1])
			l, ok2 := unhex(rawPath[i+2])
			if !ok1 || !ok2 {
				return "", errBadEscape
			}
			c = h<<4 | l
			if c == 0 {
				return "", errNUL
			}
			i += 2
		}
		dec = append(dec, c)
	}
	// Pass 2: segments, in place. out always ends just after a '/'
	// while a segment is being read, so ".." can pop back to the previous
	// one.
	out := dec[:1] // the leading '/'
	for i := 1; i <= len(dec); {
		j := i
		for j < len(dec) && dec[j] != '/' {
			j++
		}
		last := j == len(dec)
		switch string(dec[i:j]) {
		case "":
			// "//" run, or a trailing "/": nothing to add.
		case ".":
			// "/a/." is "/a/", as nginx leaves it.
		case "..":
			if len(out) == 1 {
				return "", errAboveRoot
			}
			k := len(out) - 2
			for out[k] != '/' {
				k--
			}
			out = out[:k+1]
		default:
			out = append(out, dec[i:j]...)
			if !last {
				out = append(out, '/')
			}
		}
		i = j + 1
	}
	return string(out), nil
}

// clean reports that rawPath is already normalized: no escape, no NUL, no
// empty, "." or ".." segment (except the final empty one of a trailing
// slash).
func clean(p string) bool {
	if strings.IndexByte(p, '%') >= 0 || strings.IndexByte(p, 0) >= 0 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case strings.HasPrefix(rest, "/"):
			return false
		case rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../"):
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
