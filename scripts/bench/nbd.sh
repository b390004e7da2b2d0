#!/usr/bin/env bash
# Acceptance 8: kbench's fio jobs through fio's nbd engine against nbdkit's file plugin, qemu-nbd and
# Corral with 1 and 3 replicas, on the same file system in one run (release build). Writes the table
# with ratios to nbdkit and server CPU per I/O into docs/benchmarks.md.
#   RUNTIME=20 RAMP=5 scripts/bench/nbd.sh      # kbench's own timings (default here: 8 s + 2 s ramp)
#   BENCH_DIR=/dev/shm scripts/bench/nbd.sh      # backing files on tmpfs (the recorded runs; default /var/tmp)
#   BENCH_DIR=/dev/shm PIN=1 scripts/bench/nbd.sh  # servers on vCPU 1, fio on vCPU 0 (fixed placement for QD1)
# Each file system and placement has its own block in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --scratch-path .build-release >/dev/null
export CORRAL="$PWD/.build-release/release/corral"
python3 scripts/bench/nbd_bench.py "$@"
