// Package proxy forwards a matched request to its upstream: node choice per
// try, keep-alive pools, nginx's per-operation timeouts, retries, the Host
// and X-Forwarded-* rules of APISIX, WebSocket, and nginx's error pages.
//
// It speaks HTTP/1.1 to upstreams itself rather than through
// net/http.Transport and httputil.ReverseProxy: one write for the request
// head (and a small body), a response head parsed into one string, no
// goroutine per connection and no per-request copies of the request or its
// headers. That halved the CPU per proxied request.
//
// Invariants:
//   - Bodies stream both ways; nothing is buffered beyond the copy buffers,
//     so a request or response of any size costs a few buffers of memory.
//     A request body of known length up to 16 KiB is read first and sent
//     with the head; a larger one, or one of unknown length (sent chunked),
//     streams from a goroutine while the response is awaited, so an
//     upstream that answers early is heard.
//   - A try is retried only on what nginx's default `proxy_next_upstream
//     error timeout` allows: a connection error (TCP or TLS) or a timeout
//     before the response header arrived, never an HTTP status or an
//     invalid response. A request whose body was streamed is not retried,
//     because the body cannot be sent twice (nginx buffers it first;
//     Portico does not, to keep memory bounded).
//   - A kept-alive connection the upstream closed while idle is replaced by
//     a new one, and the request sent again, when the failure shows on its
//     first write or as a close before any response byte and no body was
//     streamed; idempotent or not, as nginx does, and not counted as a try.
//   - Timeouts are nginx's: connect bounds the dial and TLS handshake; send
//     bounds each write and read each read on the upstream connection
//     (between two successive operations, not the whole transfer; the read
//     timeout starts once the request is sent). A timeout answers 504, any
//     other failure 502, both with nginx's HTML page and
//     X-APISIX-Upstream-Status. A client that goes away is noticed within
//     a second of waiting and ends the exchange (no answer, nginx's 499).
//   - Idle connections are pooled per node under APISIX's key
//     scheme#host#port (+SNI and verification for https); the pool size and
//     idle timeout of the request that returns a connection apply, the
//     least recently used connection is closed when the pool is full.
//     Connections are reused only after a complete response whose framing
//     allowed it (Content-Length or chunked; not close-delimited, not
//     `Connection: close`, not a 1.0 response without keep-alive).
//   - A response of known length goes out through the server's write
//     buffer; one of unknown length (chunked, close-delimited: SSE) is
//     flushed whenever the upstream has nothing more buffered. A response
//     cut short by the upstream aborts the client connection.
//   - nodePool.dial is the one place a node's address is dialled;
//     exchange.report the one place a try's outcome is known.
//
// What the upstream receives: the request line's path and query as the
// client sent them (the router matched on the normalised form); Host per
// pass_host; X-Real-IP = client address; X-Forwarded-For = the client's
// value plus the client address; X-Forwarded-Proto/-Host/-Port = what the
// gateway saw; Forwarded and Expect removed (the gateway answers
// 100-continue itself); hop-by-hop headers removed.
//
// What the client receives: the upstream's status and end-to-end fields;
// hop-by-hop fields, trailers and what nginx's proxy_hide_header hides by
// default (Date, Server, X-Pad, X-Accel-*) are dropped, the gateway sets
// its own Date and Server. Interim 1xx responses other than 100 are passed
// on; 101 switches protocols when the client asked for that protocol and
// the route allows WebSocket.
package proxy
