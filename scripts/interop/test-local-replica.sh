#!/usr/bin/env bash
# A replica kept in the engine's process (local:/dir) beside two remote ones: I/O, snapshots,
# a remote replica killed and rebuilt, and a restart that finds the local replica's data.
source "$(dirname "$0")/lib.sh"
setup qemu-io
for i in 1 2; do start_replica $i; done
local_args=(--replica "local:$WORK/local")
start_engine 256Mi 2 --timeout 4 "${local_args[@]}"
io() { local out; out=$(qemu-io -f raw "$@" "$NBD_URI" 2>&1) || fail "qemu-io: $out"; ! grep -qiE "fail|mismatch|error" <<<"$out" || fail "qemu-io: $out"; }

engine replica ls -o json | grep -q '"local:' || fail "the local replica is not listed"
io -c "write -P 0x61 0 2M" -c "write -P 0x62 3000 5000"
engine snapshot create l1 >/dev/null || fail "snapshot"
io -c "write -P 0x63 1M 1M"
kill -9 "${REPLICA_PID[1]}"
wait_for 15 "the volume to turn degraded" is_degraded
io -c "write -P 0x64 4M 1M" -c "read -P 0x61 0 3000" -c "read -P 0x62 3000 5000" -c "read -P 0x63 1M 1M"
start_replica 1
wait_for 120 "replica 1 to be rebuilt" is_healthy
kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true
start_engine 256Mi 2 --timeout 4 "${local_args[@]}"
io -c "read -P 0x64 4M 1M" -c "read -P 0x63 1M 1M" -c "read -P 0x62 3000 5000"
sums=$(engine checksums) || fail "checksums"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=list(d.values()); assert len(v)==3 and all(x==v[0] for x in v), d' "$sums" \
    || fail "replicas' layer checksums differ: $sums"
log "local replica serves, survives a restart, and matches its remote peers"
pass
