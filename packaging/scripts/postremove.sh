#!/bin/sh
# portico postremove. deb: $1 = remove | purge | upgrade | ...; rpm: $1 = 0 (erase) | 1 (upgrade).
set -e

PREFIX=/usr/local/portico

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

case "$1" in
purge)
	# dpkg has removed the package's files and conffiles (config.yaml); remove what
	# the gateway wrote: logs, the embedded etcd's data, the runtime file, the
	# temporary files of an interrupted atomic write. Files an operator added under
	# conf/ stay (and so does the directory).
	rm -rf "$PREFIX/logs" "$PREFIX/data"
	rm -f "$PREFIX/conf/portico.runtime.yaml" "$PREFIX"/conf/.portico.runtime.yaml.* "$PREFIX"/conf/.config.yaml.*
	rmdir "$PREFIX/conf" 2>/dev/null || true
	rmdir "$PREFIX" 2>/dev/null || true
	;;
esac
exit 0
