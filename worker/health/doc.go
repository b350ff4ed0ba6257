// Package health holds the node-wide health of upstream nodes: the table in
// shared memory that every process reads, the passive reports workers make
// from real traffic, and the agent's checker that probes nodes and writes
// the verdicts.
//
// Invariants:
//   - Active checks run once per node, in the privileged agent, never once
//     per worker. Passive checks are reported by every worker after every
//     proxy try (Table.Report) and judged by the agent.
//   - The agent is the only writer of verdicts and the only one to register
//     targets; workers read verdicts and bump counters, lock-free (atomic
//     loads and one compare-and-swap). A reader that finds no entry treats
//     the node as healthy (no checker, or not registered yet), as APISIX
//     does before its checker exists; reports for it are dropped.
//   - A target is identified by its owner's etcd key (the route, service or
//     upstream holding the upstream) and the node's host:port as configured,
//     so a verdict survives config changes that do not touch that upstream.
//     A domain node is one target whatever it resolves to (APISIX checks
//     each resolved address).
//   - Thresholds and counting are lua-resty-healthcheck's: one set of
//     consecutive counters per target shared by active and passive checks
//     (counters.go), each outcome compared with the threshold of the check
//     that produced it; a success clears the failure counters and a failure
//     the success counter; a threshold of 0 turns its counter off. Active:
//     `healthy.successes` good probes mark a node healthy,
//     `unhealthy.http_failures`, `tcp_failures` or `timeouts` bad ones mark
//     it unhealthy. Passive: the same with checks.passive's thresholds and
//     statuses, statuses in neither list ignored. An unhealthy node gets no
//     traffic (unless all are), so passive checks mark nodes unhealthy and
//     active checks bring them back, which is why APISIX requires `active`
//     with `passive`.
//   - Bound: a worker's report that reaches a passive threshold raises a
//     flag in the target's counters; the agent collects flags every
//     PassiveTick (20 ms) and writes the verdict, which every worker reads on
//     its next pick. So a passively unhealthy node stops getting new tries
//     within PassiveTick plus scheduling delay of the report (< 50 ms on an
//     idle node). Crossings flagged between two collections are applied in
//     order with the agent's own probes: the agent drains the flags in the
//     same compare-and-swap that counts a probe.
//
// Table layout and capacity (table.go):
//   - Slot 0 of the zone is a header naming the layout. The first process
//     to open a fresh (zeroed) zone claims it; a zone claimed by another
//     layout leaves the table inert (every node healthy, Err says why)
//     rather than misreading it. The master keeps a zone across reloads and
//     upgrades while its name and size stay, so a binary that changes the
//     layout must change the header value and get a fresh zone.
//   - Then buckets of three 64-bit slots: key, state, counters. Open
//     addressing with linear probing from key mod buckets, at most maxProbe
//     (64) buckets; key 0 marks an empty bucket. A bucket is registered by
//     the agent with state and counters stored before the key, so a reader
//     that sees the key sees them. Buckets are never freed or moved: a key
//     found once stays in its bucket for the zone's life, and a lookup stops
//     at the first empty bucket. A target whose 64 probed buckets are all
//     taken is not checked and reads healthy (the agent logs it).
//   - Capacity is (size/8 - 1)/3 buckets: APISIX's default 10m zone holds
//     about 436,000 targets. Targets of deleted upstreams keep their buckets
//     (with their last verdict, used again if the target comes back), so the
//     table must stay well below capacity over the zone's life; a restart
//     or a resized zone starts empty.
package health
