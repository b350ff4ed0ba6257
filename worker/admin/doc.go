// Package admin serves APISIX's Admin API (v3) on the admin listeners of
// every worker: the resources under PREFIX/ in etcd, the plugin and schema
// endpoints, with APISIX's shapes, status codes and error texts.
//
// Invariants:
//   - Nothing reaches etcd unless it passed every check APISIX makes (the
//     shared resource schemas, the enabled plugins' schemas, the reference
//     checks) and was re-encoded from the validated tree: the bytes stored
//     are never the bytes received, so a duplicate key or an odd encoding
//     cannot mean one thing to the validator and another to the data plane
//     (CVE-2022-25757). A rejected request leaves the etcd revision as it
//     was.
//   - The peer check (allow_admin) uses the TCP peer address only; no
//     header (X-Real-IP, X-Forwarded-For) can change who the peer is. It
//     runs before anything else, CORS pre-flight included.
//   - When the admin listener is bound to loopback, the Host header must
//     name a loopback address or localhost, and an Origin header must too
//     (or equal the Host): a browser page elsewhere cannot drive the API
//     through DNS rebinding or a cross-site request. APISIX has no such
//     check.
//   - Keys are compared in constant time and never logged. The key is read
//     from the X-API-KEY header, then the api_key query argument, then the
//     x_api_key cookie (APISIX's sources); the header is the one to use,
//     because query strings end up in access logs and browser history.
//   - Request bodies are bounded at 1.5 MiB (APISIX's limit), must be UTF-8
//     and at most resource.MaxDepth deep.
//   - The checks that look at other resources (references, "still in use",
//     duplicate auth keys, one plugin per global rule) read etcd, not the
//     worker's synced view as APISIX does: a route written a moment ago
//     through another worker already protects its upstream.
//
// Differences from APISIX, on purpose: SSL objects never return their
// private keys (APISIX returns them encrypted from PUT); ids "." and ".."
// (and any id containing "..") are refused; invalid UTF-8 in a body is a
// 400 instead of being stored.
package admin
