#!/usr/bin/env bash
# Issue 3, acceptance 3 (incident 3): the node process hosting a volume's engine and both its
# replicas is killed with kill -9 fifty times in a row while a verifying writer runs and
# reconnects. After each kill the volume serves again; no acknowledged write is lost; nothing
# loops (each restart brings the volume back to healthy). Prints each round's recovery time.
source "$(dirname "$0")/lib.sh"
setup python3 curl
/usr/bin/python3 -c 'import nbd' || fail "python3-libnbd is missing; run scripts/install-test-deps.sh"
ROUNDS="${ROUNDS:-50}"
MANAGER_PORT=$((BASE_PORT + 70)); NBD=$((BASE_PORT + 71))
export CORRAL_API="http://127.0.0.1:$MANAGER_PORT"
"$CORRAL" manager --data-dir "$WORK/manager" --listen "127.0.0.1:$MANAGER_PORT" >>"$WORK/manager.log" 2>&1 &
PIDS+=($!)
wait_for 30 "the manager" port_open "$MANAGER_PORT"
allow_full_disks
start_node() {
    "$CORRAL" node --name n1 --manager "$CORRAL_API" --listen 127.0.0.1 --data-dir "$WORK/n1" --nbd-port "$NBD" \
        --replica-port $((BASE_PORT + 72)) --control-port $((BASE_PORT + 73)) >>"$WORK/n1.log" 2>&1 &
    NODE=$!
    PIDS+=($!)
}
start_node
wait_for 30 "n1 ready" node_ready n1
corral setting set replica-soft-anti-affinity true >/dev/null
corral volume create v1 --size 256Mi --replicas 2 >/dev/null
uri=$(corral volume attach v1 --node n1)
wait_for 60 "v1 healthy" volume_is v1 healthy
/usr/bin/python3 "$ROOT/scripts/interop/verifying_writer.py" "$uri" "$WORK/stop" 64 120 >"$WORK/writer.log" 2>&1 &
WRITER=$!
PIDS+=($!)
serves() { nbdinfo --size "$uri" >/dev/null 2>&1 || /usr/bin/python3 -c 'import nbd,sys; h=nbd.NBD(); h.connect_uri(sys.argv[1]); h.pread(4096, 0)' "$uri"; }
wait_for 20 "the writer's first acknowledged writes" grep -q "writer: writing" "$WORK/writer.log"
times=()
for round in $(seq 1 "$ROUNDS"); do
    kill -9 "$NODE"
    wait "$NODE" 2>/dev/null || true
    start=$(date +%s.%N)
    start_node
    wait_for 60 "round $round: v1 to serve again" serves
    recovered=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
    wait_for 60 "round $round: v1 healthy again (no loop)" volume_is v1 healthy
    kill -0 "$WRITER" 2>/dev/null || fail "round $round: the writer stopped: $(tail -3 "$WORK/writer.log")"
    times+=("$recovered")
    echo "round $round: serving again after ${recovered}s" >&2
done
touch "$WORK/stop"
writer_stopped() { ! kill -0 "$WRITER" 2>/dev/null; }
wait_for 60 "the writer to finish its last writes and stop" writer_stopped
wait "$WRITER" || fail "the writer found lost data: $(tail -3 "$WORK/writer.log")"
log "$(tail -1 "$WORK/writer.log")"
starts=$(grep -c "engine of v1 serving" "$WORK/n1.log")
[ "$starts" -le $((ROUNDS + 1)) ] || fail "the engine started $starts times in $ROUNDS rounds: a loop"
python3 -c 'import sys; t=sorted(map(float, sys.argv[1:])); print(f"recovery over {len(t)} rounds: median {t[len(t)//2]:.2f}s, max {t[-1]:.2f}s")' "${times[@]}" >&2
pass
