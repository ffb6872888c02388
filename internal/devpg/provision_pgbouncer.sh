#!/usr/bin/env bash
# provision_pgbouncer.sh — make sure PgBouncer is installed, for the tests that run OSA behind it.
#
# Installs Debian's pgbouncer package (as root) when it is missing. Prints one line per step on
# stderr and, on success, the path of the pgbouncer binary on stdout. Exits non-zero with a message
# saying what to install when it cannot proceed. The package's own service is not started here:
# tests start pgbouncer with a config of their own.
set -euo pipefail

log() { echo "provision: $*" >&2; }
die() { echo "provision: error: $*" >&2; exit 1; }

find_pgbouncer() {
	local p
	for p in "$(command -v pgbouncer 2>/dev/null || true)" /usr/sbin/pgbouncer /usr/bin/pgbouncer; do
		[ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

if p=$(find_pgbouncer); then
	echo "$p"
	exit 0
fi
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
	die "PgBouncer is not installed. Install it (Debian/Ubuntu: apt-get install pgbouncer) to run the tests that go through it."

# Runs of provision.sh and this script take turns (make test in two clones), and apt waits for its lock.
if command -v flock >/dev/null 2>&1; then
	exec 9>/var/lock/osa-provision.lock
	flock 9
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
if ! p=$(find_pgbouncer); then
	log "apt-get update"
	apt_get update -qq >/dev/null
	log "installing PgBouncer (apt-get install pgbouncer)"
	apt_get install -y -qq pgbouncer >/dev/null
	p=$(find_pgbouncer) || die "apt-get installed pgbouncer but no pgbouncer binary was found"
fi
log "PgBouncer ready: $p ($("$p" --version | head -1))"
echo "$p"
