package conf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// PathError is one problem found at one key path of one file.
type PathError struct {
	File string // file the error is reported against; "" for environment variables
	Path string // dotted key path ("apisix.node_listen[1].port"); "" for whole-file errors
	Msg  string
}

func (e *PathError) Error() string {
	var b strings.Builder
	for _, s := range []string{e.File, e.Path} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found by one Load/Parse/Validate, sorted, one per line.
type ErrorList []*PathError

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *PathError values.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// errs collects PathErrors against one file name.
type errs struct {
	file string
	list ErrorList
}

func (c *errs) add(p path, format string, args ...any) {
	c.list = append(c.list, &PathError{File: c.file, Path: string(p), Msg: fmt.Sprintf(format, args...)})
}

// env records an error caused by an environment variable rather than the file.
func (c *errs) env(name, format string, args ...any) {
	c.list = append(c.list, &PathError{Path: "env " + name, Msg: fmt.Sprintf(format, args...)})
}

// err returns the sorted list, or nil when it is empty (a typed nil would not be == nil).
func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	out := slices.Clone(c.list)
	slices.SortStableFunc(out, func(a, b *PathError) int { return strings.Compare(a.Error(), b.Error()) })
	out = slices.CompactFunc(out, func(a, b *PathError) bool { return a.Error() == b.Error() })
	return out
}

// path is a dotted key path with [i] list indexes, as used in every error.
type path string

func (p path) key(k string) path {
	if p == "" {
		return path(k)
	}
	return p + "." + path(k)
}

func (p path) index(i int) path { return p + path("["+strconv.Itoa(i)+"]") }

// last returns the final key of the path, without trailing indexes.
func (p path) last() string {
	s := string(p)
	for strings.HasSuffix(s, "]") {
		s = s[:strings.LastIndexByte(s, '[')]
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
