// Package dns resolves the domain names of upstream nodes for the proxy: a
// caching stub resolver following APISIX's resolver settings
// (apisix.dns_resolver, dns_resolver_valid, resolver_timeout, enable_ipv6,
// enable_resolv_search_opt), as APISIX's core.resolver does over
// lua-resty-dns-client.
//
// Invariants:
//   - IP literals ("10.0.0.1", "::1", "[::1]") are returned as they are,
//     without touching the cache, the hosts file or the network, and without
//     allocating.
//   - The hosts file is consulted before DNS, read once by New (a reload
//     starts new workers, which read it again). A name listed there gets its
//     first IPv4 address, or its first IPv6 address when IPv6 is enabled and
//     it has no IPv4 one (APISIX's parse_domain); other names go to DNS.
//   - A name is looked up as A, then AAAA when IPv6 is enabled and it has no
//     A record; the type that answered last time is asked first. CNAMEs are
//     followed. Every Resolve picks one address of the answer at random, as
//     APISIX does for a domain node with several records.
//   - An answer is fresh for its smallest TTL (at least 1 s, so one name
//     costs at most one query per second), or for dns_resolver_valid when
//     that is set. A lookup is bounded by resolver_timeout, across every
//     nameserver and retry; UDP answers marked truncated are asked again
//     over TCP.
//   - At most one lookup per name is in flight: concurrent callers wait for
//     the same one. Once an answer expires it is still served while one
//     background lookup refreshes it (lua-resty-dns-client's stale-while-
//     refreshing), so requests do not wait on DNS every TTL.
//   - A refresh that fails for want of an answer (timeout, SERVFAIL,
//     REFUSED, unreachable server) keeps serving the last good answer for at
//     most MaxStale past its expiry, with an error wrapping ErrStale that
//     says why; it is retried at most once per second. An authoritative "no
//     such name" or "no address of that type" replaces the answer at once:
//     the name no longer points there. Negative answers are cached for 30 s
//     and failures for 1 s, so a dead nameserver does not cost every request
//     a timeout.
//   - The cache holds one entry per distinct name ever resolved; names come
//     from the configuration, so it stays small. Reads take no lock.
//
// The package never logs; errors name the host and wrap their cause.
package dns
