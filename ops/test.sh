#!/usr/bin/env bash
# test.sh — the README's test command: installs what the suite needs on a
# fresh Debian machine (packages, just, the HashiCorp agents), then runs
# every test. .ci/run calls this same script.
#
#   ops/test.sh              # install, then the whole suite
#   ops/test.sh -run Foo ./internal/store/   # extra args go to `go test`
#
# The tests start every service they need themselves, on 127.0.0.1 with
# temporary data dirs; nothing needs to be running first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
# Go toolchain and module caches are per machine; keep them where a fresh
# clone finds them again.
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

bash ops/install-deps.sh

if [ "$#" -gt 0 ]; then
	exec go test -count=1 "$@"
fi

echo "test.sh: go vet ./..." >&2
go vet ./...
echo "test.sh: go test ./... (timeout 25m)" >&2
go test -count=1 -timeout 25m ./...
echo "test.sh: go test -race on the concurrent core" >&2
go test -count=1 -race -timeout 15m ./internal/store/... ./internal/logbus/... ./internal/locks/... ./scheduler/...
echo "test.sh: fuzzing, bounded (AEGIR_FUZZ_BUDGET, AEGIR_FUZZ_TIME; see ops/fuzz.sh)" >&2
bash ops/fuzz.sh
