// Package extplugin is the worker's side of APISIX's ext-plugin RPC
// (shared/spec/EXT_PLUGIN.md §3, §5, §6, §8-§10): a client that obtains
// conf tokens (PrepareConf), sends HTTPReqCall / HTTPRespCall, answers the
// runner's ExtraInfo questions, and decodes the answer for the caller to
// apply. It never spawns the runner (the privileged agent does) and never
// logs: every failure is returned, wrapped, to the caller, which decides
// between 503 and allow_degradation.
//
// Invariants:
//
//   - Framing: every frame is one Write of header and payload together (the
//     v0.5.0 runner reads a payload with one Read); payloads over 2^24-1
//     bytes are refused before anything is written. Reads go through a
//     per-connection buffer with io.ReadFull, since the runner writes header
//     and payload separately.
//   - A connection carries one exchange at a time and goes back to the pool
//     only after a fully successful exchange; after any error it is closed.
//     Dial is bounded by ConnectTimeout, each frame written and each frame
//     read by Timeout, and a cancelled context moves the deadline to the past, so a
//     hung runner fails a call at Timeout and never blocks it longer.
//   - A conf token is only ever sent on a connection to the runner process
//     that issued it, and an answer is only accepted when that can be
//     proved. Token numbers restart at 1 in every runner process, so a
//     stale token does not fail: it names another route's conf. Tokens and
//     connections are tagged with the runner generation read before the
//     dial (Options.Generation, which the agent raises before it spawns
//     each runner) and with the peer's pid (SO_PEERCRED); a token is used
//     only on a connection with the same tags. After the answer the
//     generation is read again: if it moved, the answer may come from a
//     runner spawned meanwhile, so it is discarded, everything is flushed
//     and the call is retried (an attempt). If it did not move, no runner
//     was spawned between the dial and the answer, and since two live
//     processes never share a pid, and a pid can only be reused by a
//     process spawned later (which needs a raise), the issuer and the
//     answerer are one process. Without the pid (another pid namespace)
//     this still holds as long as the agent raises the counter only once
//     the previous runner is gone, which it does for a crash and which
//     reloads get for free since each generation has its own socket path.
//   - A generation different from the one the cache was filled under
//     flushes every token and idle connection before the next use: that is
//     how "every worker flushes its tokens when the runner exits" works
//     without any message.
//   - Attempts (spec §8.5): at most 3. RPC_ERROR CONF_TOKEN_NOT_FOUND
//     flushes the whole token cache and tries again; a generation change
//     discards and tries again; anything else ends the call with its error
//     (RunnerError / ErrRunner, ErrProtocol, ErrFrameTooLarge, a context
//     error, or a network error for which errors.Is(err,
//     os.ErrDeadlineExceeded) reports a Timeout).
//   - A pooled connection may be dead (runner restarted while it was idle).
//     Within an attempt, an exchange that failed on a reused connection
//     before any byte of an answer arrived, with EPIPE or ECONNRESET, is run
//     once more on a fresh connection: on a unix socket those mean the peer
//     was closed before our frame or closed with it unread, so the runner
//     never ran the request. A plain EOF after a good write is not retried:
//     the runner read the request (it may have run plugins with side
//     effects) and then closed, as the Go SDK does when a plugin panics.
//   - Concurrent misses of one key on one runner share one PrepareConf and
//     its outcome (a hung runner costs each waiter one Timeout, not one
//     per waiter in turn); the cache is re-checked under the lock. Tokens
//     expire after ExpireTime; PrepareConf runs on the connection the call
//     then uses.
//   - The request id (WorkerID<<22 | counter) must be echoed: a different
//     id in an answer is ErrProtocol. APISIX only logs it, but with one
//     exchange per connection a foreign id can only mean a confused runner,
//     and its answer might belong to another request. The official runners
//     echo it.
//   - Answers are copied out of the read buffer; builders and read buffers
//     are reused (a sync.Pool and per connection), except ones that grew
//     past 256 KiB.
//   - A call may poll its socket for the answer (spin.go) for at most
//     100 µs, only when it is the client's only call in flight and
//     answers have been arriving that fast, yielding to every runnable
//     goroutine between polls. The read, its deadline and its errors are
//     unchanged: polling only decides when the read starts.
package extplugin
