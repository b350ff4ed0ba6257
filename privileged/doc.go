// Package privileged is the privileged agent: one process per node, beside
// the workers, that serves no data-plane traffic and owns the jobs that must
// run once per node (the external plugin runner, active health checks,
// metrics export, the control API).
//
// Invariants:
//   - Exactly one agent per generation; the master respawns it like a worker.
//   - It runs as the same user as the workers and never binds a data-plane port.
//   - It follows the configuration like a worker (worker/source) and owns
//     the health verdicts of every upstream node (worker/health): it runs
//     the active checks, resolving domain nodes as workers do (worker/dns),
//     and turns the passive reports workers leave in the shared zone into
//     verdicts within health.PassiveTick. It is the zone's only writer of
//     verdicts. Other node-wide jobs land with the issues that need them.
//   - With ext-plugin.cmd set it runs exactly one plugin runner (package
//     runner) on the runtime file's socket, which is private to this
//     master and generation: on reload the new agent's runner listens
//     before the old agent stops its own, and neither touches the other's
//     socket. Start returns once the runner listens (bounded); Close returns
//     only once the runner is reaped and its socket removed, so stop, quit,
//     reload and upgrade leave no runner behind. An agent killed outright
//     takes its runner along (Pdeathsig).
//   - A runner process only ever listens after the agent raised
//     tmpl.StatusSlotRunnerGeneration for it: the agent adds 1 to the slot
//     before each spawn, first and respawns. A worker that filled its
//     conf-token cache under one value and reads another flushes the cache;
//     it can never keep a token from a runner process that is gone while
//     talking to its successor on the same socket path (tokens restart at 1
//     in every runner process, so a stale one names another conf).
//   - With path_for_test and no cmd it spawns nothing: the developer runs
//     the runner, and the count does not move when it restarts.
package privileged
