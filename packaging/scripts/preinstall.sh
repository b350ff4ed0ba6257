#!/bin/sh
# portico preinstall. deb: $1 = install | upgrade | abort-upgrade; rpm: $1 = 1 (install) | 2 (upgrade)
set -e

case "$1" in
install | upgrade | 1 | 2)
	# The workers' user (nginx_config.user in conf/config.yaml). Kept on purge, as
	# Debian policy recommends for system users (files elsewhere may still carry its uid).
	if ! getent group portico >/dev/null; then
		groupadd --system portico
	fi
	if ! getent passwd portico >/dev/null; then
		useradd --system --gid portico --home-dir /usr/local/portico --no-create-home \
			--shell /usr/sbin/nologin --comment "Portico API gateway" portico
	fi
	;;
esac
exit 0
