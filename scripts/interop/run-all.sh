#!/usr/bin/env bash
# Runs every interop test against real clients (qemu, libnbd, fio, ext4 on nbdfuse) and prints
# "N passed, N failed". Usage: scripts/interop/run-all.sh [test-name ...]
# A failed test's FAIL line and the end of its output are printed again after the summary, since
# CI shows only the tail of a long log.
set -uo pipefail
cd "$(dirname "$0")"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(ls test-*.sh | sed 's/\.sh$//'))
outputs="$(mktemp -d /tmp/corral-interop-outputs.XXXXXX)"
passed=0; failed=0; failures=()
for t in "${tests[@]}"; do
    start=$SECONDS
    if bash "./$t.sh" 2>&1 | tee "$outputs/$t.out"; then passed=$((passed + 1)); echo "ok   $t ($((SECONDS - start)) s)"
    else failed=$((failed + 1)); failures+=("$t"); echo "FAIL $t ($((SECONDS - start)) s)"; fi
done
for t in "${failures[@]}"; do
    echo "=== why $t failed (its FAIL line, then the last 40 lines of its output)"
    grep -m1 "FAIL:" "$outputs/$t.out" || echo "(no FAIL line: the script stopped on a failing command)"
    tail -40 "$outputs/$t.out"
done
rm -rf "$outputs"
[ $failed -eq 0 ] || echo "failed: ${failures[*]}"
echo "interop: $passed passed, $failed failed"
[ $failed -eq 0 ]
