#!/usr/bin/env bash
# fuzz.sh — runs every native fuzz target of the repository (every
# `func FuzzX(f *testing.F)` in a tracked *_test.go) for a bounded time
# each, starting from its seed corpus (which holds the hostile inputs of
# internal/testharness/hostile.go). ops/test.sh runs it after the suite.
#
#   AEGIR_FUZZ_BUDGET  seconds of fuzzing in all, shared by the targets
#                      (default 60; building each package for fuzzing
#                      comes on top)
#   AEGIR_FUZZ_TIME    time per target instead (go test -fuzztime: 5s,
#                      1000x); 0 skips fuzzing
#   AEGIR_FUZZ_MATCH   extended regexp: only targets whose name matches
#
# A target that finds a failing input fails the run; Go writes the input
# under the package's testdata/fuzz/<target>/, where committed it stays a
# seed every `go test` runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

match="${AEGIR_FUZZ_MATCH:-.}"
targets=()
while IFS= read -r file; do
	while IFS= read -r name; do
		if [[ "$name" =~ $match ]]; then
			targets+=("./$(dirname "$file") $name")
		fi
	done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' "$file")
done < <(git ls-files -- '*_test.go' | sort)

if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets match $match" >&2
	exit 0
fi
per="${AEGIR_FUZZ_TIME:-}"
if [ -z "$per" ]; then
	budget="${AEGIR_FUZZ_BUDGET:-60}"
	secs=$(( budget / ${#targets[@]} ))
	per="$(( secs < 2 ? 2 : secs ))s"
fi
case "$per" in 0|0s|0x) echo "fuzz.sh: AEGIR_FUZZ_TIME=$per, skipped" >&2; exit 0 ;; esac

echo "fuzz.sh: ${#targets[@]} targets, $per each" >&2
start=$SECONDS
# fuzz_one runs one target; 0 passed, 1 failed, 2 a bare "context
# deadline exceeded" with no failing input: Go's fuzzing coordinator
# racing its own -fuzztime deadline on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27), not a finding.
fuzz_one() {
	local pkg=$1 name=$2 out=/tmp/aegir-fuzz.$$
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$per" -parallel "${AEGIR_FUZZ_PARALLEL:-2}" "$pkg" >"$out" 2>&1; then
		return 0
	fi
	cat "$out" >&2
	if grep -q '^    context deadline exceeded$' "$out" && ! grep -q 'Failing input written to' "$out"; then
		return 2
	fi
	return 1
}

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "fuzz.sh: $name ($pkg)" >&2
	rc=0
	fuzz_one "$pkg" "$name" || rc=$?
	if [ "$rc" -eq 2 ]; then
		echo "fuzz.sh: $name hit Go's fuzztime deadline race (go.dev/issue/75804), no failing input; running it again" >&2
		rc=0
		fuzz_one "$pkg" "$name" || rc=$?
		if [ "$rc" -eq 2 ]; then
			echo "fuzz.sh: $name hit the deadline race twice, with no failing input either time: not counted as a failure" >&2
			rc=0
		fi
	fi
	if [ "$rc" -ne 0 ]; then
		failed+=("$name ($pkg)")
	fi
done
rm -f /tmp/aegir-fuzz.$$
echo "fuzz.sh: done in $(( SECONDS - start ))s" >&2
if [ "${#failed[@]}" -gt 0 ]; then
	printf 'fuzz.sh: %s failed: a failing input (written under testdata/fuzz/ in its package) or the build; its output is above\n' "${failed[@]}" >&2
	exit 1
fi
