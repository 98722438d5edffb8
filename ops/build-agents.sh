#!/usr/bin/env bash
# build-agents.sh — build the Consul, Nomad and Vault agents and the Traefik
# router that the tests run (internal/testharness), from source, at the
# versions pinned in ops/agents/<name>/go.mod.
#
#   ops/build-agents.sh                 # all four
#   ops/build-agents.sh consul vault    # just these
#
# Each binary lands in a cache OUTSIDE the clone, keyed by version:
#
#   ${AEGIR_AGENT_CACHE:-$HOME/.cache/aegir/agents}/<name>-<version>/<name>
#
# so a fresh clone (CI) reuses what an earlier run built. A cached binary is
# rebuilt only when the wrapper's go.mod or go.sum changed since it was built
# (the hash is in <name>-<version>/.recipe); delete the directory to force a
# rebuild. The build writes a
# temporary file next to the target and renames it into place, so an
# interrupted build never leaves a half binary behind. Builds take minutes
# (vault ~3.5 min cold on 2 cores) and run one after another.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${AEGIR_AGENT_CACHE:-$HOME/.cache/aegir/agents}"
all=(consul nomad vault traefik)

# module NAME prints the Go module the wrapper pins; package NAME the
# package built from it.
module() {
	case "$1" in
	traefik) echo github.com/traefik/traefik/v3 ;;
	*) echo "github.com/hashicorp/$1" ;;
	esac
}
package() {
	case "$1" in
	traefik) echo github.com/traefik/traefik/v3/cmd/traefik ;;
	*) echo "github.com/hashicorp/$1" ;;
	esac
}

log() { printf 'build-agents: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		PATH="/usr/local/go/bin:$PATH"
	else
		log "go is not on PATH: install Go first"
		exit 1
	fi
fi

# version NAME prints the version of the module (see module) that the
# wrapper module requires, without the leading v.
version() {
	local name="$1" v
	v="$(awk -v mod="$(module "$name")" '
		$1 == "require" && $2 == mod { print $3; exit }
		$1 == mod && $2 ~ /^v/ { print $2; exit }
	' "$here/agents/$name/go.mod")"
	if [ -z "$v" ]; then
		log "cannot find $(module "$name") in ops/agents/$name/go.mod"
		return 1
	fi
	printf '%s\n' "${v#v}"
}

# recipe_sum NAME hashes the wrapper module (go.mod, go.sum): a cached
# binary built from another recipe of the same version (say, a new godebug
# line) is rebuilt.
recipe_sum() {
	cat "$here/agents/$1/go.mod" "$here/agents/$1/go.sum" 2>/dev/null | sha256sum | cut -d' ' -f1
}

build() {
	local name="$1" ver dir bin tmp start sum
	if [ ! -f "$here/agents/$name/go.mod" ]; then
		log "unknown agent '$name' (known: ${all[*]})"
		return 1
	fi
	ver="$(version "$name")"
	dir="$cache/$name-$ver"
	bin="$dir/$name"
	sum="$(recipe_sum "$name")"
	if [ -x "$bin" ] && [ "$(cat "$dir/.recipe" 2>/dev/null)" = "$sum" ]; then
		log "$name $ver: cached at $bin"
		return 0
	fi
	mkdir -p "$dir"
	# One builder per agent at a time (two clones building at once).
	exec 9>"$dir/.lock"
	flock 9
	if [ -x "$bin" ] && [ "$(cat "$dir/.recipe" 2>/dev/null)" = "$sum" ]; then
		log "$name $ver: built by another run at $bin"
		exec 9>&-
		return 0
	fi
	tmp="$(mktemp "$dir/.$name.XXXXXX")"
	log "$name $ver: building into $bin (takes minutes)"
	start=$SECONDS
	if ! (cd "$here/agents/$name" &&
		GOFLAGS=-mod=mod go build -buildvcs=false -trimpath -ldflags='-s -w' \
			-o "$tmp" "$(package "$name")"); then
		rm -f "$tmp"
		exec 9>&-
		log "$name $ver: build FAILED"
		return 1
	fi
	chmod 0755 "$tmp"
	# A binary that cannot even print its version (e.g. an init-time panic
	# under a newer Go's defaults) must not be cached as good.
	if ! "$tmp" version >/dev/null 2>&1; then
		log "$name $ver: built binary fails '$name version':"
		"$tmp" version 2>&1 | head -5 >&2 || true
		rm -f "$tmp"
		exec 9>&-
		return 1
	fi
	mv -f "$tmp" "$bin"
	printf '%s\n' "$sum" >"$dir/.recipe"
	exec 9>&-
	log "$name $ver: built in $((SECONDS - start))s, $(du -h "$bin" | cut -f1)"
}

names=("$@")
[ "${#names[@]}" -gt 0 ] || names=("${all[@]}")
failed=()
for n in "${names[@]}"; do
	build "$n" || failed+=("$n")
done
if [ "${#failed[@]}" -gt 0 ]; then
	log "failed: ${failed[*]}"
	exit 1
fi
