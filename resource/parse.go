package resource

import "unicode/utf8"

// ParseJSON decodes raw as one JSON value with the same strictness as
// Validate (no duplicate keys, depth <= MaxDepth, no trailing data) and,
// on top, rejects bytes that are not UTF-8, which encoding/json would
// silently turn into U+FFFD. The tree holds map[string]any, []any,
// json.Number, string, bool and nil. Failures are *Error with ReasonJSON.
func ParseJSON(raw []byte) (any, error) {
	if !utf8.Valid(raw) {
		return nil, jsonErr("", "invalid UTF-8 in JSON text")
	}
	tree, err := parseTree(raw)
	if err != nil {
		return nil, err
	}
	return tree, nil
}
