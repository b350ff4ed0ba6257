// Package router matches requests to APISIX routes the way
// lua-resty-radixtree does under APISIX's three apisix.router.http modes
// (spec section 4.1-4.4). It covers matching only: service and upstream
// resolution and HTTP serving belong to the caller.
//
// Precedence, as the contract for every mode:
//   - Only routes with status absent or 1 exist.
//   - A uri without `*` (and, in URIWithParameter, without `:`) is exact.
//     Exact candidates are tried before any prefix; prefixes from the
//     longest stored prefix down. The stored prefix is the uri cut at its
//     first `*` (or `:` in URIWithParameter), so `/foo*` is a plain byte
//     prefix (`/foo`, `/foobar`) and `/foo/*` needs `/foo/` (not `/foo`).
//   - Candidates under one stored key are ordered by priority desc, then
//     longer uri as written, then route id (byte order), then the uri's
//     position in the route's list. Priority never moves a candidate to
//     another key: it cannot make a shorter prefix beat a longer one, nor a
//     prefix beat an exact path. The order never depends on the order
//     routes were given or updated in (APISIX inserts in etcd key order,
//     i.e. id order, on a full load), so equal route sets route alike on
//     every worker whatever their history. Route ids are unique.
//   - Per candidate: methods, remote_addrs, hosts, vars, then (prefix uris
//     with `:name`/`*name`/`*` segments) a full-path pattern match. The first
//     candidate passing all wins.
//   - HostURI: host-bound routes live in a host tree searched with $host:
//     the exact host, then wildcard suffixes longest first, `*` last; only
//     when no host-bound route matches are host-less routes tried. So any
//     matching host-bound route beats every host-less one, whatever the
//     priorities. URI and URIWithParameter: a host is one more per-route
//     condition; a route host containing ':' is compared with the raw Host
//     header (port included) instead of $host.
//
// Versions: a Router is immutable. Update(del, add) returns the Router that
// Build would return for the changed route set, sharing every table, trie
// node and candidate list the change does not touch; the Router it was
// called on keeps serving unchanged (requests in flight never see a
// partial change). Nodes created by one Update carry its generation and are
// edited in place while it runs; everything older is copied before any
// edit. Tries stay path-compressed after removals, so a table after any
// sequence of updates has the same shape as one built from scratch.
//
// Cost invariant: exact uris and hosts are hashed, prefixes and wildcard
// host suffixes sit in byte tries walked along the request path (and
// backwards along the host). A match costs the path and host length plus
// the candidates stored at the keys the request hits; the number of routes
// never enters. An Update costs the routes it removes and adds: the trie
// paths along their keys are copied, plus one copy of each hashed map it
// edits (the exact uris of one uri table, the exact hosts); the rest of the
// table is shared. Match does not allocate unless the matched uri exposes
// captures (Params; in URIWithParameter a bare `*` is exposed as ":ext") or
// the caller passed a Host that is not yet $host-shaped; vars evaluation
// itself does not allocate. The tests assert this.
//
// Path normalisation and what the upstream receives: Match takes the path
// already normalized by Normalize (nginx's $uri: percent-decoded once, `//`
// merged, `.`/`..` resolved, never above the root). Routing decisions are
// made on that form only, so no spelling of a path (`%2e%2e`, `%2F`,
// `/./`, `//`, mixed-case escapes) can reach a route whose prefix the
// decoded path does not have, and a path that would climb above the root
// is refused (400) instead of being clamped. The upstream, as in APISIX,
// receives the request URI as the client sent it (raw, undecoded, with its
// query string) unless a plugin such as proxy-rewrite sets another one. A
// backend that decodes and resolves dot segments once therefore arrives at
// the same path the router matched; one that decodes twice can see `%252e`
// as `..` where the router saw the literal `%2e` - such a backend must not
// rely on gateway prefixes for access control.
//
// Known, deliberate differences from lua-resty-radixtree:
//   - vars regexes (`~~`, `~*`) and literal uri items inside a capture
//     pattern are RE2, not PCRE: constructs RE2 lacks (look-around,
//     backreferences) are Build errors rather than runtime failures.
//   - Capture names map to their own groups; radixtree's positional
//     mapping shifts names after a `*name` or after a literal item
//     containing a regex group.
//   - Any vars or uri problem is a Build (or Update) error for the whole
//     call; neither ever returns a partial router.
//   - IPv4-mapped IPv6 client addresses are matched as IPv4.
package router
