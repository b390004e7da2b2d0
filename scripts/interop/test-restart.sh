#!/usr/bin/env bash
# Start after an unclean stop of everything (kill -9 of the engine and every replica): the engine
# picks the replicas holding every acknowledged write (highest epoch) and brings the others level.
source "$(dirname "$0")/lib.sh"
setup qemu-io
for i in 1 2 3; do start_replica $i; done
start_engine 256Mi 3 --timeout 4
io() { local out; out=$(qemu-io -f raw "$@" "$NBD_URI" 2>&1) || fail "qemu-io: $out"; ! grep -qiE "fail|mismatch|error" <<<"$out" || fail "qemu-io: $out"; }

io -c "write -P 0x11 0 4M"
kill_wait "${REPLICA_PID[3]}"
wait_for 15 "the volume to turn degraded" is_degraded
io -c "write -P 0x22 1M 1M" -c "flush"     # acknowledged while replica 3 is away: it must not serve these
kill_wait "$ENGINE_PID" "${REPLICA_PID[1]}" "${REPLICA_PID[2]}"
log "killed the engine and every replica"
for i in 1 2 3; do start_replica $i; done
start_engine 256Mi 3 --timeout 4
io -c "read -P 0x11 0 1M" -c "read -P 0x22 1M 1M" -c "read -P 0x11 2M 2M"
wait_for 60 "replica 3 to be brought level" is_healthy
# Now only replica 3 and one peer remain: the data must still be the acknowledged data.
kill_wait "${REPLICA_PID[1]}"
wait_for 15 "the volume to turn degraded" is_degraded
for round in 1 2 3; do io -c "read -P 0x22 1M 1M" -c "read -P 0x11 0 1M"; done
log "restart after kill -9 of everything kept every acknowledged write"

# 20 rounds of kill -9 of everything while nothing was written in between: no resync loop, no data change.
kill_wait "$ENGINE_PID"
start_replica 1
for round in $(seq 1 20); do
    start_engine 256Mi 3 --timeout 4
    io -c "read -P 0x22 1M 1M" -c "write -P $round 8M 64k" -c "read -P $round 8M 64k"
    kill_wait "$ENGINE_PID" "${REPLICA_PID[1]}" "${REPLICA_PID[2]}" "${REPLICA_PID[3]}"
    for i in 1 2 3; do start_replica $i; done
done
start_engine 256Mi 3 --timeout 4
io -c "read -P 20 8M 64k" -c "read -P 0x22 1M 1M"
wait_for 60 "all replicas healthy after 20 rounds" is_healthy
log "20 rounds of kill -9 of everything: data intact"
pass
