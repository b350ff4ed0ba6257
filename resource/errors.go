package resource

import "strings"

// Reason classifies a validation failure.
type Reason int

const (
	// ReasonJSON: the bytes are not one acceptable JSON document: syntax
	// error, trailing data, duplicate object key or nesting too deep.
	ReasonJSON Reason = iota + 1
	// ReasonSchema: the value fails the kind's JSON schema (including a
	// top-level value that is not an object). Message prefix
	// "invalid configuration: ".
	ReasonSchema
	// ReasonCheck: the value passes the schema but fails a semantic check
	// APISIX performs after it ("only one of host or hosts is allowed",
	// "missing key", "invalid port 0", "failed to parse cert: ...").
	ReasonCheck
	// ReasonKind: Validate was called with a kind this package does not know.
	ReasonKind
)

// Error is the error type returned by Validate and friends. Error() is the
// exact text APISIX puts into the Admin API's {"error_msg": ...}.
type Error struct {
	Reason Reason
	// Path is the JSON pointer of the offending value ("" = the whole
	// object, "/upstream/nodes/0/host", ...), as far as it is known.
	Path string
	// Detail is the message without the "invalid configuration: " prefix
	// (the body of POST /apisix/admin/schema/validate/<kind> failures).
	Detail string
	msg    string
}

func (e *Error) Error() string { return e.msg }

const invalidConf = "invalid configuration: "

func schemaErr(path []string, detail string) *Error {
	return &Error{Reason: ReasonSchema, Path: pointer(path), Detail: detail, msg: invalidConf + detail}
}

func checkErr(path, msg string) *Error {
	return &Error{Reason: ReasonCheck, Path: path, Detail: msg, msg: msg}
}

func jsonErr(path, detail string) *Error {
	return &Error{Reason: ReasonJSON, Path: path, Detail: detail, msg: "invalid JSON: " + detail}
}

// pointer renders instance-location tokens as an RFC 6901 JSON pointer.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		sb.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return sb.String()
}
