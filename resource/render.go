package resource

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// This file turns the library's error tree into the single message
// api7/jsonschema (APISIX's validator) would produce (spec 3.5).
//
// api7/jsonschema stops at the first failure and wraps it on the way out:
// `property "upstream" validation failed: property "nodes" validation
// failed: ...`, `failed to validate item 2: ...`, `allOf 1 failed: ...`.
// Composite keywords (anyOf, oneOf, not, then) report themselves without
// the inner cause. The library instead collects every failure; we pick one
// the way api7 orders its checks (type, properties, array, string, number,
// enum, allOf, anyOf, oneOf, if/then, not, format) and rebuild the wrapping
// from the keyword path between the parent schema and the failing one.
// Documents are bundled (no $ref), so every keyword path is a plain walk.

type renderer struct {
	doc map[string]any // bundled schema, for anyOf "required" lists and patterns
}

// render returns the instance path and api7 text of a validation failure.
func (r *renderer) render(err *jsonschema.ValidationError) ([]string, string) {
	causes := err.Causes
	if _, ok := err.ErrorKind.(*kind.Schema); !ok || len(causes) == 0 {
		causes = []*jsonschema.ValidationError{err}
	}
	best := r.pick(causes, nil, nil)
	return r.message(best, nil, nil)
}

// keywordPath returns the unescaped JSON-pointer tokens of a schema URL's
// fragment.
func keywordPath(schemaURL string) []string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	if frag == "" {
		return nil
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	return splitPointer(frag)
}

// relPath is e's keyword path relative to the schema node cur.
func relPath(e *jsonschema.ValidationError, cur []string) []string {
	kp := keywordPath(e.SchemaURL)
	if len(kp) < len(cur) || !slices.Equal(kp[:len(cur)], cur) {
		return kp // should not happen with bundled documents
	}
	return kp[len(cur):]
}

// message renders e, which belongs to schema node cur evaluating the value
// at loc.
func (r *renderer) message(e *jsonschema.ValidationError, cur, loc []string) ([]string, string) {
	rel := relPath(e, cur)
	inst := slices.Clone(loc)
	var sb strings.Builder
	next := func() string {
		if len(inst) < len(e.InstanceLocation) {
			return e.InstanceLocation[len(inst)]
		}
		return ""
	}
	for len(rel) > 0 {
		switch rel[0] {
		case "properties":
			if len(rel) < 2 {
				rel = nil
				break
			}
			fmt.Fprintf(&sb, "property \"%s\" validation failed: ", rel[1])
			inst = append(inst, rel[1])
			rel = rel[2:]
		case "patternProperties":
			if len(rel) < 2 {
				rel = nil
				break
			}
			key := next()
			fmt.Fprintf(&sb, "failed to validate %s (matching \"%s\"): ", key, rel[1])
			inst = append(inst, key)
			rel = rel[2:]
		case "additionalProperties":
			key := next()
			fmt.Fprintf(&sb, "failed to validate additional property %s: ", key)
			inst = append(inst, key)
			rel = rel[1:]
		case "items":
			idx := next()
			n, _ := strconv.Atoi(idx)
			fmt.Fprintf(&sb, "failed to validate item %d: ", n+1)
			inst = append(inst, idx)
			rel = rel[1:]
			if len(rel) > 0 && isIndex(rel[0]) { // tuple form items/N
				rel = rel[1:]
			}
		case "dependencies":
			if len(rel) < 2 {
				rel = nil
				break
			}
			fmt.Fprintf(&sb, "failed to validate dependent schema for \"%s\": ", rel[1])
			rel = rel[2:]
		case "allOf":
			if len(rel) < 2 {
				rel = nil
				break
			}
			n, _ := strconv.Atoi(rel[1])
			fmt.Fprintf(&sb, "allOf %d failed: ", n+1)
			rel = rel[2:]
		case "then":
			return inst, sb.String() + "then clause did not match"
		case "else":
			return inst, sb.String() + "else clause did not match"
		case "anyOf", "oneOf":
			if len(rel) >= 2 {
				rel = rel[2:]
			} else {
				rel = nil
			}
		default:
			rel = rel[1:]
		}
	}

	node := keywordPath(e.SchemaURL)
	switch k := e.ErrorKind.(type) {
	case *kind.Group:
		best := r.pick(e.Causes, node, inst)
		l, m := r.message(best, node, inst)
		return l, sb.String() + m
	case *kind.AllOf:
		best := e.Causes[0]
		bi := allOfIndex(best, node)
		for _, c := range e.Causes[1:] {
			if i := allOfIndex(c, node); i < bi {
				best, bi = c, i
			}
		}
		l, m := r.message(best, node, inst)
		return l, sb.String() + m
	default:
		return inst, sb.String() + r.leaf(k, node, e)
	}
}

