#!/bin/sh
# portico preremove. deb: $1 = remove | upgrade | deconfigure | failed-upgrade;
# rpm: $1 = 0 (erase) | 1 (upgrade: the new package's postinstall already upgraded the gateway).
set -e

PREFIX=/usr/local/portico
BIN=/usr/bin/portico
PIDFILE=$PREFIX/logs/portico.pid

case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl stop portico.service >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl --quiet disable portico.service >/dev/null 2>&1 || true
fi
# A gateway started by hand (or with no systemd): graceful quit, then fast stop.
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
	"$BIN" quit || "$BIN" stop || true
fi
exit 0
