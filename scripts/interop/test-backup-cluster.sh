#!/usr/bin/env bash
# Backups through the manager: `corral backup create` takes a snapshot, the manager assigns the
# backup to the node with a healthy replica, the node uploads the snapshot's blocks (progress in
# the API), the backup completes with a URL; an incremental second backup; a backup keeps going
# while the volume detaches; `corral backup rm` deletes from the target. Restores equal the data.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img
start_server
out=$(corral backup create nosuch 2>&1) && fail "a backup of a missing volume succeeded"
corral volume create v1 --size 64Mi --replicas 1 >/dev/null
uri=$(corral volume attach v1)
out=$(corral backup create v1 2>&1) && fail "a backup without a target succeeded"
grep -q "no backup target" <<<"$out" || fail "no clear error without a target: $out"
corral setting set backup-target "file://$WORK/target" >/dev/null
qemu-io -f raw -c "write -P 0x11 0 8M" -c "write -P 0x22 30M 1M" "$uri" >/dev/null
qemu-img convert -f raw -O raw "$uri" "$WORK/one.img"
url1=$(corral backup create v1 2>"$WORK/b1.log") || fail "backup 1: $(cat "$WORK/b1.log")"
grep -q "Completed" "$WORK/b1.log" || fail "no progress shown: $(cat "$WORK/b1.log")"
qemu-io -f raw -c "write -P 0x33 4M 64k" "$uri" >/dev/null
qemu-img convert -f raw -O raw "$uri" "$WORK/two.img"
name2=$(corral backup create v1 --no-wait)
corral volume detach v1 >/dev/null   # the backup reads the replica's files, not the engine
wait_for 60 "backup 2 to complete while v1 is detached" bash -c "\"$CORRAL\" backup get $name2 -o json | grep -q '\"Completed\"'"
url2=$(corral backup get "$name2" -o json | json_field status.url)
for n in 1 2; do
    url_var="url$n"; image=$([ $n = 1 ] && echo one || echo two)
    "$CORRAL" backupstore restore "${!url_var}" --to "$WORK/restored$n.img" 2>/dev/null || fail "restore of backup $n failed"
    cmp -s "$WORK/restored$n.img" "$WORK/$image.img" || fail "backup $n does not restore the data it was taken from"
done
corral backup ls v1 | grep -c Completed | grep -q 2 || fail "backup ls does not show two completed backups: $(corral backup ls v1)"
name1=$(corral backup ls v1 -o json | python3 -c 'import json,sys; print([b["metadata"]["name"] for b in json.load(sys.stdin)["items"] if b["status"]["url"]==sys.argv[1]][0])' "$url1")
corral backup rm "$name1" >/dev/null
"$CORRAL" backupstore ls --target "file://$WORK/target" v1 | grep -q "$name1" && fail "backup 1 is still in the target"
"$CORRAL" backupstore restore "$url2" --to "$WORK/again.img" 2>/dev/null && cmp -s "$WORK/again.img" "$WORK/two.img" || fail "backup 2 broke when backup 1 was deleted"
# Restore into new volumes: usable only once filled, with exactly the backup's data.
corral volume create r2 --from-backup "$url2" --replicas 1 >/dev/null
uri_r2=$(corral volume attach r2 --timeout 120) || fail "attach of the restored volume failed: $uri_r2"
qemu-img convert -f raw -O raw "$uri_r2" "$WORK/r2.img"
cmp -s "$WORK/r2.img" "$WORK/two.img" || fail "volume r2 restored from backup 2 differs from the data"
corral volume create r3 --from-backup "$url2" --replicas 1 >/dev/null   # restored while detached
wait_for 120 "r3 to be restored while detached" bash -c "\"$CORRAL\" volume get r3 -o json | grep -q '\"lastRestoredBackup\" : \"$url2\"'"
wait_for 60 "r3 detached after its restore" volume_state_is r3 detached
uri_r3=$(corral volume attach r3)
qemu-img convert -f raw -O raw "$uri_r3" "$WORK/r3.img"
cmp -s "$WORK/r3.img" "$WORK/two.img" || fail "volume r3 restored while detached differs from the data"
out=$(corral volume create bad --from-backup "file://$WORK/target?backup=nosuch&volume=v1" 2>&1) && fail "a volume from a missing backup was created"
log "two backups through the manager, one while detached; restores into new volumes (attached and detached) equal the data; delete works"
pass