// leaf renders an error kind that api7 reports without an inner cause.
func (r *renderer) leaf(k jsonschema.ErrorKind, node []string, e *jsonschema.ValidationError) string {
	switch k := k.(type) {
	case *kind.Type:
		want := "expected " + strings.Join(k.Want, ", ")
		if len(k.Want) > 1 {
			want = "expected one of " + strings.Join(k.Want, ", ")
		}
		return "wrong type: " + want + ", got " + luaTypeName(k.Got)
	case *kind.Required:
		return fmt.Sprintf("property \"%s\" is required", k.Missing[0])
	case *kind.Dependency:
		return fmt.Sprintf("property \"%s\" is required when \"%s\" is set", k.Missing[0], k.Prop)
	case *kind.AdditionalProperties:
		props := slices.Clone(k.Properties)
		slices.Sort(props)
		return "additional properties forbidden, found " + props[0]
	case *kind.Enum:
		return "matches none of the enum values"
	case *kind.Const:
		return "failed to check const value"
	case *kind.MinLength:
		return fmt.Sprintf("string too short, expected at least %d, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("string too long, expected at most %d, got %d", k.Want, k.Got)
	case *kind.Pattern:
		pat := k.Want
		if n, ok := r.node(node); ok {
			if p, ok := n["pattern"].(string); ok {
				pat = p
			}
		}
		return "failed to match pattern " + luaQuote(pat) + " with " + luaQuote(k.Got)
	case *kind.Minimum:
		return fmt.Sprintf("expected %s to be at least %s", ratText(k.Got), ratText(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("expected %s to be greater than %s", ratText(k.Got), ratText(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("expected %s to be at most %s", ratText(k.Got), ratText(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("expected %s to be smaller than %s", ratText(k.Got), ratText(k.Want))
	case *kind.MultipleOf:
		return fmt.Sprintf("expected %s to be a multiple of %s", ratText(k.Got), ratText(k.Want))
	case *kind.MinItems:
		return fmt.Sprintf("expect array to have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("expect array to have at most %d items", k.Want)
	case *kind.UniqueItems:
		return fmt.Sprintf("expected unique items but items %d and %d are equal", k.Duplicates[0]+1, k.Duplicates[1]+1)
	case *kind.MinProperties:
		return fmt.Sprintf("expect object to have at least %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("expect object to have at most %d properties", k.Want)
	case *kind.AnyOf:
		return "object matches none of the required" + r.requiredSuffix(node)
	case *kind.OneOf:
		if len(k.Subschemas) < 2 {
			return "value should match only one schema, but matches none"
		}
		return fmt.Sprintf("value should match only one schema, but matches both schemas %d and %d",
			k.Subschemas[0]+1, k.Subschemas[1]+1)
	case *kind.Not:
		return "value wasn't supposed to match schema"
	case *kind.Format:
		return fmt.Sprintf("expect valid %s format but got: %v", k.Want, k.Got)
	case *kind.FalseSchema:
		return "expect false always"
	}
	return strings.TrimPrefix(e.Error(), "jsonschema validation failed with ")
}

// requiredSuffix lists the "required" arrays of the anyOf branches at node,
// as api7/jsonschema appends them: `: ["a"] or ["a","b"]`.
func (r *renderer) requiredSuffix(node []string) string {
	n, ok := r.node(node)
	if !ok {
		return ""
	}
	branches, _ := n["anyOf"].([]any)
	var reqs []string
	for _, b := range branches {
		bm, _ := b.(map[string]any)
		req, ok := bm["required"].([]any)
		if !ok {
			continue
		}
		enc, err := json.Marshal(req)
		if err == nil {
			reqs = append(reqs, string(enc))
		}
	}
	if len(reqs) == 0 {
		return ""
	}
	return ": " + strings.Join(reqs, " or ")
}

func (r *renderer) node(path []string) (map[string]any, bool) {
	n, ok := lookupPointer(r.doc, path)
	if !ok {
		return nil, false
	}
	m, ok := n.(map[string]any)
	return m, ok
}

func allOfIndex(e *jsonschema.ValidationError, node []string) int {
	rel := relPath(e, node)
	if len(rel) >= 2 && rel[0] == "allOf" {
		if n, err := strconv.Atoi(rel[1]); err == nil {
			return n
		}
	}
	return 1 << 30
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// luaTypeName maps a JSON type name to the Lua type api7 reports.
func luaTypeName(t string) string {
	switch t {
	case "object", "array":
		return "table"
	case "integer", "number":
		return "number"
	case "null":
		return "userdata"
	}
	return t
}

func ratText(r *big.Rat) string {
	if r == nil {
		return "nil"
	}
	if r.IsInt() && r.Num().IsInt64() {
		return formatLuaNumber(float64(r.Num().Int64()))
	}
	f, _ := r.Float64()
	return formatLuaNumber(f)
}
