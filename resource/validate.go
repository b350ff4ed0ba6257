package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
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
	return cs.renderErr(cs.sch.Validate(v))
}

// renderErr turns a validation result into api7's single message.
func (cs *compiledSchema) renderErr(err error) *Error {
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

// Validator is a standalone JSON schema checked exactly like the resource
// kinds: api7/jsonschema's leniencies (normalize) and error texts
// (render). The plugin registry compiles every plugin's schemas with it,
// so a plugin error reads like a resource error.
type Validator struct{ cs *compiledSchema }

// CompileSchema bundles doc, a draft-07 JSON schema, and compiles it. A
// "$ref" may point into this package's schema documents
// ("defs.json#/definitions/id", "upstream.json") so shared definitions have
// one source; the bundled document has none left. name identifies doc in
// errors and in local refs; it must not be the name of one of this
// package's documents.
func CompileSchema(name string, doc []byte) (*Validator, error) {
	docs, err := resourceDocs()
	if err != nil {
		return nil, err
	}
	if _, clash := docs[name]; clash {
		return nil, fmt.Errorf("schema %s: name taken by a resource schema", name)
	}
	root, err := decodeDoc(doc)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	files := maps.Clone(docs)
	files[name] = root
	b, err := bundle(files, name, root, 0)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	m, ok := b.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema %s: not an object", name)
	}
	cs := &compiledSchema{url: "mem://portico/schema/" + name, doc: m}
	if cs.json, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(cs.url, m); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	if cs.sch, err = c.Compile(cs.url); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return &Validator{cs: cs}, nil
}

// JSON returns the bundled document. The caller owns the slice.
func (s *Validator) JSON() []byte { return bytes.Clone(s.cs.json) }

// Check validates v, a tree of map[string]any, []any, json.Number, string,
// bool and nil (as encoding/json decodes with UseNumber), normalizing it
// in place first (a root that normalizes to another value is validated as
// that value). As in APISIX (core.schema.check's skip_validation hook), a
// string that is a $secret:// or $env:// reference is not validated where
// the schema accepts a string: it is resolved only at run time. The
// returned error's Detail is the bare api7 text; Error() carries the
// "invalid configuration: " prefix of resource schemas.
func (s *Validator) Check(v any) *Error {
	v, _ = normalize(s.cs.doc, v)
	err := s.cs.sch.Validate(v)
	if err != nil {
		refs := map[string]bool{}
		secretRefs(s.cs.doc, v, nil, refs)
		if len(refs) > 0 {
			err = pruneSecretRefs(err, refs)
		}
	}
	return s.cs.renderErr(err)
}

// CheckExpr compiles rule the way lua-resty-expr's expr.new does (route
// vars, plugin filters, traffic-split matches) and returns its error text
// ("rule should be wrapped inside brackets", "invalid operator '='"), or
// nil when it compiles.
func CheckExpr(rule []any) error {
	if msg := compileExprRoot(rule); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// resourceDocs is every document under schema/, decoded once, as targets
// for the $refs of schemas compiled by CompileSchema. Read-only.
var resourceDocs = sync.OnceValues(func() (map[string]any, error) {
	paths, err := fs.Glob(schemaFiles, "schema/*.json")
	if err != nil {
		return nil, err
	}
	docs := make(map[string]any, len(paths))
	for _, p := range paths {
		data, err := schemaFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if docs[path.Base(p)], err = decodeDoc(data); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return docs, nil
})

// decodeDoc decodes a schema document keeping numbers exact.
func decodeDoc(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// secretRefs records (as JSON pointers) where v holds a secret reference
// whose schema node accepts a string: no "type", or type "string", as
// APISIX's is_secret_ref requires. It follows the keywords normalize
// follows.
func secretRefs(s map[string]any, v any, loc []string, out map[string]bool) {
	if s == nil {
		return
	}
	switch x := v.(type) {
	case string:
		if t, has := s["type"]; isSecretRef(x) && (!has || t == "string") {
			out[pointer(loc)] = true
		}
	case map[string]any:
		for k, val := range x {
			secretRefs(propertySchema(s, k), val, append(slices.Clip(loc), k), out)
		}
	case []any:
		items, _ := s["items"].(map[string]any)
		for i, val := range x {
			secretRefs(items, val, append(slices.Clip(loc), strconv.Itoa(i)), out)
		}
	}
}

// pruneSecretRefs drops the failures located at a secret reference. A
// failure whose causes all go is gone too; an anyOf or oneOf holds as soon
// as one branch has nothing left. It returns nil when nothing is left.
func pruneSecretRefs(err error, refs map[string]bool) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	if p := prune(ve, refs); p != nil {
		return p
	}
	return nil
}

func prune(e *jsonschema.ValidationError, refs map[string]bool) *jsonschema.ValidationError {
	if refs[pointer(e.InstanceLocation)] {
		return nil
	}
	if len(e.Causes) == 0 {
		return e
	}
	var kept []*jsonschema.ValidationError
	for _, c := range e.Causes {
		p := prune(c, refs)
		if p == nil {
			switch e.ErrorKind.(type) {
			case *kind.AnyOf, *kind.OneOf:
				return nil
			}
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return nil
	}
	out := *e
	out.Causes = kept
	return &out
}
