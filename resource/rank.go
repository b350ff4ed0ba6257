package resource

import (
	"slices"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// The library reports every failure; api7/jsonschema reports the first it
// meets. This file orders failures the way api7's generated validator
// checks them, so the one reported is stable and APISIX-like.

// pick chooses, among failures found at one schema node, the one api7
// would report.
func (r *renderer) pick(errs []*jsonschema.ValidationError, cur, loc []string) *jsonschema.ValidationError {
	best := errs[0]
	bk := rankOf(best, cur, loc)
	for _, e := range errs[1:] {
		if k := rankOf(e, cur, loc); rankLess(k, bk) {
			best, bk = e, k
		}
	}
	return best
}

// rank orders one step of a failure's path; a failure's rank is the
// sequence of steps from the current node to its leaf, compared
// lexicographically (the library may hand a deep failure up without the
// intermediate groups).
type rank struct {
	phase int
	name  string
	index int
}

func (a rank) less(b rank) bool {
	if a.phase != b.phase {
		return a.phase < b.phase
	}
	if a.name != b.name {
		return a.name < b.name
	}
	return a.index < b.index
}

func rankLess(a, b []rank) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i].less(b[i])
		}
	}
	return len(a) < len(b)
}

// rankOf orders failures like api7/jsonschema's generated validator checks
// them at each level: type; properties (a property's value, then its
// dependency; required by name); patternProperties/additionalProperties;
// min/maxProperties; array bounds, items, uniqueItems; string length,
// pattern; numeric bounds; enum; allOf; anyOf; oneOf; if/then/else; not;
// format; const.
func rankOf(e *jsonschema.ValidationError, cur, loc []string) []rank {
	rel := relPath(e, cur)
	inst := slices.Clone(loc)
	var out []rank
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
				return append(out, rank{250, "", 0})
			}
			out = append(out, rank{10, rel[1], 0})
			inst = append(inst, rel[1])
			rel = rel[2:]
		case "dependencies":
			if len(rel) < 2 {
				return append(out, rank{250, "", 0})
			}
			out = append(out, rank{10, rel[1], 1})
			rel = rel[2:]
		case "patternProperties", "additionalProperties":
			key := next()
			out = append(out, rank{20, key, 0})
			inst = append(inst, key)
			if rel[0] == "patternProperties" && len(rel) >= 2 {
				rel = rel[2:]
			} else {
				rel = rel[1:]
			}
		case "items":
			idx := next()
			n, _ := strconv.Atoi(idx)
			out = append(out, rank{60, "", n})
			inst = append(inst, idx)
			rel = rel[1:]
			if len(rel) > 0 && isIndex(rel[0]) {
				rel = rel[1:]
			}
		case "allOf":
			if len(rel) < 2 {
				return append(out, rank{250, "", 0})
			}
			n, _ := strconv.Atoi(rel[1])
			out = append(out, rank{170, "", n})
			rel = rel[2:]
		case "if", "then", "else":
			return append(out, rank{200, "", 0})
		default:
			return append(out, rank{250, "", 0})
		}
	}
	node := keywordPath(e.SchemaURL)
	switch k := e.ErrorKind.(type) {
	case *kind.Group, *kind.AllOf:
		var best []rank
		for i, c := range e.Causes {
			if rk := rankOf(c, node, inst); i == 0 || rankLess(rk, best) {
				best = rk
			}
		}
		return append(out, best...)
	case *kind.Type:
		return append(out, rank{0, "", 0})
	case *kind.Required:
		return append(out, rank{10, k.Missing[0], 0})
	case *kind.Dependency:
		return append(out, rank{10, k.Prop, 1})
	case *kind.AdditionalProperties:
		return append(out, rank{20, slices.Min(k.Properties), 0})
	case *kind.MinProperties, *kind.MaxProperties:
		return append(out, rank{30, "", 0})
	case *kind.MinItems:
		return append(out, rank{40, "", 0})
	case *kind.MaxItems:
		return append(out, rank{45, "", 0})
	case *kind.UniqueItems:
		return append(out, rank{70, "", 0})
	case *kind.MinLength:
		return append(out, rank{80, "", 0})
	case *kind.MaxLength:
		return append(out, rank{85, "", 0})
	case *kind.Pattern:
		return append(out, rank{90, "", 0})
	case *kind.Minimum:
		return append(out, rank{100, "", 0})
	case *kind.ExclusiveMinimum:
		return append(out, rank{105, "", 0})
	case *kind.Maximum:
		return append(out, rank{110, "", 0})
	case *kind.ExclusiveMaximum:
		return append(out, rank{115, "", 0})
	case *kind.MultipleOf:
		return append(out, rank{120, "", 0})
	case *kind.Enum:
		return append(out, rank{160, "", 0})
	case *kind.AnyOf:
		return append(out, rank{180, "", 0})
	case *kind.OneOf:
		return append(out, rank{190, "", 0})
	case *kind.Not:
		return append(out, rank{210, "", 0})
	case *kind.Format:
		return append(out, rank{220, "", 0})
	case *kind.Const:
		return append(out, rank{230, "", 0})
	}
	return append(out, rank{250, "", 0})
}
