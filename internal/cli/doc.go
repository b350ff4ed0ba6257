// Package cli implements the apisix-style verbs of `portico`: help, version,
// init, init_etcd, start, stop, quit, reload, restart, upgrade, reopen, test
// and status. Each verb validates before it acts and says exactly what went
// wrong (file, key path, address) on failure, with a non-zero exit.
//
// The verbs drive a running master through signals (stop, quit, reopen: the
// same signals systemd or kill would send) and through the control socket
// where the caller must learn the outcome (reload, upgrade, status).
//
// Portico ships no Admin API key. init, start and reload (the latter only with
// a live master) give every role admin entry with an empty key a random one,
// stored in the config file by conf.GenerateAdminKeys, and print one line
// naming the key path and the file. The key itself is never printed, not even
// once by init: terminal output ends up in CI logs and journals, while the
// config file is 0600 and is where the operator reads it. test only validates
// and writes nothing.
package cli
