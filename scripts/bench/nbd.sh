#!/usr/bin/env bash
# Acceptance 8 of issue 2 and the rows of issue 18: kbench's fio jobs through fio's nbd engine
# against nbdkit's file plugin, qemu-nbd and Corral with 1 and 3 replicas, in one run (release
# build), recorded with ratios to nbdkit in docs/benchmarks.md. PARTS picks what runs (default cached):
#   cached   page-cached kbench jobs (nbd_bench.py)
#   cold     8 GiB volumes with the page cache dropped before each job; 4k write QD64 with a FLUSH
#            every 16 writes (nbd_cold_bench.py; needs root for drop_caches and 56 GiB free)
#   volumes  4 volumes on one single-node `corral server`, one fio each, summed, against nbdkit
#            serving 4 exports (IO_THREADS=1,2: once per node event-loop count, when the node has them)
#   RUNTIME=20 RAMP=5 scripts/bench/nbd.sh      # kbench's own timings (default here: 8 s + 2 s ramp)
#   BENCH_DIR=/dev/shm PARTS=cached scripts/bench/nbd.sh   # page-cached rows on tmpfs (default /var/tmp)
#   BENCH_DIR=/dev/shm PIN=1 PARTS=cached scripts/bench/nbd.sh  # servers on vCPU 1, fio on vCPU 0
#   PARTS=cold,volumes ROUNDS=3 scripts/bench/nbd.sh       # issue 18's rows on /var/tmp (COLD_DIR)
#   CORRAL_BASELINE=/path/to/old/corral PARTS=cached ...   # adds the same rows for an older build
#                                                          # (PARTS=cold: its 1-replica shapes, group 1)
#   PARTS=cold ONLY=cold-read-qd1 ...      # some cold jobs only (cold-read-qd64, cold-read-qd1, write-flush16-qd64)
#   PARTS=cold COLD_GROUPS=2 FILES=1 ...   # with fio on the servers' own files: the disk's bound of each layout
# Each file system, placement and part has its own block in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --scratch-path .build-release >/dev/null
export CORRAL="$PWD/.build-release/release/corral"
PARTS="${PARTS:-cached}"
export PARTS
if [[ ",$PARTS," == *,cached,* ]]; then python3 scripts/bench/nbd_bench.py "$@"; fi
if [[ ",$PARTS," == *,cold,* || ",$PARTS," == *,volumes,* ]]; then python3 scripts/bench/nbd_cold_bench.py "$@"; fi
