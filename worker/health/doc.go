// Package health holds the node-wide health of upstream nodes and the active
// checker that maintains it.
//
// Invariants:
//   - Active checks run once per node, in the privileged agent, never once
//     per worker; their verdicts reach every worker through a table in the
//     shared-memory zone `upstream-healthcheck`.
//   - The agent is the table's only writer; workers only read. A reader that
//     finds no entry treats the node as healthy (no checker, or not probed
//     yet), as APISIX does before its checker exists.
//   - A target is identified by its owner's etcd key (the route, service or
//     upstream holding the upstream) and the node's host:port, so a verdict
//     survives config changes that do not touch that upstream.
//   - Thresholds are APISIX's: `healthy.successes` consecutive good probes
//     mark a node healthy; `unhealthy.http_failures`, `tcp_failures` or
//     `timeouts` consecutive bad ones mark it unhealthy.
package health
