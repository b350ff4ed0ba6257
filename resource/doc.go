// Package resource is the single home of Portico's resource model: the
// typed form, JSON schema and validation of every object stored under the
// etcd prefix (routes, services, upstreams, consumers, credentials,
// consumer groups, plugin configs, global rules, SSLs, plugin metadata,
// protos, stream routes, secrets). The Admin API validates with it before
// writing; every worker's config store validates with it what it reads.
//
// Invariants:
//
//   - Contract. Field names, constraints and error texts are Apache APISIX's
//     (shared/spec/APISIX.md 2.1, 3.4-3.6, 5; apisix/schema_def.lua). Error
//     texts are api7/jsonschema's, rebuilt from the JSON Schema library's
//     error tree (render.go); Error() is exactly what APISIX returns in
//     error_msg.
//   - One schema per kind. Each is a draft-07 JSON document under schema/,
//     embedded, with $refs inlined at init (schemas.go) and compiled once.
//     Schema(kind) serves the very document that validates.
//   - Hostile input. Values are parsed by a token-level pass that rejects
//     invalid JSON, duplicate keys at any depth (CVE-2022-25757: parsers
//     disagreeing about which duplicate wins), nesting deeper than MaxDepth
//     and trailing data; top-level values that are not objects are
//     rejected.
//   - Stored = accepted. Validate never writes defaults into what is
//     stored: it returns the typed view of the input as given. Runtime
//     defaults are computed on demand (Upstream.Defaults).
//   - Lua leniencies kept. Like api7/jsonschema, an empty {} is accepted
//     where an array is expected and [] where an object is; integers may be
//     written 1.0 (normalize.go).
//   - Certificate pairs. Every cert/key pair (ssl cert+key and certs[i]+keys[i],
//     upstream tls.client_cert+client_key) must parse, with the OpenSSL texts
//     APISIX reports, and the key must be the one of the chain's first
//     certificate; otherwise "failed to match cert and key: the private key is
//     not the key of the certificate" (Portico's text: APISIX does not check,
//     and nginx would fail every handshake). A key stored AES-encrypted (not
//     starting with "---") is not checked here; resource/keyring decrypts it.
//   - Plugins stay raw. Plugin configurations are json.RawMessage; only
//     "plugins is an object" is checked here. Checks that need other state
//     (referenced ids, the plugin registry, the keyring for encrypted keys,
//     compiling Lua, protobuf or JSONPath) belong to the callers.
//   - Safe for concurrent use: all package state is built at init and only
//     read afterwards.
package resource
