#!/usr/bin/env bash
# Acceptance 10: a 1 TiB sparse volume with 100 snapshots of 10,000 random 4 KiB writes each
# (written through NBD with fio) must open in under 2 s with the replica process under 128 MiB
# resident. Opens with `corral replica inspect`, which does what a replica server does at open.
#   SNAPSHOTS=100 WRITES=10000 scripts/bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SNAPSHOTS="${SNAPSHOTS:-100}"
WRITES="${WRITES:-10000}"
swift build -c release --scratch-path .build-release >/dev/null
CORRAL="$PWD/.build-release/release/corral"
WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/corral-mem.XXXXXX")"
trap 'kill $(jobs -p) 2>/dev/null || true; wait || true; rm -rf "$WORK"' EXIT
"$CORRAL" replica serve --dir "$WORK/r" --listen 127.0.0.1:32501 >"$WORK/r.log" 2>&1 &
REPLICA=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/32501) 2>/dev/null && break; sleep 0.1; done
"$CORRAL" engine serve --volume big --size 1Ti --replica 127.0.0.1:32501 --nbd 127.0.0.1:32509 --control 127.0.0.1:32510 >"$WORK/e.log" 2>&1 &
ENGINE=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/32509) 2>/dev/null && break; sleep 0.1; done
start=$SECONDS
for i in $(seq 1 "$SNAPSHOTS"); do
    fio --name=w --ioengine=nbd --uri=nbd://127.0.0.1:32509/big --rw=randwrite --bs=4k --iodepth=32 --size=1T \
        --number_ios="$WRITES" --norandommap=1 --randrepeat=0 --output-format=terse >/dev/null
    curl -sf -X POST -H 'Content-Type: application/json' -d "{\"name\":\"m$i\"}" http://127.0.0.1:32510/v1/snapshots >/dev/null
done
fill=$((SECONDS - start))
kill -TERM "$ENGINE"; wait "$ENGINE" || true
kill -TERM "$REPLICA"; wait "$REPLICA" || true
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
results=()
for run in 1 2 3; do results+=("$("$CORRAL" replica inspect "$WORK/r/big")"); done
python3 - "$SNAPSHOTS" "$WRITES" "$fill" "$(du -sh "$WORK/r" | cut -f1)" "${results[@]}" <<'PY'
import json, os, sys, time
snapshots, writes, fill, disk = sys.argv[1:5]
runs = [json.loads(r) for r in sys.argv[5:]]
opens = [r["openSeconds"] for r in runs]; peaks = [r["peakResidentBytes"] / 2**20 for r in runs]
line = (f"| 1 TiB, {snapshots} snapshots × {writes} random 4 KiB writes ({disk} on disk; fill {fill} s) | "
        f"{' / '.join(f'{o:.2f}' for o in opens)} s | {' / '.join(f'{p:.0f}' for p in peaks)} MiB | < 2 s, < 128 MiB |")
print(line)
path = "docs/benchmarks.md"
start, end = "<!-- memory-bench:start -->", "<!-- memory-bench:end -->"
stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
block = (f"{start}\nMeasured {stamp} with `SNAPSHOTS={snapshots} WRITES={writes} scripts/bench/memory.sh` "
         "(three opens by `corral replica inspect`, first after dropping caches where permitted).\n\n"
         "| chain | open time (3 runs) | peak resident (3 runs) | target |\n|---|---|---|---|\n" + line + f"\n{end}")
text = open(path).read()
text = text[:text.index(start)] + block + text[text.index(end) + len(end):] if start in text else text + "\n## Opening a large chain (acceptance 10 of issue 2)\n\n" + block + "\n"
open(path, "w").write(text)
PY
