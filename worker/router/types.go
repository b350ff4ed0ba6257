package router

import "net/netip"

// Mode is apisix.router.http.
type Mode string

const (
	// HostURI is APISIX's default: a host tree first, host-less routes after.
	HostURI Mode = "radixtree_host_uri"
	// URI treats hosts as one more per-route condition.
	URI Mode = "radixtree_uri"
	// URIWithParameter is URI plus `:name` path parameters.
	URIWithParameter Mode = "radixtree_uri_with_parameter"
)

// Route is what matching needs from an APISIX route (after the caller
// merged service hosts into it when the route has none).
type Route struct {
	ID          string   // unique in a table; breaks full precedence ties
	URIs        []string // uri / uris
	Hosts       []string // host / hosts (lower-cased by Build); empty = host-less
	Methods     []string
	RemoteAddrs []string // remote_addr / remote_addrs: IPs or CIDRs, v4 and v6
	Vars        []any    // decoded JSON of `vars` (lua-resty-expr), nil = none
	Priority    int
	Status      *int // nil or 1 = enabled, anything else (0) = disabled
	Value       any  // opaque payload handed back on match
}

// Request is what a match looks at. Var resolves other variables (arg_x,
// http_x, cookie_x, ...) lazily; the router calls it only when a candidate
// has vars.
type Request struct {
	Method     string
	Host       string // $host: lower-case, port stripped (normalized here if the caller did not)
	HostHeader string // raw Host header incl. port ($http_host), for radixtree_uri hosts with ':'
	Path       string // the normalized path (see Normalize)
	RemoteAddr netip.Addr
	Var        func(name string) (string, bool)
	// VarList resolves variables whose value is a list (graphql_root_fields,
	// a JSON array under post_arg.*). Only the `has` operator uses it: in
	// lua-resty-expr `has` is false whenever the left side is not a table,
	// so a nil VarList makes every `has` false.
	VarList func(name string) ([]string, bool)
}

// Match is a successful lookup.
type Match struct {
	// Route is the router's own copy of the matched route (hosts
	// lower-cased); treat it as read-only.
	Route *Route
	// Params holds uri_param_<name> values. Filled when the matched uri has
	// capture segments: in URIWithParameter mode every capture (a bare `*`
	// is named ":ext"); in the other modes only named ones (`*rest`), so the
	// ubiquitous `/foo/*` stays allocation-free. nil otherwise.
	Params map[string]string
}
