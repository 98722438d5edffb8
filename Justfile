# aegir tasks. `just --list` shows them.

# Run aegir on its embedded defaults (bbolt, local executor, builtin web, SQLite),
# built with progress first (the first build takes minutes).
dev *args: build
    bin/aegir dev {{args}}

# Install what the tests need (packages, agents), then run the whole suite.
test *args:
    bash ops/test.sh {{args}}

# Only install the test dependencies.
deps:
    bash ops/install-deps.sh

# Build the aegir binary into ./bin (git ignores it), naming each package as
# it compiles: the first build takes minutes.
build:
    go build -v -o bin/aegir .

# Run every benchmark once; they print their figures (ms/op, p99, MB/s).
bench pattern='.' *pkgs='./...':
    go test -run '^$' -bench '{{pattern}}' -benchtime 1x {{pkgs}}

# Fuzz one target for a while: just fuzz FuzzNormalizeDomain ./internal/domain
fuzz target pkg time='30s':
    go test -run '^$' -fuzz '^{{target}}$' -fuzztime {{time}} {{pkg}}

# Format and vet.
check:
    gofmt -l . | (! grep .)
    go vet ./...

# Build aegir and its Debian package with nfpm into ./dist (VERSION=x.y.z to name a release).
package:
    bash ops/package/build.sh
