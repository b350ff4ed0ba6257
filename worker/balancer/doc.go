// Package balancer picks the upstream node for each try of a request, as
// APISIX's balancer does (spec section 5): roundrobin, chash, least_conn
// and ewma, over priority groups, with health filtering and retries that
// move on to untried nodes.
//
// Use: New builds a Picker from one upstream version (nodes already
// resolved and defaulted by the caller; DNS is not done here). Every
// request keeps a Tried and calls Pick for each try, which records the
// chosen node in it, then Done when the try ends. Pick returns ErrNoNode
// when nothing is left (answer 502).
//
// Invariants:
//   - A node of weight 0 never takes traffic, whatever the kind (also as
//     the only node: APISIX's single-node shortcut would send to it).
//   - One node and kind != least_conn: that node, for every try (retries
//     included), whatever its health and the tried set.
//   - Priorities: the highest group is used first; a lower group only when
//     every node of the higher ones is tried, unhealthy or weight 0.
//   - Health: unhealthy nodes are skipped unless every node of the
//     upstream is unhealthy; then all are used. chash does not exclude them
//     from the ring: a key whose node is unhealthy walks on to the next one.
//   - Retries: a node in the request's Tried is not picked again; once every
//     eligible node of every priority is tried, Pick returns ErrNoNode.
//   - The pick path allocates nothing (Tried holds 8 nodes inline) and
//     never blocks on anything but the picker's own mutex.
//   - State (round-robin position, least_conn counts, ewma scores) belongs
//     to one picker, i.e. one upstream version. APISIX keeps least_conn
//     counts and ewma scores across versions (worker-wide / shm); here a
//     new version starts from zero.
//
// Algorithms:
//
// roundrobin is nginx's SMOOTH weighted round-robin
// (ngx_http_upstream_get_peer), not APISIX's resty.roundrobin. APISIX runs
// the classic interleaved WRR: a threshold starting at the largest weight
// drops by the weights' GCD and every node at or above it is returned in
// table order, so {a:5, b:1, c:1} gives a,a,a,a,a,b,c (a burst of five).
// Smooth WRR gives a,a,b,a,c,a,a: the same share over each cycle of
// sum(weights/gcd) picks (exactly), spread out. Like APISIX, each picker
// starts at a random point of its cycle (Config.Deterministic: at the
// start) so that workers do not move in step.
//
// chash is resty.chash: 160 points per unit of weight after dividing the
// weights by their GCD, point hashes derived with CRC-32 from
// "host\x00port" exactly as resty.chash does, so a key maps to the node
// APISIX would choose. The key comes from hash_on: vars -> $key, header ->
// $http_<key> (lower case, '-' as '_'), cookie -> $cookie_<key>,
// consumer -> the consumer name, vars_combinations -> the template
// rendered as core.utils.resolve_var does ($name, ${name ?? default});
// an absent or empty key falls back to the client address. Retries walk
// clockwise to the next point whose node is untried. With 160 points per
// unit, the hash space a node owns is only roughly its weight share
// (equal weights reduce to one unit each: about ±8% at one sigma, ±14%
// on the 10-node test), in APISIX as here. One ring holds at most 2^20
// points; beyond that weights are scaled down proportionally. The ring is
// built in New (about 1 ms for 100 nodes of weights 1..5).
//
// least_conn scores (1 + active tries) / weight, lowest wins, ties rotate.
//
// ewma draws two distinct eligible nodes and keeps the one with the lower
// latency average (decay constant 10 s; never-measured nodes score 0);
// weights other than 0 play no part, as in APISIX. A failed try raises
// the node's score to at least its duration + 1 s (APISIX records only
// the last try of a request, so a node refusing connections looks fast).
package balancer
