#!/usr/bin/env bash
# provision.sh — make sure the browser tests have Debian's Chromium and axe-core.
#
# Chromium from the configured apt sources (as root; the tests fail loudly otherwise), axe-core
# (pinned) from the npm registry into a cache folder. Prints chromium=PATH and axe=PATH on stdout,
# one line per step on stderr, and exits non-zero with what to install when it cannot proceed.
set -euo pipefail

AXE_VERSION=4.14.1
log() { echo "provision-browser: $*" >&2; }
die() { echo "provision-browser: error: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# Two test runs at once take turns, as provision.sh of PostgreSQL does.
if is_root && command -v flock >/dev/null 2>&1; then
	exec 9>/var/lock/osa-provision-browser.lock
	flock 9
fi

bin=$(command -v chromium || true)
if [ -z "$bin" ]; then
	is_root && command -v apt-get >/dev/null 2>&1 ||
		die "Chromium is not installed: install Debian's chromium package (apt-get install chromium), or run the tests as root so that they install it."
	log "installing Chromium (apt-get install chromium)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
	bin=$(command -v chromium) || die "apt-get installed chromium but no chromium is on PATH"
fi

cache=${OSA_BROWSER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/osa}/axe-core-$AXE_VERSION
axe=$cache/node_modules/axe-core/axe.min.js
if [ ! -f "$axe" ]; then
	command -v npm >/dev/null 2>&1 || die "npm is missing: install Node.js and npm (apt-get install nodejs npm) for axe-core"
	log "installing axe-core $AXE_VERSION (npm) into $cache"
	mkdir -p "$cache"
	npm install --prefix "$cache" --no-audit --no-fund --silent "axe-core@$AXE_VERSION" >&2 || die "npm install axe-core@$AXE_VERSION failed"
	[ -f "$axe" ] || die "npm installed axe-core but $axe is missing"
fi
echo "chromium=$bin"
echo "axe=$axe"
