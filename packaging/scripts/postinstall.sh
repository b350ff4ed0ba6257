#!/bin/sh
# portico postinstall. deb: $1 = configure, $2 = the previously configured version
# (empty on a first install); rpm: $1 = 1 (install) | 2 (upgrade).
set -e

PREFIX=/usr/local/portico
BIN=/usr/bin/portico
PIDFILE=$PREFIX/logs/portico.pid

case "$1" in
configure) if [ -z "$2" ]; then action=install; else action=upgrade; fi ;;
1) action=install ;;
2) action=upgrade ;;
*) exit 0 ;; # abort-upgrade, abort-remove, ...
esac

# The master runs as root; the workers run as portico and the home's conf/, logs/
# and data/ belong to portico, so that the same home also starts without root.
chown portico:portico "$PREFIX/conf" "$PREFIX/logs" "$PREFIX/data"

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

# The gateway runs when the pid file names a live process: with or without
# systemd (a gateway started by hand is upgraded too).
running() {
	[ -s "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null
}

if [ "$action" = install ]; then
	if [ -f "$PREFIX/conf/config.yaml" ]; then
		chown portico:portico "$PREFIX/conf/config.yaml"
	fi
	# Generates the Admin API key into conf/config.yaml (0600), renders the runtime
	# file and creates logs/ and data/. Starts nothing.
	"$BIN" init >/dev/null
	echo "portico: the Admin API key is in $PREFIX/conf/config.yaml (deployment.admin.admin_key)."
	echo "portico: not started; start it with: systemctl enable --now portico"
	exit 0
fi

# Upgrade: the new binary is in place. A running gateway hands its sockets to it
# (tableflip): no connection refused, in-flight requests finish on the old master.
if running; then
	if ! "$BIN" upgrade; then
		echo "portico: upgrade failed; the previous version keeps serving. Fix the cause (see $PREFIX/logs/error.log), then run: portico upgrade" >&2
		exit 1
	fi
fi
exit 0
