#!/usr/bin/env bash
# The floor of a 4 KiB QD1 write on this machine: one server (nbdkit's shape) against a server that
# forwards to two replica processes (Corral's 3-replica shape), in plain C (floor/qd1_floor.c),
# alternating, ROUNDS times. Prints each round and the median ratio relay/direct.
#   BENCH_DIR=/dev/shm scripts/bench/qd1-floor.sh      # WRITES=20000 ROUNDS=5 by default
set -euo pipefail
cd "$(dirname "$0")"
dir=${BENCH_DIR:-/var/tmp}/corral-qd1-floor.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
cc -O2 -Wall -o "$dir/qd1_floor" floor/qd1_floor.c
writes=${WRITES:-20000}
ratios=()
for round in $(seq "${ROUNDS:-5}"); do
    direct=$("$dir/qd1_floor" direct "$writes" "$dir" 41100 | cut -d' ' -f2)
    relayed=$("$dir/qd1_floor" relay "$writes" "$dir" 41110 | cut -d' ' -f2)
    ratio=$(python3 -c "print(f'{$relayed / $direct:.2f}')")
    ratios+=("$ratio")
    echo "round $round: direct $direct us, relay to 2 replicas $relayed us, ratio $ratio"
done
echo "median ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (${#ratios[@]} + 1) / 2 ))p")"
