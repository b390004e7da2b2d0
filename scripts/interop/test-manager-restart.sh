#!/usr/bin/env bash
# Issue 3, acceptance 4: the manager is killed with kill -9 and restarted. The volume keeps serving
# throughout (its engine and replicas live in the node agents), the store comes back intact, and
# no spurious action follows: no replica failed or replaced, no engine restarted, specs unchanged.
source "$(dirname "$0")/lib.sh"
setup fio curl python3 qemu-io
MANAGER_PORT=$((BASE_PORT + 70))
export CORRAL_API="http://127.0.0.1:$MANAGER_PORT"
start_manager() {
    "$CORRAL" manager --data-dir "$WORK/manager" --listen "127.0.0.1:$MANAGER_PORT" >>"$WORK/manager.log" 2>&1 &
    MANAGER=$!
    PIDS+=($!)
    wait_for 30 "the manager" port_open "$MANAGER_PORT"
    allow_full_disks
}
start_manager
for i in 1 2 3; do
    p=$((BASE_PORT + 80 + 10 * i))
    "$CORRAL" node --name "n$i" --manager "$CORRAL_API" --listen 127.0.0.1 --data-dir "$WORK/n$i" \
        --nbd-port "$p" --replica-port $((p + 1)) --control-port $((p + 2)) >>"$WORK/n$i.log" 2>&1 &
    PIDS+=($!)
done
for i in 1 2 3; do wait_for 30 "n$i ready" node_ready "n$i"; done
corral volume create v1 --size 512Mi --replicas 3 >/dev/null
uri=$(corral volume attach v1 --node n1)
wait_for 60 "v1 healthy" volume_is v1 healthy

# What must not change: specs and generations of every resource, and the engine's starts.
snapshot_state() {
    for kind in volumes replicas engines nodes; do curl -sf "$CORRAL_API/v1/$kind"; done | python3 -c '
import json, sys
decoder = json.JSONDecoder(); text = sys.stdin.read(); out = []; i = 0
while i < len(text):
    if text[i].isspace(): i += 1; continue
    doc, i = decoder.raw_decode(text, i)
    for item in doc["items"]:
        out.append((item["metadata"]["name"], item["metadata"]["generation"], json.dumps(item["spec"], sort_keys=True)))
print(json.dumps(sorted(out)))'
}
before=$(snapshot_state)
curl -sf "$CORRAL_API/v1/events" >"$WORK/events-before.json"
starts_before=$(grep -c "engine of v1 serving" "$WORK/n1.log")

fio_fill fill "$uri" 128 || fail "fio could not fill the region with verifiable blocks"
fio_verified during backlog 0 --uri="$uri" --rw=randwrite --bs=4k --iodepth=8 --size=128m --time_based --runtime=20 \
    "${FIO_BACKLOG[@]}" &
FIO=$!
sleep 3  # pacing: let the writer run before the kill
kill -9 "$MANAGER"
wait "$MANAGER" 2>/dev/null || true
log "manager killed"
for i in 1 2 3; do qemu-io -f raw -c "read 0 64k" "$uri" >/dev/null || fail "v1 stopped serving without the manager"; sleep 1; done
start_manager
log "manager restarted"
wait "$FIO" || fail "fio's verification across the manager restart failed (above)"
fio_verify_region after "$uri" 128 || fail "v1 does not verify after the manager restart"
# Settle for longer than the node-down timeout: a spurious node-down would show here.
deadline=$((SECONDS + 15))
while [ $SECONDS -lt $deadline ]; do
    volume_is v1 healthy || fail "v1 is $(volume_field v1 status.robustness) after the manager restart"
    sleep 1
done
after=$(snapshot_state)
[ "$before" = "$after" ] || fail "resources changed after the manager restart:
before: $before
after:  $after"
# Events recorded since the first snapshot (by name), as "reason: message".
new_events=$(curl -sf "$CORRAL_API/v1/events" | python3 -c 'import json,sys
before = {e["metadata"]["name"] for e in json.load(open(sys.argv[1]))["items"]}
print("\n".join(e["spec"]["reason"] + ": " + e["spec"]["message"] for e in json.load(sys.stdin)["items"] if e["metadata"]["name"] not in before))' "$WORK/events-before.json")
if grep -qE "ReplicaFailed|ReplicaRemoved|NodeDown" <<<"$new_events"; then fail "spurious actions after the restart: $new_events"; fi
[ "$(grep -c "engine of v1 serving" "$WORK/n1.log")" = "$starts_before" ] || fail "the engine restarted"
log "store intact, v1 served throughout, no spurious action"
pass
