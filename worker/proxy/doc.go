// Package proxy forwards a matched request to its upstream: node choice per
// try, keep-alive pools, nginx's per-operation timeouts, retries, the Host
// and X-Forwarded-* rules of APISIX, WebSocket, and nginx's error pages.
//
// Invariants:
//   - Bodies stream both ways; nothing is buffered beyond the copy buffers,
//     so a request or response of any size costs a few buffers of memory.
//   - A try is retried only on what nginx's default `proxy_next_upstream
//     error timeout` allows: a connection error or a timeout before the
//     response header arrived, never an HTTP status. A request whose body
//     was already (partly) sent is not retried, because the body streams
//     and cannot be sent twice (nginx buffers it first; Portico does not,
//     to keep memory bounded).
//   - Timeouts are nginx's: connect bounds the dial; send bounds each write
//     and read each read on the upstream connection (between two successive
//     operations, not the whole transfer). A timeout answers 504, any other
//     failure 502, both with nginx's HTML page and X-APISIX-Upstream-Status.
//   - One http.Transport per pool configuration (scheme, keep-alive, TLS,
//     timeouts) holds the idle connections, keyed per node inside it, as
//     APISIX's pool key scheme#host#port (+SNI).
//
// What the upstream receives: the request line's path and query as the
// client sent them (the router matched on the normalised form); Host per
// pass_host; X-Real-IP = client address; X-Forwarded-For = the client's
// value plus the client address; X-Forwarded-Proto/-Host/-Port = what the
// gateway saw; Forwarded removed; hop-by-hop headers removed.
package proxy
