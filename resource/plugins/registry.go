package plugins

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/portico-gw/portico/resource"
)

// Subsystem is the nginx subsystem a plugin serves: HTTP requests or
// stream (L4) sessions. Each has its own plugin list in config.yaml
// (plugins, stream_plugins) and its own registrations here.
type Subsystem string

// The subsystems, spelled as the Admin API's ?subsystem= query.
const (
	HTTP   Subsystem = "http"
	Stream Subsystem = "stream"
)

// SchemaKind selects which of a plugin's schemas applies: the one for
// routes, services, plugin configs, consumer groups and global rules
// (Route), the one for consumers and credentials (Consumer), or the one for
// plugin_metadata/<name> (Metadata).
type SchemaKind int

// The schema kinds, as APISIX's core.schema.TYPE_* (Route is its nil).
const (
	Route SchemaKind = iota
	Consumer
	Metadata
)

// Plugin is one registered plugin: what APISIX's plugin module declares
// (name, priority, version, type, run_policy, schema, consumer_schema,
// metadata_schema, encrypt_fields) plus its check_schema. Plugins are
// built once at init and never modified; share them freely.
type Plugin struct {
	Name      string
	Subsystem Subsystem
	// Priority orders plugins within a phase: higher runs first.
	Priority int
	// Version is the module's version number (0.1 for most).
	Version float64
	// Type is "auth" for authentication plugins (the only ones a consumer
	// credential may hold), else "".
	Type string
	// RunPolicy is "prefer_route" when a route's own configuration of the
	// plugin replaces the global rules' (prometheus), else "".
	RunPolicy string

	schemas [3]*schema // by SchemaKind; nil where the module has none
	checks  checks
}

// schema is one compiled schema of a plugin.
type schema struct {
	v       *resource.Validator
	doc     map[string]any // bundled document, for defaults; read-only
	json    []byte         // served document
	encrypt []string       // encrypt_fields
}

// schemaFields names the module field each SchemaKind's schema comes from.
var schemaFields = [...]string{Route: "schema", Consumer: "consumer_schema", Metadata: "metadata_schema"}

// metaMark is the "$comment" APISIX sets on every plugin schema it
// injected _meta into (apisix/schema_def.lua plugin_injected_schema).
const metaMark = "this is a mark for our injected plugin schema"

// metaSchema is the _meta property injected into every plugin schema
// (spec 3.6).
const metaSchema = `{
  "type": "object",
  "properties": {
    "disable": {"type": "boolean"},
    "error_response": {"oneOf": [{"type": "string"}, {"type": "object"}]},
    "priority": {"description": "priority of plugins by customized order", "type": "integer"},
    "filter": {"description": "filter determines whether the plugin needs to be executed at runtime", "type": "array"},
    "pre_function": {"description": "function to be executed in each phase before execution of plugins. The pre_function will have access to two arguments: ` + "`conf` and `ctx`" + `.", "type": "string"}
  },
  "additionalProperties": false
}`

//go:embed schema
var defFiles embed.FS

// definition is the layout of schema/<name>.json and
// schema/stream/<name>.json: the fields of APISIX's plugin module table.
type definition struct {
	Priority       int             `json:"priority"`
	Version        float64         `json:"version"`
	Type           string          `json:"type"`
	RunPolicy      string          `json:"run_policy"`
	Stream         bool            `json:"stream"` // also a stream plugin, same schema
	Schema         json.RawMessage `json:"schema"`
	ConsumerSchema json.RawMessage `json:"consumer_schema"`
	MetadataSchema json.RawMessage `json:"metadata_schema"`
}

var registry = map[Subsystem]map[string]*Plugin{HTTP: {}, Stream: {}}

func init() {
	if err := load(); err != nil {
		panic("plugins: " + err.Error())
	}
}

// load builds the registry from the embedded definitions: schema/*.json
// are HTTP plugins ("stream": true registers the same definition for
// stream too), schema/stream/*.json are stream plugins whose schema
// differs from their HTTP namesake.
func load() error {
	return fs.WalkDir(defFiles, "schema", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := defFiles.ReadFile(p)
		if err != nil {
			return err
		}
		var def definition
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&def); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		name := strings.TrimSuffix(path.Base(p), ".json")
		sub := HTTP
		if path.Dir(p) == "schema/stream" {
			sub = Stream
			if def.Stream {
				return fmt.Errorf("%s: \"stream\" belongs in the HTTP definition", p)
			}
		}
		pl, err := build(name, sub, &def)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		subs := []*Plugin{pl}
		if def.Stream {
			st := *pl
			st.Subsystem = Stream
			subs = append(subs, &st)
		}
		for _, r := range subs {
			if _, dup := registry[r.Subsystem][name]; dup {
				return fmt.Errorf("%s: %s plugin %s defined twice", p, r.Subsystem, name)
			}
			registry[r.Subsystem][name] = r
		}
		return nil
	})
}

