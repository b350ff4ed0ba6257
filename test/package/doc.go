// Package pkgtest installs the .deb that `make package` builds, as an operator
// would, inside a throw-away mount and network namespace, and checks the rpm's
// and the deb's layout, conffiles and scripts.
//
// It runs only through `make package-test` (build tag packagetest; root): the
// test re-executes itself under `unshare --mount --net`, mounts overlays on
// /usr, /etc and /var whose upper layers live on a tmpfs private to the
// namespace, and brings up a loopback of its own, so the gateway's default
// ports are free and nothing it or dpkg writes survives the namespace. Inside,
// it installs the first version, starts Portico as the systemd unit does,
// creates a route through the Admin API, upgrades to the second version while
// clients send requests (zero failures allowed), checks ownership and an
// unprivileged restart, rotates the logs with the shipped logrotate snippet,
// removes and purges the package, and compares /usr, /etc and /var with what
// they were before the install. Outside, it checks that nothing named portico
// appeared and that the account databases did not change.
package pkgtest
