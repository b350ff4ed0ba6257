// Package worker is the data-plane process: it serves HTTP on the node
// listeners and the Admin API on the admin listeners it inherited from the
// master, and watches etcd on its own.
//
// Invariants:
//   - A worker never binds: every listener it serves came from the master.
//   - It answers requests without waiting for etcd: reachability is probed in
//     the background and only reported (status), never a precondition.
//   - For now every data-plane request is answered 404 with APISIX's body;
//     routing arrives with the config store.
package worker
