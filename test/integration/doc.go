// Package integration drives the built bin/portico as an operator would: real
// processes, the real embedded etcd, real clients, all on 127.0.0.1 with
// ports picked free at run time. Set PORTICO_BIN to the binary under test
// (`make test` does); otherwise the tests build one.
package integration
