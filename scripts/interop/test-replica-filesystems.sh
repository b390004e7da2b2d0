#!/usr/bin/env bash
# Issue 16, item 6: replicas on xfs (a loop-mounted image) keep data through snapshots, a purge, a
# kill and a rebuild (the store's allocation-as-index holds there); a replica directory on a file
# system the store has not tested (ramfs) is refused with its name, and even when the operator
# allows it, the allocation probe finds that ramfs keeps no holes and refuses it.
source "$(dirname "$0")/lib.sh"
setup qemu-io mkfs.xfs losetup mount umount
[ "$(id -u)" = 0 ] || fail "needs root for losetup and mount"
io() { local out; out=$(qemu-io -f raw "$@" "$NBD_URI" 2>&1) || fail "qemu-io: $out"; ! grep -qiE "fail|mismatch|error" <<<"$out" || fail "qemu-io: $out"; }

truncate -s 1G "$WORK/xfs.img"
mkfs.xfs -q "$WORK/xfs.img" || fail "mkfs.xfs failed"
mkdir -p "$WORK/xfs" "$WORK/ramfs"
LOOP=$(losetup -f --show "$WORK/xfs.img") || fail "losetup failed"
unmount_all() { umount "$WORK/xfs" 2>/dev/null; umount "$WORK/ramfs" 2>/dev/null; losetup -d "$LOOP" 2>/dev/null; }
trap 'cleanup_then_unmount' EXIT
cleanup_then_unmount() { local keep=${KEEP_WORK:-}; KEEP_WORK=1 cleanup; unmount_all; [ -n "$keep" ] || rm -rf "$WORK"; }
mount "$LOOP" "$WORK/xfs" || fail "mounting the xfs image failed"
[ "$(stat -f -c %T "$WORK/xfs")" = xfs ] || fail "$WORK/xfs is not xfs"

serve_replica() {  # serve_replica INDEX DIR [ARGS]: a replica server on BASE_PORT+INDEX
    local i=$1 dir=$2; shift 2
    "$CORRAL" replica serve --dir "$dir" --listen "$(replica_addr "$i")" "$@" >>"$WORK/r$i.log" 2>&1 &
    REPLICA_PID[$i]=$!
    PIDS+=($!)
}
for i in 1 2; do serve_replica $i "$WORK/xfs/r$i"; wait_for 20 "replica $i on xfs" port_open $((BASE_PORT + i)); done
start_engine 256Mi 2

io -c "write -P 0xa1 0 1M" -c "write -P 0xa1 64M 4k" -c "write -P 0xa1 200M 2M"
engine snapshot create s1 >/dev/null || fail "snapshot s1"
io -c "write -P 0xb2 0 512k" -c "write -z 64M 4k" -c "write -P 0xb2 128M 1M"
engine snapshot create s2 >/dev/null || fail "snapshot s2"
io -c "write -P 0xc3 256k 4k"
s2=(-c "read -P 0xb2 0 512k" -c "read -P 0xa1 512k 512k" -c "read -P 0 64M 4k" -c "read -P 0xb2 128M 1M" -c "read -P 0xa1 200M 2M" -c "read -P 0 100M 1M")
engine snapshot rm s1 >/dev/null || fail "rm s1"
engine snapshot purge >/dev/null || fail "purge s1 into s2"
engine snapshot revert s2 >/dev/null || fail "revert to s2"
io "${s2[@]}"
log "on xfs: s1 folded into s2 by a purge, the revert to s2 reads s2's data, holes read as zeros"

kill_wait "${REPLICA_PID[2]}"
wait_for 20 "the engine to mark replica 2 failed" is_degraded
io -c "write -P 0xd4 32M 1M"
serve_replica 2 "$WORK/xfs/r2"
wait_for 60 "replica 2 to be rebuilt on xfs" is_healthy
io "${s2[@]:0:8}" -c "read -P 0xd4 32M 1M"
engine snapshot verify >/dev/null || fail "verify found a changed layer on xfs"
sums=$(engine checksums) || fail "checksums"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=list(d.values()); assert len(v)==2 and v[0]==v[1], d' "$sums" \
    || fail "the replicas' layer checksums differ after the rebuild on xfs: $sums"
log "on xfs: a killed replica is rebuilt and both replicas' layers are equal"

# An untested file system is refused at start, naming it and the supported ones.
mount -t ramfs ramfs "$WORK/ramfs" || fail "mounting ramfs failed"
if out=$(timeout 20 "$CORRAL" replica serve --dir "$WORK/ramfs/r" --listen "$(replica_addr 3)" 2>&1); then
    fail "a replica server on ramfs started: $out"
fi
grep -q "is on ramfs" <<<"$out" && grep -q "ext4, tmpfs, xfs" <<<"$out" && grep -q -- "--allow-filesystem ramfs" <<<"$out" \
    || fail "the refusal does not name ramfs, the supported file systems and the way to allow it: $out"
if out=$(timeout 20 "$CORRAL" replica serve --dir "$WORK/ramfs/r" --listen "$(replica_addr 3)" --allow-filesystem ramfs 2>&1); then
    fail "a replica server on ramfs started with --allow-filesystem ramfs, though ramfs keeps no holes: $out"
fi
grep -qE "does not allocate exactly what is written|cannot punch hole in a sparse file" <<<"$out" \
    || fail "the allocation probe did not say why ramfs is refused: $out"
log "ramfs refused by name, and by the allocation probe when allowed by name"
pass