func build(name string, sub Subsystem, def *definition) (*Plugin, error) {
	if def.Type != "" && def.Type != "auth" {
		return nil, fmt.Errorf("type %q: want \"auth\" or none", def.Type)
	}
	p := &Plugin{
		Name: name, Subsystem: sub, Priority: def.Priority, Version: def.Version,
		Type: def.Type, RunPolicy: def.RunPolicy, checks: customChecks[name],
	}
	if def.Schema == nil {
		return nil, fmt.Errorf("no schema")
	}
	main, err := injectMeta(def.Schema)
	if err != nil {
		return nil, err
	}
	for kind, raw := range [...][]byte{Route: main, Consumer: def.ConsumerSchema, Metadata: def.MetadataSchema} {
		if raw == nil {
			continue
		}
		s, err := compile(fmt.Sprintf("plugins/%s/%s/%s.json", sub, name, schemaFields[kind]), raw)
		if err != nil {
			return nil, err
		}
		p.schemas[kind] = s
	}
	return p, nil
}

// injectMeta adds the _meta property and the "$comment" mark to a plugin's
// main schema, as APISIX's plugin loader does.
func injectMeta(raw []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	props := map[string]json.RawMessage{}
	if p, ok := doc["properties"]; ok {
		if err := json.Unmarshal(p, &props); err != nil {
			return nil, fmt.Errorf("schema properties: %w", err)
		}
	}
	if _, ok := props["_meta"]; ok {
		return nil, fmt.Errorf("schema declares the reserved property _meta")
	}
	props["_meta"] = json.RawMessage(metaSchema)
	var err error
	if doc["properties"], err = json.Marshal(props); err != nil {
		return nil, err
	}
	doc["$comment"], _ = json.Marshal(metaMark)
	return json.Marshal(doc)
}

func compile(name string, raw []byte) (*schema, error) {
	v, err := resource.CompileSchema(name, raw)
	if err != nil {
		return nil, err
	}
	s := &schema{v: v, json: v.JSON()}
	dec := json.NewDecoder(bytes.NewReader(s.json))
	dec.UseNumber()
	if err := dec.Decode(&s.doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if ef, ok := s.doc["encrypt_fields"].([]any); ok {
		for _, f := range ef {
			if f, ok := f.(string); ok {
				s.encrypt = append(s.encrypt, f)
			}
		}
	}
	return s, nil
}

// Lookup returns the plugin registered under name for sub.
func Lookup(sub Subsystem, name string) (*Plugin, bool) {
	p, ok := registry[sub][name]
	return p, ok
}

// All returns the plugins registered for sub, highest priority first (ties
// by name). The slice is the caller's.
func All(sub Subsystem) []*Plugin {
	out := make([]*Plugin, 0, len(registry[sub]))
	for _, p := range registry[sub] {
		out = append(out, p)
	}
	slices.SortFunc(out, byPriority)
	return out
}

// Sorted returns the names registered for sub, highest priority first, as
// GET /apisix/admin/plugins/list does with the enabled list: names without
// a registration are left out, ties (none among APISIX's plugins) go by
// name.
func Sorted(sub Subsystem, names []string) []string {
	var ps []*Plugin
	for _, n := range names {
		if p, ok := registry[sub][n]; ok {
			ps = append(ps, p)
		}
	}
	slices.SortStableFunc(ps, byPriority)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func byPriority(a, b *Plugin) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// SchemaJSON returns the schema of kind as the Admin API serves it
// (GET /apisix/admin/schema/plugins/<name>): the Route schema carries the
// injected _meta and "$comment"; Consumer and Metadata are the module's
// own and missing (false) when it declares none. The slice is the
// caller's.
func (p *Plugin) SchemaJSON(kind SchemaKind) ([]byte, bool) {
	if kind < Route || kind > Metadata || p.schemas[kind] == nil {
		return nil, false
	}
	return bytes.Clone(p.schemas[kind].json), true
}

// EncryptFields returns the fields of a kind conf that APISIX stores
// encrypted when apisix.data_encryption is on: dotted paths into the
// conf ("key", "redis_password", "a.b"), as encrypt_fields in the schema
// APISIX picks for kind (Consumer falls back to the Route schema when the
// plugin has no consumer schema, so a rate limit on a consumer encrypts
// its redis_password too). Nil when there are none. The slice is the
// caller's.
func (p *Plugin) EncryptFields(kind SchemaKind) []string {
	s := p.schemaFor(kind)
	if s == nil {
		return nil
	}
	return slices.Clone(s.encrypt)
}

// schemaFor is the schema APISIX checks and encrypts a kind conf with.
func (p *Plugin) schemaFor(kind SchemaKind) *schema {
	switch kind {
	case Consumer:
		if s := p.schemas[Consumer]; s != nil {
			return s
		}
		return p.schemas[Route]
	case Metadata:
		return p.schemas[Metadata]
	}
	return p.schemas[Route]
}
