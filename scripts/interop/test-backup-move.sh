#!/usr/bin/env bash
# Issue 4, acceptance 4 (incident 4: workloads unable to move while a backup runs). Three node
# agents in their own network namespaces. A 2 GiB volume with data (random and compressible) on
# replicas of n2 and n3 is attached on n1; a backup of it starts (gzip, so it runs long enough to
# overlap the move). Meanwhile the volume detaches from n1, attaches on n2 and takes writes there:
# the move takes under 15 s, the backup was still running when the move ended, it completes, and
# restoring it gives exactly the data of its snapshot (not the writes made after it).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
setup qemu-io qemu-img nbdcopy curl ip python3
make_network 1 2 3
start_manager
for i in 1 2 3; do start_node $i; done
wait_for 60 "three ready nodes" bash -c "[ \$(curl -sf $MANAGER_URL/v1/nodes | python3 -c 'import json,sys; print(sum(n[\"status\"][\"ready\"] for n in json.load(sys.stdin)[\"items\"]))') = 3 ]"
mkdir -p "$WORK/target"   # one file system: every node sees the same target directory
corral backup-target set default "file://$WORK/target" >/dev/null
corral setting set backup-compression-method gzip >/dev/null
corral node cordon n1 >/dev/null   # replicas on n2 and n3; the engine still runs on n1
corral volume create v1 --size 2Gi --replicas 2 >/dev/null
uri=$(corral volume attach v1 --node n1 --timeout 90) || fail "attach on n1 failed: $uri"
wait_for 60 "v1 healthy" volume_is v1 healthy

head -c 1536M /dev/urandom >"$WORK/data.img"
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * (512 * 4096))' >>"$WORK/data.img"   # 512 MiB compressible
nbdcopy "$WORK/data.img" "$uri" || fail "cannot write the data"
corral snapshot create v1 before-move >/dev/null
nbdcopy "$uri" "$WORK/snapshot.img"
name=$(corral backup create v1 --snapshot before-move --no-wait) || fail "backup create failed: $name"
backup_field() { corral backup get "$name" -o json | json_field "$1"; }
uploading() { [ "$(backup_field status.state)" = InProgress ] && [ "$(backup_field status.progress)" -ge 1 ]; }
wait_for 120 "the backup to be uploading" uploading
log "backup $name uploading from $(backup_field status.nodeID); moving v1 from n1 to n2"

t0=$(date +%s.%N)
corral volume detach v1 >/dev/null || fail "detach failed while the backup ran"
uri2=$(corral volume attach v1 --node n2 --timeout 60) || fail "attach on n2 failed while the backup ran: $uri2"
t1=$(date +%s.%N)
move=$(python3 -c "print(round($t1 - $t0, 1))")
state=$(backup_field status.state)
log "moved in $move s; the backup is $state ($(backup_field status.progress)%)"
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 15 else 1)" || fail "the move took $move s (limit 15 s)"
[ "$state" = InProgress ] || fail "the backup was $state when the move ended: it did not overlap the move"
qemu-io -f raw -c "write -P 0x5e 0 64M" -c "write -P 0x6f 1G 64M" -c "read -P 0x5e 0 64M" "$uri2" | grep -q "read 67108864" \
    || fail "v1 does not take writes on n2"

wait_for 600 "the backup to complete" bash -c "[ \"\$(\"$CORRAL\" backup get $name -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"state\"])')\" = Completed ]"
url=$(backup_field status.url)
"$CORRAL" backupstore restore "$url" --to "$WORK/restored.img" 2>"$WORK/restore.log" || fail "restore: $(cat "$WORK/restore.log")"
cmp -s "$WORK/restored.img" "$WORK/snapshot.img" || fail "the backup does not restore its snapshot's data"
log "the backup completed after the move and restores exactly the snapshot"
pass
