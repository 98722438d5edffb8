#!/usr/bin/env bash
# install-deps.sh — install everything the test suite needs on a Debian 12
# machine, as root. Idempotent: a second run installs nothing and only checks.
#
#   1. Debian packages for the real services the tests start themselves
#      (Redis, MariaDB, PostgreSQL, nginx, php-fpm) and their clients.
#      `apt-get update` runs once, and only when a package is missing.
#      Services that a package starts on install are stopped again: the tests
#      run their own servers on loopback with temporary data dirs.
#   2. `just` from npm (rust-just) when it is not on PATH.
#   3. The Consul, Nomad and Vault agents, built from source by
#      ops/build-agents.sh into a cache outside the clone (skipped when cached).
#
# Environment:
#   AEGIR_SKIP_AGENTS=1   do not build the HashiCorp agents
#   AEGIR_AGENT_CACHE     where the agents are cached (see build-agents.sh)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'install-deps: %s\n' "$*" >&2; }

packages=(
	redis-server
	mariadb-server mariadb-client
	postgresql postgresql-client
	nginx
	php-fpm php-cli php-mysql php-pgsql php-sqlite3
	zstd
	jq
	chromium
	# Real applications the tests run as php platforms (Debian's trees under
	# /usr/share/wordpress and /usr/share/mediawiki are copied, never served
	# in place). --no-install-recommends keeps apache2 out: nginx provides
	# the httpd their dependency names; the theme is a recommends of
	# wordpress that its front page needs.
	wordpress wordpress-theme-twentytwentythree mediawiki
)

# Services that the packages above may start on install (Debian's init
# scripts); the tests never use the system instances.
services=(redis-server mariadb mysql postgresql nginx php8.2-fpm apache2)

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	log "debian packages: all present"
else
	if [ "$(id -u)" -ne 0 ]; then
		log "missing packages (${missing[*]}) and not root: run this script as root"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "apt-get update"
	apt-get update -q
	# Keep maintainer scripts from starting services while installing:
	# policy-rc.d exit 101 = "action forbidden". Restore whatever was there.
	policy=/usr/sbin/policy-rc.d
	saved_policy=""
	if [ -e "$policy" ]; then
		saved_policy="$(mktemp)"
		cp -p "$policy" "$saved_policy"
	fi
	restore_policy() {
		if [ -n "$saved_policy" ]; then
			mv -f "$saved_policy" "$policy"
		else
			rm -f "$policy"
		fi
	}
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	log "apt-get install ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	restore_policy
	trap - EXIT

	# Belt and braces: stop anything that started anyway.
	for s in "${services[@]}"; do
		if [ -x "/etc/init.d/$s" ]; then
			if service "$s" status >/dev/null 2>&1; then
				log "stopping system service $s (tests start their own)"
				service "$s" stop >/dev/null 2>&1 || true
			fi
		fi
	done
fi

if command -v just >/dev/null 2>&1; then
	log "just: $(command -v just)"
else
	if ! command -v npm >/dev/null 2>&1; then
		log "just is missing and npm is not installed: install nodejs/npm first"
		exit 1
	fi
	log "npm install -g rust-just"
	npm install -g --no-fund --no-audit rust-just
fi

if [ "${AEGIR_SKIP_AGENTS:-}" = 1 ]; then
	log "AEGIR_SKIP_AGENTS=1: not building consul, nomad, vault"
else
	"$here/build-agents.sh"
fi
log "done"
