#!/usr/bin/env bash
# build.sh — build aegir and its Debian package with nfpm (`just package`).
#
#   ops/package/build.sh                # dist/aegir_<version>_<arch>.deb
#   VERSION=1.2.3 ops/package/build.sh  # a release's version
#   OUT=/tmp/pkgs ops/package/build.sh  # another output directory
#
# The version defaults to 0.0.0~git<commit date>.<short hash> (a Debian
# version must start with a digit; ~ sorts before any release). aegir is
# built into bin/aegir with that version (aegir version prints it).
#
# nfpm is built from the wrapper module in this directory (go.mod pins it)
# into a cache OUTSIDE the clone, keyed by version and recipe like the
# agents of ops/build-agents.sh:
#
#   ${AEGIR_TOOL_CACHE:-$HOME/.cache/aegir/tools}/nfpm-<version>/nfpm
#
# Prints the package's path on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${AEGIR_TOOL_CACHE:-$HOME/.cache/aegir/tools}"
out="${OUT:-$root/dist}"

log() { printf 'package: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="/usr/local/go/bin:$PATH"
fi

# nfpm: cached by version and by a hash of the wrapper module.
nfpm_version="$(awk '$1 == "require" && $2 == "github.com/goreleaser/nfpm/v2" { print $3; exit }
	$1 == "github.com/goreleaser/nfpm/v2" { print $2; exit }' "$here/go.mod")"
if [ -z "$nfpm_version" ]; then
	log "cannot find github.com/goreleaser/nfpm/v2 in ops/package/go.mod"
	exit 1
fi
dir="$cache/nfpm-${nfpm_version#v}"
nfpm="$dir/nfpm"
sum="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -d' ' -f1)"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ ! -x "$nfpm" ] || [ "$(cat "$dir/.recipe" 2>/dev/null)" != "$sum" ]; then
	log "nfpm $nfpm_version: building into $nfpm"
	tmp="$(mktemp "$dir/.nfpm.XXXXXX")"
	if ! (cd "$here" && GOFLAGS=-mod=mod go build -buildvcs=false -trimpath -ldflags='-s -w' \
		-o "$tmp" github.com/goreleaser/nfpm/v2/cmd/nfpm); then
		rm -f "$tmp"
		log "nfpm $nfpm_version: build FAILED"
		exit 1
	fi
	chmod 0755 "$tmp"
	mv -f "$tmp" "$nfpm"
	printf '%s\n' "$sum" >"$dir/.recipe"
fi
exec 9>&-

if [ -z "${VERSION:-}" ]; then
	if commit="$(git -C "$root" log -1 --format='%cd.%h' --date=format:%Y%m%d 2>/dev/null)"; then
		VERSION="0.0.0~git$commit"
	else
		VERSION="0.0.0~dev"
	fi
fi
ARCH="${ARCH:-$(go env GOARCH)}"
export VERSION ARCH

log "aegir $VERSION ($ARCH): building bin/aegir"
(cd "$root" && CGO_ENABLED=0 GOARCH="$ARCH" go build -buildvcs=false -trimpath \
	-ldflags="-s -w -X github.com/aegirhq/aegir/internal/app.Version=$VERSION" -o bin/aegir .)

mkdir -p "$out"
target="$out/aegir_${VERSION}_${ARCH}.deb"
rm -f "$target"
(cd "$root" && "$nfpm" package --config ops/package/nfpm.yaml --packager deb --target "$target" >&2)
log "built $target"
printf '%s\n' "$target"
