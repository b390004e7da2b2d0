#!/usr/bin/env bash
# Acceptance 4: fio (nbd engine, randwrite, verify=crc32c, verify_fatal) for 60 s while one of 3
# replicas is killed with kill -9 and later comes back. fio sees no error; the returning replica
# rebuilds, transfers less than the whole volume, and ends with layer checksums equal to its peers'.
source "$(dirname "$0")/lib.sh"
setup fio python3
RUNTIME="${FIO_RUNTIME:-60}"
for i in 1 2 3; do start_replica $i; done
start_engine 1Gi 3 --timeout 4

fio --name=kill --ioengine=nbd --uri="$NBD_URI" --rw=randwrite --bs=4k --iodepth=16 --size=256m \
    --time_based --runtime="$RUNTIME" --verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 \
    --output-format=json --output="$WORK/fio.json" >"$WORK/fio.log" 2>&1 &
FIO=$!
wait_for 20 "fio to start writing" bash -c "[ \$($CORRAL engine status -o json --control $CONTROL | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counters\"][\"writes\"])') -gt 1000 ]"
sleep $((RUNTIME / 4))  # let the workload run degraded-free for a while before the kill (pacing, not synchronisation)
kill -9 "${REPLICA_PID[3]}"
log "killed replica 3"
wait_for 15 "the volume to turn degraded" is_degraded
sleep $((RUNTIME / 4))  # writes land while replica 3 is away (pacing)
start_replica 3
log "replica 3 is back"
wait_for $((RUNTIME + 120)) "replica 3 to be rebuilt and the volume healthy" is_healthy
wait "$FIO" || fail "fio failed: $(tail -20 "$WORK/fio.log")"
python3 - "$WORK/fio.json" <<'PY' || fail "fio reported errors"
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
assert job["error"] == 0, job["error"]
assert job["write"]["io_bytes"] > 0
PY
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
log "fio verified; replica 3 rebuilt by delta; checksums equal"
pass
