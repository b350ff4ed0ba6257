// Package h1 is the data plane's HTTP/1.1 server: the part of net/http's
// server the gateway needs, without the per-request costs it cannot turn
// off (a goroutine and a read syscall per request to watch for a client
// that goes away, a context and a response object per request).
//
// Invariants:
//   - Handlers get a *http.Request from http.ReadRequest and an
//     http.ResponseWriter that also implements http.Flusher and
//     http.Hijacker, so http.NewResponseController works on it.
//   - Framing is never ambiguous: a request with both Content-Length and
//     Transfer-Encoding is refused (400) and its connection closed, however
//     long its head and however it arrives (the head's bytes are recorded
//     as they are read, since http.ReadRequest deletes the Content-Length
//     and lets Transfer-Encoding win); a response declares
//     its length, is chunked, or (HTTP/1.0 without a length) closes the
//     connection. A body shorter than its declared length closes the
//     connection.
//   - Every wait on the client is bounded, nginx's way: IdleTimeout
//     (keepalive_timeout) between requests, HeaderTimeout
//     (client_header_timeout) for the request head (408 once a byte of it
//     came, a silent close before), BodyTimeout (client_body_timeout)
//     between two reads of the body (the read fails with ErrBodyTimeout,
//     a timeout net.Error), SendTimeout (send_timeout) between two writes
//     of the response (a large Write goes out 64 KiB at a time, so it is
//     bounded per piece, not as a whole). Deadlines are re-armed at most every 1/8 of their
//     timeout, so a timeout fires between 7/8 and all of it after the last
//     progress. The head is limited to MaxHeaderBytes (431).
//   - A client that goes away is noticed once a request has been in flight
//     for slowRequest: only then does a background read watch the
//     connection (and cancel the request's context on EOF). Fast requests
//     never pay for it.
//   - Header values written to the client never carry CR or LF, whatever
//     a handler (or a plugin runner) put in them.
//   - A panicking handler closes its connection, never the process.
//   - ConnState reports the same states as net/http, so drain logic built
//     for http.Server works unchanged.
package h1
