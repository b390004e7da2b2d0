#!/usr/bin/env bash
# Issue 21, acceptance 7.
# 1. A backing-image backup and restore of a SIZE_GIB (4) GiB image of mixed data to a file target,
#    in MB/s (of the image's size), beside restic backing up and restoring the same file to a local
#    repository, in the same run: ROUNDS (3) interleaved rounds, the median.
# 2. The time for VOLUMES (100) volumes to start (created and attached, each serving) from one
#    backing image on one node (`corral server`), beside as many volumes of the same size without
#    an image, in the same run.
#    SIZE_GIB=4 ROUNDS=3 VOLUMES=100 scripts/bench/backing-image.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_GIB="${SIZE_GIB:-4}"
ROUNDS="${ROUNDS:-3}"
VOLUMES="${VOLUMES:-100}"
for tool in restic python3 curl; do command -v $tool >/dev/null || { echo "$tool is missing (apt-get install restic)"; exit 1; }; done
swift build -c release --scratch-path .build-release >/dev/null
CORRAL="$PWD/.build-release/release/corral"
WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/corral-bi-bench.XXXXXX")"
trap 'kill $(jobs -p) 2>/dev/null || true; wait || true; rm -rf "$WORK"' EXIT
source scripts/bench/common.sh

echo "making a ${SIZE_GIB} GiB image of mixed data"
python3 scripts/bench/mixed_image.py "$WORK/image.raw" "$SIZE_GIB"
sync
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$WORK/restic-cache"
declare -a CB CR RB RR
for round in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/store" "$WORK/restic" "$WORK/restored.raw" "$WORK/restic-out"
    mkdir -p "$WORK/store"
    restic init -q -r "$WORK/restic"
    warm_memory; CB+=("$(timed "$CORRAL" backupstore backing-image backup --target "file://$WORK/store" --file "$WORK/image.raw" base 2>/dev/null | tail -1)")
    warm_memory; RB+=("$(timed restic -q -r "$WORK/restic" backup "$WORK/image.raw" | tail -1)")
    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    warm_memory; CR+=("$(timed "$CORRAL" backupstore backing-image restore "file://$WORK/store?backingImage=base" --to "$WORK/restored.raw" 2>/dev/null | tail -1)")
    warm_memory; RR+=("$(timed restic -q -r "$WORK/restic" restore latest --target "$WORK/restic-out" | tail -1)")
    cmp -s "$WORK/image.raw" "$WORK/restored.raw" || { echo "the restored image differs"; exit 1; }
    echo "round $round: corral backup ${CB[-1]} s, restic backup ${RB[-1]} s, corral restore ${CR[-1]} s, restic restore ${RR[-1]} s"
done
echo "| step | Corral MB/s | restic MB/s | Corral / restic |"
echo "|---|---|---|---|"
ratio() { python3 -c "
import statistics, sys
a = statistics.median(float(x) for x in sys.argv[1].split()); b = statistics.median(float(x) for x in sys.argv[2].split())
print(f'{b / a:.2f}')" "$1" "$2"; }
echo "| backup (full, file target) | $(median_mbps "${CB[@]}") | $(median_mbps "${RB[@]}") | $(ratio "${CB[*]}" "${RB[*]}") |"
echo "| restore | $(median_mbps "${CR[@]}") | $(median_mbps "${RR[@]}") | $(ratio "${CR[*]}" "${RR[*]}") |"

# 2. Volumes starting from one backing image on one node.
rm -rf "$WORK/store" "$WORK/restic" "$WORK/restored.raw" "$WORK/restic-out"
mkdir -p "$WORK/http"
head -c 256M "$WORK/image.raw" >"$WORK/http/small.raw"
python3 scripts/interop/image_server.py "$WORK/http" 32710 >"$WORK/http.log" 2>&1 &
waitport 32710
"$CORRAL" server --data-dir "$WORK/server" --api-port 32711 --nbd-port 32712 --replica-port 32713 --control-port 32714 >"$WORK/server.log" 2>&1 &
waitport 32711
export CORRAL_API=http://127.0.0.1:32711
for _ in $(seq 300); do curl -sf "$CORRAL_API/v1/nodes/local" | grep -q '"ready" : true' && break; sleep 0.1; done
"$CORRAL" setting set storage-minimal-available-percentage 0 >/dev/null
"$CORRAL" backing-image create small --url http://127.0.0.1:32710/img/small.raw --timeout 600 >/dev/null 2>&1
# start_volumes PREFIX [--backing-image NAME]: creates VOLUMES volumes attached to the node and
# waits until each serves; prints the seconds it took.
start_volumes() {
    local prefix=$1; shift
    local t0; t0=$(now)
    for i in $(seq 1 "$VOLUMES"); do
        "$CORRAL" volume create "$prefix$i" --size 256Mi --replicas 1 "$@" >/dev/null
        curl -sf -X POST -H 'Content-Type: application/json' -d '{"nodeID": "local"}' "$CORRAL_API/v1/volumes/$prefix$i/attach" >/dev/null
    done
    for _ in $(seq 6000); do
        [ "$(curl -sf "$CORRAL_API/v1/volumes" | python3 -c 'import json,sys
p=sys.argv[1]; print(sum(1 for v in json.load(sys.stdin)["items"] if v["metadata"]["name"].startswith(p) and v["status"]["state"] == "attached" and v["status"]["endpoint"]))' "$prefix")" = "$VOLUMES" ] && break
        sleep 0.1
    done
    python3 -c "print($(now) - $t0)"
}
with=$(start_volumes img --backing-image small)
without=$(start_volumes plain)
echo "| $VOLUMES volumes start (created, attached, serving) | with a backing image: $(printf '%.1f' "$with") s | without: $(printf '%.1f' "$without") s | $(python3 -c "print(f'{$with / $without:.2f}')") |"
