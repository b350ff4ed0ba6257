// Package cli implements the apisix-style verbs of `portico`: help, version,
// init, init_etcd, start, stop, quit, reload, restart, upgrade, reopen, test
// and status. Each verb validates before it acts and says exactly what went
// wrong (file, key path, address) on failure, with a non-zero exit.
//
// The verbs drive a running master through signals (stop, quit, reopen: the
// same signals systemd or kill would send) and through the control socket
// where the caller must learn the outcome (reload, upgrade, status).
package cli
