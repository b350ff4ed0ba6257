// Package etcdboot runs Portico's embedded single-member etcd and writes the
// APISIX directory skeleton (init_etcd).
//
// Invariants:
//   - The embedded server serves clients on exactly the configured address and
//     keeps its data under the given directory; its peer listener binds an
//     ephemeral loopback port, so several prefixes side by side never collide
//     (a single member never dials its peers).
//   - Start returns only when the server is ready or has failed; a failure
//     names the address or directory at fault and leaves nothing running.
//   - Close returns once the port and data directory are free, without
//     waiting for clients: it first ends every gRPC stream's context
//     (through a stream interceptor), since watch streams would otherwise
//     hold etcd's graceful stop for its 5 s request timeout, so an
//     upgrade's next master starts its etcd at once.
//   - InitDirs never overwrites: it creates `PREFIX/<dir>/` = "init_dir" only
//     where the key is missing, so it is safe on every start.
package etcdboot
