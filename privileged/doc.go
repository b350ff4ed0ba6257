// Package privileged is the privileged agent: one process per node, beside
// the workers, that serves no data-plane traffic and owns the jobs that must
// run once per node (the external plugin runner, active health checks,
// metrics export, the control API).
//
// Invariants:
//   - Exactly one agent per generation; the master respawns it like a worker.
//   - It runs as the same user as the workers and never binds a data-plane port.
//   - It follows the configuration like a worker (worker/source) and runs
//     the active health checks of every upstream, writing verdicts into the
//     shared zone workers read (worker/health). Other node-wide jobs land
//     with the issues that need them.
package privileged
