#!/usr/bin/env bash
# Acceptance 4: fio (nbd engine, randwrite, crc32c verify of every block read back as it goes:
# verify_backlog) for 60 s while one of 3 replicas is killed with kill -9 and later comes back.
# fio verifies throughout and finds no mismatch, then a read pass verifies the whole region; the
# returning replica rebuilds, transfers less than the whole volume, and ends with layer checksums
# equal to its peers'.
source "$(dirname "$0")/lib.sh"
setup fio python3
RUNTIME="${FIO_RUNTIME:-60}"
for i in 1 2 3; do start_replica $i; done
start_engine 1Gi 3 --timeout 4

fio_fill fill "$NBD_URI" 256 || fail "fio could not fill the region with verifiable blocks"
writes() { engine status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["writes"])'; }
filled=$(writes)
fio_verified kill backlog 0 --uri="$NBD_URI" --rw=randwrite --bs=4k --iodepth=16 --size=256m \
    --time_based --runtime="$RUNTIME" "${FIO_BACKLOG[@]}" &
FIO=$!
wait_for 20 "fio to start writing" bash -c "[ \$($CORRAL engine status -o json --control $CONTROL | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counters\"][\"writes\"])') -gt $((filled + 1000)) ]"
sleep $((RUNTIME / 4))  # let the workload run degraded-free for a while before the kill (pacing, not synchronisation)
kill -9 "${REPLICA_PID[3]}"
log "killed replica 3"
wait_for 15 "the volume to turn degraded" is_degraded
sleep $((RUNTIME / 4))  # writes land while replica 3 is away (pacing)
start_replica 3
log "replica 3 is back"
wait_for $((RUNTIME + 120)) "replica 3 to be rebuilt and the volume healthy" is_healthy
wait "$FIO" || fail "fio's verification across the kill and the rebuild failed (above)"
fio_verify_region final "$NBD_URI" 256 || fail "the region does not verify after the rebuild"
status=$(engine status -o json)
python3 - "$status" <<'PY' || fail "rebuild did not transfer less than the volume: $status"
import json, sys
s = json.loads(sys.argv[1])
rebuilt = [x["rebuild"] for x in s["replicas"] if x.get("rebuild")]
assert rebuilt, "no rebuild recorded"
last = rebuilt[-1]
assert last["phase"] == "done", last
assert 0 < last["bytesTransferred"] < s["size"], last
print(f"rebuild sent {last['bytesTransferred']} of {s['size']} bytes", file=sys.stderr)
PY
sums=$(engine checksums) || fail "checksums"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=list(d.values()); assert len(v)==3 and all(x==v[0] for x in v), d' "$sums" \
    || fail "replicas' layer checksums differ: $sums"
log "fio verified as it wrote and the whole region after; replica 3 rebuilt by delta; checksums equal"
pass
