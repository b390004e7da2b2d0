#!/usr/bin/env bash
# Issue 4, acceptance 7: a volume of mixed data (random, compressible, zeros, holes): full backup,
# incremental after changing 1% of its 2 MiB blocks, and full restore, to a file target and to an
# S3 server (moto_server), side by side with restic backing up and restoring the same image to a
# local repository. MB/s (of the volume's nominal size), objects written and bytes stored go into
# docs/benchmarks.md.   SIZE_GIB=4 scripts/bench/backup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_GIB="${SIZE_GIB:-4}"
# Each full restore runs this many times; the table shows the median and the range.
RESTORE_ROUNDS="${RESTORE_ROUNDS:-3}"
for tool in restic moto_server qemu-img python3; do command -v $tool >/dev/null || { echo "$tool is missing (apt-get install restic; pip install 'moto[server]')"; exit 1; }; done
swift build -c release --scratch-path .build-release >/dev/null
CORRAL="$PWD/.build-release/release/corral"
WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/corral-backup-bench.XXXXXX")"
trap 'kill $(jobs -p) 2>/dev/null || true; wait || true; rm -rf "$WORK"' EXIT
source scripts/bench/common.sh

echo "making a ${SIZE_GIB} GiB image of mixed data"
python3 scripts/bench/mixed_image.py "$WORK/image.raw" "$SIZE_GIB"
"$CORRAL" replica serve --dir "$WORK/replicas" --listen 127.0.0.1:32701 >"$WORK/r.log" 2>&1 &
waitport 32701
"$CORRAL" engine serve --volume bench --size "${SIZE_GIB}Gi" --replica 127.0.0.1:32701 --nbd 127.0.0.1:32702 --control 127.0.0.1:32703 >"$WORK/e.log" 2>&1 &
waitport 32702
qemu-img convert -n -f raw -O raw "$WORK/image.raw" nbd://127.0.0.1:32702/bench
"$CORRAL" engine snapshot create s1 --control 127.0.0.1:32703 >/dev/null
# 1% of the 2 MiB blocks change: one 4 KiB write in each.
python3 -c "
import random; r=random.Random(2); blocks=$SIZE_GIB*512
print(' '.join(f'-c \"write -P 0x{r.randrange(1,255):02x} {b*2097152 + r.randrange(0,512)*4096} 4k\"' for b in r.sample(range(blocks), blocks//100)))" >"$WORK/changes"
eval qemu-io -f raw $(cat "$WORK/changes") nbd://127.0.0.1:32702/bench >/dev/null
"$CORRAL" engine snapshot create s2 --control 127.0.0.1:32703 >/dev/null
sync

moto_server -H 127.0.0.1 -p 32704 >"$WORK/moto.log" 2>&1 &
waitport 32704
curl -sf -X PUT http://127.0.0.1:32704/bench >/dev/null
export AWS_ENDPOINTS=http://127.0.0.1:32704 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench

# s3_usage PREFIX: objects and bytes under PREFIX in the bench bucket.
s3_usage() {
    python3 -c 'import boto3, sys; s3=boto3.client("s3", endpoint_url="http://127.0.0.1:32704", aws_access_key_id="b", aws_secret_access_key="b", region_name="us-east-1")
o=[x for p in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=sys.argv[1]) for x in p.get("Contents", [])]; print(len(o), sum(x["Size"] for x in o))' "$1"
}

rows=()
mkdir -p "$WORK/target"
# TARGET BLOCK-SIZE: Longhorn's default 2 MiB blocks on both targets, and its 16 MiB option on S3,
# where each object costs a request (the incremental still changes 1% of the 2 MiB blocks).
for run in "file://$WORK/target 2Mi" "s3://bench@us-east-1/corral/ 2Mi" "s3://bench@us-east-1/corral16/ 16Mi"; do
    read -r target block <<<"$run"
    warm_memory
    t0=$(now); url=$("$CORRAL" backupstore backup --target "$target" --block-size "$block" --replica-dir "$WORK/replicas/bench" --snapshot s1 --volume bench 2>/dev/null); t1=$(now)
    warm_memory; t1b=$(now)
    "$CORRAL" backupstore backup --target "$target" --block-size "$block" --replica-dir "$WORK/replicas/bench" --snapshot s2 --volume bench >/dev/null 2>"$WORK/inc.log"; t2=$(now)
    restores=()
    for _ in $(seq "$RESTORE_ROUNDS"); do
        rm -f "$WORK/restored.raw"
        sync   # as before restic's restore: each restore starts with no writeback pending
        warm_memory
        restores+=("$(timed "$CORRAL" backupstore restore "$url" --to "$WORK/restored.raw" 2>/dev/null)")
    done
    if [[ "$target" == file://* ]]; then
        objects=$(find "$WORK/target" -type f | wc -l); stored=$(du -sb "$WORK/target" | cut -f1)
    else
        prefix=${target#s3://bench@us-east-1/}
        read -r objects stored < <(s3_usage "$prefix")
    fi
    rm -f "$WORK/restored.raw"
    kind=${target%%://*}
    [ "$block" = 2Mi ] && label="lz4" || label="lz4, ${block%Mi} MiB blocks"
    rows+=("| Corral → $kind ($label) | $(mbps "$t0" "$t1") | $(python3 -c "print(f'{$t2 - $t1b:.1f} s ({($t2 - $t1b) / ($t1 - $t0) * 100:.1f}% of full)')") | $(median_mbps "${restores[@]}") | $objects | $((stored >> 20)) MiB |")
    echo "${rows[-1]}"
done

# restic_row LABEL REPOSITORY: restic's full backup, incremental and restore of the same image.
restic_row() {
    export RESTIC_PASSWORD=bench RESTIC_REPOSITORY="$2"
    restic init >/dev/null 2>&1
    rm -rf "$WORK/restic-out"
    cp --sparse=always "$WORK/image.raw" "$WORK/restic-src.raw"
    warm_memory
    t0=$(now); restic backup -q "$WORK/restic-src.raw" >/dev/null; t1=$(now)
    eval qemu-io -f raw $(cat "$WORK/changes") "$WORK/restic-src.raw" >/dev/null
    warm_memory
    t2a=$(now); restic backup -q "$WORK/restic-src.raw" >/dev/null; t2=$(now)
    # Corral's restore fsyncs what it wrote; restic's does not, so its time includes a sync: both durable.
    restores=()
    for _ in $(seq "$RESTORE_ROUNDS"); do
        rm -rf "$WORK/restic-out"
        sync
        warm_memory
        restores+=("$(timed sh -c 'restic restore latest -q --target "$1" >/dev/null && sync' restore "$WORK/restic-out")")
    done
    if [[ "$2" == s3:* ]]; then
        read -r objects stored < <(s3_usage restic/)
    else
        objects=$(find "$2" -type f | wc -l); stored=$(du -sb "$2" | cut -f1)
    fi
    rows+=("| $1 | $(mbps "$t0" "$t1") | $(python3 -c "print(f'{$t2 - $t2a:.1f} s ({($t2 - $t2a) / ($t1 - $t0) * 100:.1f}% of full)')") | $(median_mbps "${restores[@]}") | $objects | $((stored >> 20)) MiB |")
    echo "${rows[-1]}"
}
restic_row "restic 0.14 → local repository" "$WORK/restic"
# The same S3 server as Corral's s3 row: moto, one Python process, bounds both.
restic_row "restic 0.14 → s3" "s3:http://127.0.0.1:32704/bench/restic"

python3 - "$SIZE_GIB" "$(findmnt -n -o FSTYPE --target "$WORK" | head -1)" "$(dirname "$WORK")" "$RESTORE_ROUNDS" "${rows[@]}" <<'PY'
import re, sys, datetime
gib, fs, bench_dir, rounds, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
table = f"""Run {datetime.date.today()}: `BENCH_DIR={bench_dir} SIZE_GIB={gib} scripts/bench/backup.sh` (release build, 2-core machine; volume, targets and restores on {fs}; a {gib} GiB volume:
30% random, 25% compressible, 10% written zeros, 35% holes, in 2 MiB runs; the incremental changes 1% of
the 2 MiB blocks; throughput is the volume's nominal size over the time; moto_server keeps objects in memory;
restores end durable on both sides: Corral fsyncs, restic's time includes a `sync`). Each restore starts after a `sync`; Corral takes its locks by the fast path (no conflicting lock listed: no 2 s wait).
Before every timed step, of either tool, the bench touches and frees {int(gib) + 1} GiB of memory: this VM's balloon reports
freed pages to the host, and the first step to fill that much memory again otherwise pays the host's page faults.

| | full backup MB/s | incremental | full restore MB/s (median of {rounds}, range) | objects | stored |
|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
path = "docs/benchmarks.md"
doc = open(path).read()
start, end = f"<!-- backup-bench-{fs}:start -->", f"<!-- backup-bench-{fs}:end -->"
block = f"{start}\n{table}{end}"
if start in doc:
    doc = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
else:
    anchor = "<!-- backup-bench-end-of-runs -->"
    doc = doc.replace(anchor, f"{block}\n\n{anchor}") if anchor in doc else doc + f"\n{block}\n"
open(path, "w").write(doc)
PY
