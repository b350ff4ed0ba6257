// Package plugins is the registry of the plugins Portico implements: for
// each, what APISIX's plugin module declares (priority, version, type,
// run_policy, schema, consumer_schema, metadata_schema, encrypt_fields)
// and what its check_schema does. The Admin API validates plugin
// configurations with it and serves its schemas; workers order and check
// plugins with it.
//
// Invariants:
//
//   - Contract. Schemas, priorities, defaults and error texts are APISIX's
//     (apisix/plugins/<name>.lua; shared/spec/APISIX.md 3.2, 3.5, 3.6,
//     6.2, 6.3). Schema failures are rendered by package resource, the
//     same api7/jsonschema renderer as the resource kinds, so a plugin
//     error and a route error read alike.
//   - One file per plugin. schema/<name>.json mirrors the module table
//     (priority, version, type, schema, consumer_schema, metadata_schema);
//     schema/stream/<name>.json is a stream module whose schema differs
//     from its HTTP namesake ("stream": true reuses the HTTP one). A "$ref"
//     may point into package resource's schemas (upstream.json,
//     defs.json), so shared definitions have one source. What the JSON
//     schema cannot say lives in custom.go, by plugin name.
//   - Served = checked. The document SchemaJSON returns is the bundled
//     document that validates, with the _meta property and the
//     "$comment" mark APISIX injects into every plugin's main schema.
//   - Defaults are seen, never stored. As api7/jsonschema does, absent
//     properties get their defaults before the schema's if/then/else and
//     the custom checks run ("policy" is "local", "algorithm" is "HS256"),
//     but on a private copy: Check never changes what the caller stores.
//   - Stable errors. CheckPlugins walks plugins in name order, so the
//     failure reported for a given configuration is always the same one
//     (APISIX's is the first in Lua's hash order).
//   - Built once at init, read-only after: safe for concurrent use.
//
// Deliberate differences from APISIX:
//
//   - Regular expressions (uri-blocker, ua-restriction, cors regexes,
//     proxy-rewrite and redirect regex_uri) are compiled with Go's RE2
//     engine, the one the data plane runs: a pattern only PCRE accepts
//     (look-around, backreferences) is refused when configured instead of
//     failing at run time. Errors keep ngx.re's form, `pcre_compile()
//     failed: <reason> in "<re>"`, with PCRE's reason where both engines
//     refuse.
//   - Lua is not run: serverless functions and _meta.pre_function are
//     checked for shape only.
//   - limit-count's "group conf mismatched" is not checked: APISIX
//     compares a conf with the first one its worker happened to cache for
//     the group, process-local state a registry must not keep. Whoever
//     sees every resource (the config snapshot) can check that a group's
//     confs agree.
//
// Encrypting the fields EncryptFields lists is the data-encryption
// keyring's job; this package only names them.
package plugins
