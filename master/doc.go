// Package master is Portico's master process: it owns every listening socket
// and shared-memory zone, renders the runtime file, forks the workers and the
// privileged agent, respawns them, and performs reload (HUP) and binary
// upgrade (USR2, via tableflip).
//
// Invariants:
//   - Only the master binds. Each listen address is bound once per worker slot
//     with SO_REUSEPORT and the sockets are handed to children as inherited
//     fds, so a respawned worker takes over the very socket (and accept queue)
//     its predecessor had.
//   - A socket is closed only when its address leaves the configuration.
//     Shrinking the worker count keeps the surplus slots' sockets and hands
//     them to the remaining workers (slot s belongs to worker s mod N):
//     closing a SO_REUSEPORT socket would drop the connections queued on it
//     (nginx ticket #1300).
//   - Every socket has two acceptors when there are two workers or more (its
//     own worker and the one before it), so a dead or crash-looping worker
//     never leaves connections waiting on a socket nobody accepts.
//   - A generation replaces the previous one only after every one of its
//     children reported ready. A reload that fails at any step (config, bind,
//     render, a child that never becomes ready) leaves the running generation
//     and its generation number untouched and returns the reason.
//   - Reload and upgrade are serialised; a second upgrade while one is in
//     flight, or before the previous master has exited, is refused at once.
//   - The pid file always names the live master: tableflip renames it into
//     place when a new master becomes ready, before the old one drains.
//   - Children die with the master: Pdeathsig, and EOF on their ipc channel.
//   - A child that exits with proc.ExitFatalConfig is never respawned; other
//     exits are respawned at once, then with capped exponential back-off while
//     the slot keeps crashing.
//
// Shutdown (Stop/Quit) proceeds in this order: stop taking control requests,
// tell children (Terminate, or Quit and wait up to worker_shutdown_timeout),
// kill the ones still alive, stop the embedded etcd, remove the control
// socket and the pid file.
package master
