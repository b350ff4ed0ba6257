// Package store keeps one worker's copy of the gateway configuration that
// lives in etcd under the APISIX prefix (spec 2.2): "snapshot plus delta",
// shaped like etcd's mirror.Syncer.
//
// Invariants:
//   - Snapshot() never returns nil and what it returns is never modified:
//     a Snapshot, its Items maps and its Items are read-only once published.
//     A new snapshot shares the maps of kinds that did not change with the
//     previous one (copy on write).
//   - Snapshot.Changed tells a consumer which items differ from an
//     earlier snapshot: for consecutive publishes from the recorded
//     changes (cost: their number), otherwise by comparing item pointers.
//     This is what lets the data plane rebuild only what a change touched.
//   - One goroutine (Run) owns the working state: the revision, the pending
//     changes and the invalid-item log. Readers only do an atomic load.
//   - The content is read at one revision (a paginated, linearizable Get
//     fixed at the first page's revision) and then changed only by watch
//     events from revision+1, so a snapshot always equals etcd's content at
//     its Revision, minus invalid or ignored keys.
//   - An item whose new value fails validation keeps its previous valid
//     version; a key that never had a valid version is absent. This holds on
//     the watch path and on every full re-read (APISIX t/core/config_etcd.t
//     TEST 16). Each (key, mod revision) is logged at most once.
//     A Validator that panics is treated as rejecting the value: one bad key
//     must not crash-loop every worker at once.
//   - A full re-read (compaction, a revision lower than one already seen, a
//     different cluster ID) builds the item set from the listing only, so a
//     deleted key never comes back (TEST 17). There is at most one per
//     second, and an outage alone never causes one: after it the store
//     checks etcd's revision and cluster ID and resumes the watch.
//   - While etcd is unreachable the last snapshot keeps being served; the
//     store retries with jittered exponential back-off and logs at most one
//     line per back-off step, and no more than one per second.
//   - Hash depends only on content: every item has a SHA-256 digest over
//     three length-prefixed fields (8-byte big-endian length, then bytes):
//     kind, id, raw value; Hash is the sum of the digests modulo 2^256, as
//     64 hex digits (all zeros when empty). Equal content gives an equal
//     hash on every worker, whatever its revision or history, and a change
//     updates it from the changed items alone (subtract the old digest,
//     add the new one), so publishing one change never rehashes the rest.
//     It tells converged workers apart; it is no defence against content
//     crafted to collide.
//
// Defaults (Options fields of the same name):
//   - BackoffInitial 100ms, BackoffMax 2s, doubling, "equal jitter": each
//     wait is uniform in [d/2, d]. The cap is low on purpose: a worker must
//     be back at the head revision within a couple of seconds of etcd
//     returning (RELIABILITY E2), and an attempt against a dead connection
//     already waits up to RequestTimeout, so retries stay sparse.
//   - RequestTimeout 5s per page of the listing and per watch creation.
//   - ProbeInterval 2s, ProbeTimeout 3s: when the watch has been silent for
//     ProbeInterval a linearizable Get checks that etcd answers and that its
//     revision and cluster ID did not go backwards or change; no answer
//     within ProbeTimeout marks etcd unreachable.
//   - MinBuildInterval 100ms: the first change after a quiet period is
//     published at once; changes arriving within 100ms of the last build are
//     coalesced into the next one (traefik providersThrottleDuration).
//   - CacheInterval 1s: the last good snapshot is written to CacheFile
//     (temp file, fsync, rename, mode 0600) by its own goroutine once no
//     new snapshot came for CacheInterval, so a burst of changes is written
//     once after it instead of competing with its builds; while changes
//     never pause, at the latest 5 CacheIntervals after the first unsaved
//     one. Never twice within one CacheInterval, only when its Hash
//     changed, and once more when Run returns. The file carries its own
//     checksum, checked on load: SHA-256 over its items sorted by kind,
//     then id, each as the three length-prefixed fields above.
//   - PageSize 1000 keys per page of the listing (mirror.Syncer).
//
// Keys: PREFIX/<kind>/<id> is an item (id may contain '/'), PREFIX/<kind>
// (no slash, e.g. PREFIX/plugins) is an item with id "". The directory
// placeholders PREFIX/<kind>/ ("init_dir") and the scratch keys
// PREFIX/gen_id and PREFIX/data_plane/... are not configuration and are
// skipped; a Validator may skip more by returning ErrIgnore.
//
// Logging: the store logs only through Options.Log, and only these lines:
// "config cache loaded"/"config cache unusable" (New), "config loaded"
// (first listing), "etcd unreachable, serving last snapshot" (per back-off
// step), "etcd reachable again", "re-reading all config" (with the reason),
// "invalid config item, keeping previous version"/"invalid config item
// ignored" (once per key and mod revision) and "config cache write failed"
// (once until a write succeeds).
package store
