#!/usr/bin/env bash
# Installs the servers the sink modules' integration tests run against:
# PostgreSQL (sinks/postgres) and nats-server, from the Debian/Ubuntu
# packages. As root it installs them with apt-get; otherwise it only
# reports what is missing. The tests skip, saying why, when a server is
# absent; this script is how to make them run.
#
# Usage: scripts/install-test-deps.sh [--quiet]
set -euo pipefail

have_postgres() { ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1; }
have_nats() { command -v nats-server >/dev/null 2>&1; }

missing=()
have_postgres || missing+=(postgresql)
have_nats || missing+=(nats-server)
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-test-deps: postgresql and nats-server are installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: missing ${missing[*]}; run as root on Debian/Ubuntu to install them (apt-get install ${missing[*]})"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# nats-server is not packaged everywhere: install what the archive has.
for p in "${missing[@]}"; do
	if apt-cache show "$p" >/dev/null 2>&1; then
		apt-get install -y -qq --no-install-recommends "$p" >/dev/null
		echo "install-test-deps: installed $p"
	else
		echo "install-test-deps: $p is not in this system's package archive"
	fi
done
# The Debian package starts a cluster of its own; the tests start their
# own private one and do not need it.
