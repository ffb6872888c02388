#!/usr/bin/env bash
# provision.sh — make sure PostgreSQL (15+) and the pgvector extension are installed.
#
# Cheap paths first (already installed; a binary package from the configured apt sources), then the
# fallback checked in shared/postgres.md: build Debian 13's pgvector source package against the
# installed server. Prints one line per step on stderr and, on success, the server's bin directory
# on stdout. Exits non-zero with a message saying exactly what to install when it cannot proceed.
set -euo pipefail

log() { echo "provision: $*" >&2; }
die() { echo "provision: error: $*" >&2; exit 1; }

# find_bindir prints the bin directory of the newest installed PostgreSQL server (15+), if any.
find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	done
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir)
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	fi
	return 1
}

have_vector() { [ -f "$("$1/pg_config" --sharedir)/extension/vector.control" ]; }

apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	log "apt-get update"
	apt_get update -qq >/dev/null
	apt_updated=1
}

is_root() { [ "$(id -u)" = 0 ]; }

# Two runs at once (make test in two clones) take turns: the second finds what the first installed,
# instead of failing on apt's lock. apt itself also waits for a lock another program holds.
if is_root && command -v flock >/dev/null 2>&1; then
	exec 9>/var/lock/osa-provision.lock
	flock 9
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
	is_root && command -v apt-get >/dev/null 2>&1 ||
		die "PostgreSQL 15+ is not installed. Install the server (Debian/Ubuntu: apt-get install postgresql) or point OSA at an existing database with OSA_DATABASE__URL."
	apt_update
	log "installing the PostgreSQL server (apt-get install postgresql)"
	apt_get install -y -qq postgresql >/dev/null
	bindir=$(find_bindir) || die "apt-get installed postgresql but no initdb was found under /usr/lib/postgresql"
fi
major=$(basename "$(dirname "$bindir")")
[ "$major" -ge 15 ] 2>/dev/null || die "PostgreSQL $major at $bindir is too old: OSA needs 15 or newer."

# pg_config comes with the server-dev package; the server package alone has none in bindir.
pgconfig="$bindir/pg_config"
if [ ! -x "$pgconfig" ]; then
	sharedir="/usr/share/postgresql/$major"
else
	sharedir=$("$pgconfig" --sharedir)
fi
if [ -f "$sharedir/extension/vector.control" ]; then
	echo "$bindir"
	exit 0
fi

is_root && command -v apt-get >/dev/null 2>&1 ||
	die "the pgvector extension is missing for PostgreSQL $major ($sharedir/extension/vector.control). Install it as root: apt-get install postgresql-$major-pgvector, or build it from https://github.com/pgvector/pgvector (make && make install), or point OSA at a database that has it with OSA_DATABASE__URL."

apt_update
# Cheap path: a binary package (Debian 13, Ubuntu 24.04+, the PGDG repository).
if apt-cache show "postgresql-$major-pgvector" >/dev/null 2>&1; then
	log "installing postgresql-$major-pgvector"
	apt_get install -y -qq "postgresql-$major-pgvector" >/dev/null
fi

if [ ! -f "$sharedir/extension/vector.control" ]; then
	# Fallback: build Debian 13's source package. A source-only entry cannot install trixie binaries.
	log "no binary pgvector package for PostgreSQL $major: building Debian's pgvector source package"
	apt_get install -y -qq "postgresql-server-dev-$major" build-essential dpkg-dev >/dev/null
	srcfile=/etc/apt/sources.list.d/osa-pgvector-src.sources
	if [ ! -f "$srcfile" ]; then
		uri=""
		for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
			[ -f "$f" ] || continue
			uri=$(grep -m1 -oE '^URIs:[[:space:]]*[^[:space:]]+' "$f" 2>/dev/null | awk '{print $2}') || true
			[ -n "$uri" ] && break
			uri=$(grep -m1 -oE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+/debian/?' "$f" 2>/dev/null | awk '{print $NF}') || true
			[ -n "$uri" ] && break
		done
		[ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; install pgvector for PostgreSQL $major by hand."
		printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$srcfile"
		apt_updated=0
	fi
	apt_update
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	(cd "$work" && apt-get source -qq pgvector >/dev/null 2>&1) || die "apt-get source pgvector failed; install pgvector for PostgreSQL $major by hand."
	src=$(ls -d "$work"/pgvector-*/ | head -1)
	pgconfig="$bindir/pg_config"
	log "building pgvector in $src"
	make -s -C "$src" PG_CONFIG="$pgconfig" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; die "building pgvector failed"; }
	make -s -C "$src" install PG_CONFIG="$pgconfig" >/dev/null 2>>"$work/build.log" || { cat "$work/build.log" >&2; die "installing pgvector failed"; }
fi
[ -f "$sharedir/extension/vector.control" ] || die "pgvector still missing after install ($sharedir/extension/vector.control)"
log "PostgreSQL $major with pgvector ready in $bindir"
echo "$bindir"
