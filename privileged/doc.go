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
package privileged
