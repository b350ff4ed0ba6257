package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/portico-gw/portico/resource"
)

// Error is a plugin configuration that APISIX would refuse. Error() is
// APISIX's exact text, for the Admin API's error_msg (the Admin API adds
// its own prefix where APISIX does, e.g. "invalid plugins configuration: "
// for consumers).
type Error struct {
	// Plugin is the plugin name the failure is about.
	Plugin string
	// Detail is the failure without APISIX's wrapping: the schema or
	// custom-check message for a failed check, else the whole text.
	Detail string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// checkErr wraps a failed check_schema the way APISIX's plugin loader
// does for the plugin's subsystem.
func (p *Plugin) checkErr(detail string) *Error {
	msg := "failed to check the configuration of plugin " + p.Name + " err: " + detail
	if p.Subsystem == Stream {
		msg = "failed to check the configuration of stream plugin [" + p.Name + "]: " + detail
	}
	return &Error{Plugin: p.Name, Detail: detail, msg: msg}
}

func plainErr(plugin, msg string) *Error {
	return &Error{Plugin: plugin, Detail: msg, msg: msg}
}

// Check is the plugin's check_schema: conf against the schema of kind
// (with APISIX's defaults filled in first, as api7/jsonschema does while
// validating), then the plugin's own checks. Failures are *Error reading
// "failed to check the configuration of plugin <name> err: <detail>"
// ("... of stream plugin [<name>]: <detail>" for stream plugins). A
// plugin without a Metadata schema accepts any object as metadata. conf
// is not modified.
func (p *Plugin) Check(kind SchemaKind, conf json.RawMessage) error {
	tree, err := decode(conf)
	if err != nil {
		return p.checkErr(err.Error())
	}
	if detail := p.check(kind, tree); detail != "" {
		return p.checkErr(detail)
	}
	return nil
}

// check runs check_schema on tree, which it may fill with defaults and
// normalize, and returns the failure text or "".
func (p *Plugin) check(kind SchemaKind, tree any) string {
	if arr, ok := tree.([]any); ok && len(arr) == 0 {
		tree = map[string]any{} // Lua cannot tell [] from {}
	}
	s := p.schemaFor(kind)
	if s == nil { // APISIX injects {"type":"object"} for metadata
		if _, ok := tree.(map[string]any); !ok {
			return "wrong type: expected object, got " + luaType(tree)
		}
		return ""
	}
	applyDefaults(s.doc, tree)
	conf, _ := tree.(map[string]any)
	if err := s.v.Check(tree); err != nil {
		if p.checks.schemaErr != nil && conf != nil {
			return p.checks.schemaErr(conf, err.Detail)
		}
		return err.Detail
	}
	if p.checks.conf != nil {
		return p.checks.conf(kind, conf)
	}
	return ""
}

// CheckPlugins checks the plugins object of one resource the way APISIX's
// Admin API does (apisix/plugin.lua check_schema / stream_check_schema,
// skip_disabled_plugin false), in name order so the first failure
// reported is stable:
//
//   - a conf that is not a JSON object or array (Lua: not a table) ->
//     `invalid plugin conf <json> for plugin [<name>]`;
//   - a plugin not registered for sub, or not enabled ->
//     `unknown plugin [<name>]`; a nil enabled means every registered
//     plugin is;
//   - Check fails -> its error, unless the conf says
//     "_meta": {"disable": true}: a disabled plugin never runs, so its
//     errors are tolerated (spec 3.6);
//   - HTTP only: a "_meta.filter" that does not compile ->
//     `failed to validate the 'vars' expression: <err>`, disabled or not.
//
// kind is Route for routes, services, plugin configs, consumer groups and
// global rules, Consumer for consumers and credentials; stream resources
// use Route. Failures are *Error. plugins is not modified.
func CheckPlugins(plugins map[string]json.RawMessage, enabled func(name string) bool, kind SchemaKind, sub Subsystem) error {
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		tree, err := decode(plugins[name])
		if err != nil {
			return plainErr(name, fmt.Sprintf("invalid plugin conf for plugin [%s]: %v", name, err))
		}
		if !isTable(tree) {
			return plainErr(name, "invalid plugin conf "+cjsonEncode(tree)+" for plugin ["+name+"]")
		}
		p, ok := registry[sub][name]
		if !ok || (enabled != nil && !enabled(name)) {
			return plainErr(name, "unknown plugin ["+name+"]")
		}
		// Read _meta before check may normalize the tree.
		obj, _ := tree.(map[string]any)
		meta, _ := obj["_meta"].(map[string]any)
		if detail := p.check(kind, tree); detail != "" && meta["disable"] != true {
			return p.checkErr(detail)
		}
		if sub != HTTP {
			continue
		}
		if filter, ok := meta["filter"].([]any); ok {
			if err := resource.CheckExpr(filter); err != nil {
				return plainErr(name, "failed to validate the 'vars' expression: "+err.Error())
			}
		}
	}
	return nil
}

// CheckMetadata checks a plugin_metadata/<name> value as APISIX's Admin
// API does: the name must be a plugin this gateway has, in either
// subsystem, enabled or not (`invalid plugin name`; an empty name is
// `missing plugin name`), and conf must pass the plugin's metadata check
// (`invalid configuration: <detail>`). Failures are *Error.
func CheckMetadata(name string, conf json.RawMessage) error {
	if name == "" {
		return plainErr(name, "missing plugin name")
	}
	p, ok := registry[HTTP][name]
	if !ok {
		if p, ok = registry[Stream][name]; !ok {
			return plainErr(name, "invalid plugin name")
		}
	}
	tree, err := decode(conf)
	if err != nil {
		return plainErr(name, "invalid configuration: "+err.Error())
	}
	if detail := p.check(Metadata, tree); detail != "" {
		return &Error{Plugin: name, Detail: detail, msg: "invalid configuration: " + detail}
	}
	return nil
}

// decode parses one JSON value into a tree with exact numbers. The values
// reaching here were already parsed strictly as part of their resource.
func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// applyDefaults fills absent properties that have a "default", following
// properties and items, as api7/jsonschema does while it validates: the
// checks after the schema and if/then/else ("policy" defaults to "local")
// see the defaults. Composition branches are not followed.
func applyDefaults(s map[string]any, v any) {
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, ps := range props {
			sub, _ := ps.(map[string]any)
			if _, ok := x[k]; !ok {
				d, ok := sub["default"]
				if !ok {
					continue
				}
				x[k] = deepCopy(d)
			}
			applyDefaults(sub, x[k])
		}
	case []any:
		items, _ := s["items"].(map[string]any)
		for _, it := range x {
			applyDefaults(items, it)
		}
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
