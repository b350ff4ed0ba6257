package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validate checks raw, the JSON value of one resource of kind, and returns
// the decoded typed object: *Route, *Service, *Upstream, *Consumer,
// *ConsumerGroup, *PluginConfig, *GlobalRule, *SSL, *PluginMetadataConf, *Proto,
// *StreamRoute, *Secret or *Credential.
//
// Checks, in APISIX's order: the bytes are one JSON object (no duplicate
// keys, depth <= MaxDepth); the kind's pre-schema checks (route host/hosts,
// remote_addr/remote_addrs, upstream IPv6 hosts); the JSON schema; the
// post-schema checks (upstream ports, pass_host rewrite, chash key, TLS
// PEM, route vars, SSL pairs, ...). Failures are *Error whose text is
// APISIX's (spec 3.5). Checks that need other resources (references, the
// plugin registry, the keyring) are the caller's.
//
// raw is not retained; it is also not modified.
func Validate(kind Kind, raw []byte) (any, error) {
	if !kind.Valid() {
		return nil, &Error{Reason: ReasonKind, Detail: "unknown resource kind: " + string(kind),
			msg: "unknown resource kind: " + string(kind)}
	}
	obj, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	var out any
	var verr *Error
	switch kind {
	case Routes:
		out, verr = validateRoute(obj, raw)
	case Services:
		out, verr = validateService(obj, raw)
	case Upstreams:
		out, verr = validateUpstream(obj, raw)
	case Consumers:
		out, verr = validateSimple(kind, obj, raw, new(Consumer))
	case Credentials:
		out, verr = validateSimple(kind, obj, raw, new(Credential))
	case ConsumerGroups:
		out, verr = validateSimple(kind, obj, raw, new(ConsumerGroup))
	case PluginConfigs:
		out, verr = validateSimple(kind, obj, raw, new(PluginConfig))
	case GlobalRules:
		out, verr = validateSimple(kind, obj, raw, new(GlobalRule))
	case Protos:
		out, verr = validateSimple(kind, obj, raw, new(Proto))
	case SSLs:
		out, verr = validateSSL(obj, raw)
	case StreamRoutes:
		out, verr = validateStreamRoute(obj, raw)
	case PluginMetadata:
		out, verr = validatePluginMetadata(obj, raw)
	case Secrets:
		out, verr = validateSecret("", obj, raw)
	}
	if verr != nil {
		return nil, verr
	}
	return out, nil
}

// CheckSchema checks raw against kind's JSON schema only: no semantic,
// reference or plugin checks (POST /apisix/admin/schema/validate/<kind>).
// The error's Error() is the raw api7 text without the "invalid
// configuration: " prefix, as that endpoint returns it.
func CheckSchema(kind Kind, raw []byte) error {
	cs, ok := kindSchemas[kind]
	if !ok {
		return &Error{Reason: ReasonKind, Detail: "unknown resource kind: " + string(kind),
			msg: "unknown resource kind: " + string(kind)}
	}
	obj, err := parseObject(raw)
	if err != nil {
		return err
	}
	if kind == Secrets {
		if m, ok := secretManagerOf(obj); ok {
			cs = secretSchemas[m]
		}
	}
	if _, err := cs.check(obj); err != nil {
		return &Error{Reason: err.Reason, Path: err.Path, Detail: err.Detail, msg: err.Detail}
	}
	return nil
}

// parseObject decodes raw strictly and insists on a JSON object.
func parseObject(raw []byte) (map[string]any, *Error) {
	tree, err := parseTree(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil, schemaErr(nil, "wrong type: expected object, got "+luaType(tree))
	}
	return obj, nil
}

// check normalizes obj in place (see normalize) and validates it against
// the schema. changed reports whether normalization rewrote anything, in
// which case typed decoding must use obj rather than the raw bytes.
func (cs *compiledSchema) check(obj map[string]any) (changed bool, _ *Error) {
	_, changed = normalize(cs.doc, obj)
	return changed, cs.checkValue(obj)
}

func (cs *compiledSchema) checkValue(v any) *Error {
	err := cs.sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return schemaErr(nil, err.Error())
	}
	r := renderer{doc: cs.doc}
	path, msg := r.render(ve)
	return schemaErr(path, msg)
}

// validateSimple handles kinds whose only check is the schema.
func validateSimple[T any, P interface {
	*T
	idFixer
}](kind Kind, obj map[string]any, raw []byte, dst P) (any, *Error) {
	changed, err := kindSchemas[kind].check(obj)
	if err != nil {
		return nil, err
	}
	if err := decodeTyped(obj, raw, changed, dst); err != nil {
		return nil, err
	}
	dst.fixIDs(obj)
	return dst, nil
}

// idFixer is implemented by typed objects: it replaces id fields decoded by
// encoding/json (float64) with exact values from the tree (string or int64).
type idFixer interface {
	fixIDs(tree map[string]any)
}

// decodeTyped fills dst from raw, or from the normalized tree when
// normalization changed it.
func decodeTyped(obj map[string]any, raw []byte, changed bool, dst any) *Error {
	data := raw
	if changed {
		var err error
		if data, err = json.Marshal(obj); err != nil {
			return schemaErr(nil, err.Error())
		}
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return typedDecodeErr(err)
	}
	return nil
}

// typedDecodeErr reports a value the schema allows but the Go type cannot
// hold (an integer beyond the range of int).
func typedDecodeErr(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		path := strings.Split(te.Field, ".")
		var sb strings.Builder
		for _, p := range path {
			fmt.Fprintf(&sb, "property \"%s\" validation failed: ", p)
		}
		sb.WriteString(te.Value + " out of range")
		return schemaErr(path, sb.String())
	}
	return schemaErr(nil, err.Error())
}

// treeObj returns tree[key] as an object, or nil.
func treeObj(tree map[string]any, key string) map[string]any {
	m, _ := tree[key].(map[string]any)
	return m
}
