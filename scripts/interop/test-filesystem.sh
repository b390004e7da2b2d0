#!/usr/bin/env bash
# Acceptance 9: a real ext4 on a volume through nbdfuse and a loop device (no kernel NBD here):
# mkfs, mount, write and sync a tree of files while one of 3 replicas is killed with kill -9,
# unmount; fsck -fn is clean and every file's checksum holds.
source "$(dirname "$0")/lib.sh"
setup nbdfuse losetup mkfs.ext4 fsck.ext4 sha256sum fusermount3
[ "$(id -u)" = 0 ] || fail "needs root for losetup and mount"
for i in 1 2 3; do start_replica $i; done
start_engine 512Mi 3 --timeout 4

mkdir -p "$WORK/fuse" "$WORK/mnt"
nbdfuse "$WORK/fuse" "$NBD_URI" >>"$WORK/nbdfuse.log" 2>&1 &
FUSE=$!
wait_for 20 "nbdfuse to expose the volume" test -e "$WORK/fuse/nbd"
LOOP=$(losetup -f --show "$WORK/fuse/nbd") || fail "losetup failed"
unmount_all() {
    umount "$WORK/mnt" 2>/dev/null; losetup -d "$LOOP" 2>/dev/null
    fusermount3 -u "$WORK/fuse" 2>/dev/null; wait "$FUSE" 2>/dev/null
}
trap 'unmount_all; cleanup' EXIT
mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4 failed"
mount "$LOOP" "$WORK/mnt" || fail "mount failed"

make_files() {  # make_files DIR COUNT
    mkdir -p "$1"
    for n in $(seq 1 "$2"); do head -c $(( (RANDOM % 64 + 1) * 4096 + RANDOM )) /dev/urandom > "$1/f$n"; done
}
make_files "$WORK/mnt/a" 100
sync
kill -9 "${REPLICA_PID[2]}"
log "killed replica 2 while writing"
make_files "$WORK/mnt/b/c" 100
make_files "$WORK/mnt/d" 50
sync
(cd "$WORK/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$WORK/sums"
umount "$WORK/mnt" || fail "umount failed"
fsck.ext4 -fn "$LOOP" >"$WORK/fsck.log" 2>&1 || fail "fsck.ext4 -fn found problems: $(tail -5 "$WORK/fsck.log")"
mount "$LOOP" "$WORK/mnt" || fail "remount failed"
(cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums") || fail "file checksums differ after remount"
files=$(wc -l < "$WORK/sums")
[ "$files" -eq 250 ] || fail "expected 250 files, found $files"
log "ext4 clean, $files files intact with a replica killed mid-write"
pass
