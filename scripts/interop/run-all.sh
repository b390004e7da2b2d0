#!/usr/bin/env bash
# Runs every interop test against real clients (qemu, libnbd, fio, ext4 on nbdfuse) and prints
# "N passed, N failed". Usage: scripts/interop/run-all.sh [test-name ...]
set -uo pipefail
cd "$(dirname "$0")"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(ls test-*.sh | sed 's/\.sh$//'))
passed=0; failed=0; failures=()
for t in "${tests[@]}"; do
    start=$SECONDS
    if bash "./$t.sh"; then passed=$((passed + 1)); echo "ok   $t ($((SECONDS - start)) s)"
    else failed=$((failed + 1)); failures+=("$t"); echo "FAIL $t ($((SECONDS - start)) s)"; fi
done
[ $failed -eq 0 ] || echo "failed: ${failures[*]}"
echo "interop: $passed passed, $failed failed"
[ $failed -eq 0 ]
