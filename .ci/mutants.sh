#!/bin/sh
# Re-opens each hole of internal/protocol/testdata/mutants (a patch to the
# hook code removing one guard) in a temporary copy of the tree and expects
# the CI-depth exploration (TestProtocol) to fail on it, with a trace.
# Each mutant runs first with the searches alone (no random walk past a
# cap), so a catch it reports as "search" comes with a shortest trace; only
# a mutant the searches miss runs again with CI's walks (not with
# MUTANTS_SEARCH_ONLY=1).
# Not run by CI (it runs the exploration once or twice per mutant):
#   .ci/mutants.sh [patch ...]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
patches=${*:-$root/internal/protocol/testdata/mutants/*.patch}
caught=0 missed=0
# explore runs TestProtocol in the mutated copy, stopping at the first
# failing scenario, with the extra environment given, and keeps its log.
explore() {
	(cd "$tmp" && env "$@" TENANT_CANARY_EXPLORE_FAILFAST=1 go test -count=1 -timeout 2h -run '^TestProtocol$' -v ./internal/protocol 2>&1)
}
for p in $patches; do
	name=$(basename "$p" .patch)
	tmp=$(mktemp -d)
	(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$tmp")
	if ! (cd "$tmp" && git apply "$p"); then
		echo "$name: does not apply"; rm -rf "$tmp"; missed=$((missed+1)); continue
	fi
	log=${TMPDIR:-/tmp}/mutant-$name.log
	how=search
	out=$(explore TENANT_CANARY_EXPLORE_NOWALKS=1)
	if [ -z "${MUTANTS_SEARCH_ONLY:-}" ] && ! printf '%s\n' "$out" | grep -q '^--- FAIL: TestProtocol'; then
		how=walk
		out=$(explore TENANT_CANARY_EXPLORE_NOWALKS=)
	fi
	printf '%s\n' "$out" >"$log"
	if printf '%s\n' "$out" | grep -q '^--- FAIL: TestProtocol'; then
		# The failing scenario's error line, and the length of the trace
		# printed just before it (its events, not the model's notes and
		# the functions' log lines between them).
		v=$(printf '%s\n' "$out" | grep -v -e 'KNOWN FINDING' -e 'not reached' | grep -m1 -E 'protocol_test.go:[0-9]+: .*: (I[0-9]|expected|prefix)' | sed 's/^ *protocol_test.go:[0-9]*: //')
		steps=$(printf '%s\n' "$out" | grep -v -e 'KNOWN FINDING' -e 'not reached' | awk '/VIOLATION/{n=0} /^ +[0-9]+\. [^ ]/{n++} /protocol_test.go:[0-9]+: .*: (I[0-9]|expected)/{print n; exit}')
		if [ "$how" = walk ] && ! printf '%s\n' "$out" | grep 'VIOLATION' | tail -1 | grep -q 'found by a walk'; then
			how="run with walks (not a walk's trace)"
		fi
		echo "$name: CAUGHT by the $how (${steps:-?}-step trace) $v"
		caught=$((caught+1))
	else
		by="the searches and the walks"
		[ "$how" = search ] && by="the searches"
		echo "$name: MISSED by $by (log: $log)"
		missed=$((missed+1))
	fi
	rm -rf "$tmp"
done
echo "caught $caught, missed $missed"
[ "$missed" -eq 0 ]
