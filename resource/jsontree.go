package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxDepth is the deepest nesting of objects and arrays accepted in a
// resource value; the top-level object is depth 1.
const MaxDepth = 64

type treeFrame struct {
	obj    map[string]any
	arr    []any
	key    string
	hasKey bool
	isObj  bool
}

// parseTree decodes raw into a generic tree (map[string]any, []any,
// json.Number, string, bool, nil) in a single token-level pass that rejects
// what encoding/json would silently accept: duplicate object keys (the
// CVE-2022-25757 class, where two parsers disagree on which duplicate wins),
// nesting deeper than MaxDepth and trailing data after the value.
func parseTree(raw []byte) (any, *Error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var (
		stack   []*treeFrame
		root    any
		rootSet bool
	)
	add := func(v any) {
		if len(stack) == 0 {
			root, rootSet = v, true
			return
		}
		top := stack[len(stack)-1]
		if top.isObj {
			top.obj[top.key] = v
			top.hasKey = false
		} else {
			top.arr = append(top.arr, v)
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !rootSet || len(stack) > 0 {
				return nil, jsonErr(framePath(stack), "unexpected end of JSON input")
			}
			return root, nil
		}
		if err != nil {
			return nil, jsonErr(framePath(stack), syntaxText(raw, err))
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= MaxDepth {
					return nil, jsonErr(framePath(stack), fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
				}
				f := &treeFrame{isObj: d == '{'}
				if f.isObj {
					f.obj = make(map[string]any)
				} else {
					f.arr = make([]any, 0, 4)
				}
				stack = append(stack, f)
			default: // '}' or ']'
				f := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if f.isObj {
					add(f.obj)
				} else {
					add(f.arr)
				}
				if len(stack) == 0 {
					return root, trailing(raw, dec.InputOffset())
				}
			}
			continue
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.isObj && !top.hasKey {
				key := tok.(string)
				if _, dup := top.obj[key]; dup {
					return nil, jsonErr(framePath(stack)+"/"+escapeToken(key),
						fmt.Sprintf("duplicate key %q in object %q", key, displayPath(framePath(stack))))
				}
				top.key, top.hasKey = key, true
				continue
			}
		}
		add(tok)
		if len(stack) == 0 {
			return root, trailing(raw, dec.InputOffset())
		}
	}
}

// trailing rejects anything but whitespace after the top-level value.
func trailing(raw []byte, off int64) *Error {
	rest := bytes.TrimLeft(raw[off:], " \t\r\n")
	if len(rest) == 0 {
		return nil
	}
	return jsonErr("", fmt.Sprintf("unexpected data after the top-level value at offset %d", int64(len(raw)-len(rest))))
}

func displayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// framePath is the JSON pointer of the innermost open container.
func framePath(stack []*treeFrame) string {
	var b []byte
	for i, f := range stack {
		if i == len(stack)-1 {
			break
		}
		b = append(b, '/')
		if f.isObj {
			b = append(b, escapeToken(f.key)...)
		} else {
			b = strconv.AppendInt(b, int64(len(f.arr)), 10)
		}
	}
	return string(b)
}

func escapeToken(t string) string { return pointer([]string{t})[1:] }

// syntaxText describes a syntax error. The streaming decoder's offsets are
// relative to its buffer, so the (failing) input is decoded once more in
// one piece for an absolute offset.
func syntaxText(raw []byte, err error) string {
	var v any
	if uerr := json.Unmarshal(raw, &v); uerr != nil {
		err = uerr
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON input"
	}
	return err.Error()
}
