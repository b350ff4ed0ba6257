// Package tmpl renders the merged configuration into the runtime file, the one
// human-readable snapshot that children (workers and the privileged agent)
// load, as nginx workers load nginx.conf rendered by APISIX's template.
//
// Invariants:
//   - Render is a pure function of its inputs: the same Config and Inputs give
//     byte-identical output (golden tests in testdata/ hold it to that).
//   - The runtime file is YAML, rendered with text/template so that it reads like
//     a config file (comments, one section per concern) and parsed back strictly
//     by Load: a key the template writes but Runtime lacks is a test failure,
//     never silently ignored.
//   - Children read only this file, never config.yaml: what a generation runs
//     with is exactly what `portico test -v` prints.
//   - The runner's socket path is unique per master pid and generation and
//     fits sun_path (Inputs, runner in render.go): two runners alive at once
//     during a reload or an upgrade never share, or delete, each other's.
//   - The file holds secrets (etcd password, admin keys), so it is written
//     mode 0600 by its writer (the master), owned by the children's user.
package tmpl
