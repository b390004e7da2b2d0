#!/usr/bin/env bash
# Issue 4, acceptance 1 through the manager, on a file target and on a real S3 server (moto on
# loopback): `corral backup create` takes a snapshot and the node holding the replica uploads it
# (progress shown); a second, incremental backup uploads only the changed blocks (counted); one
# backup runs while the volume detaches; each backup restores into a new volume (attached, and
# detached) equal to the data it was taken from; `corral backup rm` deletes from the target.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img moto_server curl python3
S3_PORT=$((BASE_PORT + 90))
moto_server -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_for 30 "moto_server" port_open "$S3_PORT"
curl -sf -X PUT "http://127.0.0.1:$S3_PORT/corral-backups" >/dev/null || fail "cannot create the bucket"
export AWS_ENDPOINTS="http://127.0.0.1:$S3_PORT" AWS_ACCESS_KEY_ID=corral AWS_SECRET_ACCESS_KEY=corral-secret
start_server
mkdir -p "$WORK/target"   # a file target must exist (an unmounted share is not created)
out=$(corral backup create nosuch 2>&1) && fail "a backup of a missing volume succeeded"

count_blocks() {
    case "$1" in
        file://*) find "${1#file://}" -name '*.blk' 2>/dev/null | wc -l ;;
        s3://*) python3 -c 'import boto3,sys; s3=boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="corral", aws_secret_access_key="corral-secret", region_name="us-east-1")
print(sum(1 for p in s3.get_paginator("list_objects_v2").paginate(Bucket="corral-backups", Prefix="manager/") for o in p.get("Contents", []) if o["Key"].endswith(".blk")))' "$AWS_ENDPOINTS" ;;
    esac
}

round() {  # KIND TARGET
    local kind=$1 target=$2 v="v-$1"
    corral volume create "$v" --size 64Mi --replicas 1 >/dev/null
    local uri; uri=$(corral volume attach "$v")
    if [ "$kind" = file ]; then
        out=$(corral backup create "$v" 2>&1) && fail "a backup without a target succeeded"
        grep -q "has no URL" <<<"$out" || fail "no clear error without a target: $out"
    fi
    corral backup-target set default "$target" >/dev/null
    qemu-io -f raw -c "write -P 0x11 0 8M" -c "write -P 0x22 30M 1M" -c "write -P 0 40M 2M" "$uri" >/dev/null
    qemu-img convert -f raw -O raw "$uri" "$WORK/one.img"
    local url1; url1=$(corral backup create "$v" 2>"$WORK/b1.log") || fail "backup 1: $(cat "$WORK/b1.log")"
    grep -q "Completed" "$WORK/b1.log" || fail "no progress shown: $(cat "$WORK/b1.log")"
    local first; first=$(count_blocks "$target")
    qemu-io -f raw -c "write -P 0x33 4M 64k" -c "write -P 0x44 50M 4k" "$uri" >/dev/null
    qemu-img convert -f raw -O raw "$uri" "$WORK/two.img"
    local name2; name2=$(corral backup create "$v" --no-wait)
    corral volume detach "$v" >/dev/null   # the backup reads the replica's files, not the engine
    wait_for 60 "backup 2 to complete while $v is detached" bash -c "\"$CORRAL\" backup get $name2 -o json | grep -q '\"Completed\"'"
    [ $(( $(count_blocks "$target") - first )) = 2 ] || fail "the incremental backup uploaded $(( $(count_blocks "$target") - first )) blocks, expected 2"
    local url2; url2=$(corral backup get "$name2" -o json | json_field status.url)
    # Each backup into a new volume: one attached while it restores, one restored while detached.
    corral volume create "$v-r1" --from-backup "$url1" --replicas 1 >/dev/null
    local r1; r1=$(corral volume attach "$v-r1" --timeout 120) || fail "attach of the restored volume failed: $r1"
    qemu-img convert -f raw -O raw "$r1" "$WORK/r1.img"
    [ "$(sha256sum <"$WORK/r1.img")" = "$(sha256sum <"$WORK/one.img")" ] || fail "$v-r1 restored from backup 1 differs from its snapshot"
    corral volume create "$v-r2" --from-backup "$url2" --replicas 1 >/dev/null
    wait_for 120 "$v-r2 to be restored while detached" bash -c "\"$CORRAL\" volume get $v-r2 -o json | grep -q '\"lastRestoredBackup\" : \"$url2\"'"
    wait_for 60 "$v-r2 detached after its restore" volume_state_is "$v-r2" detached
    local r2; r2=$(corral volume attach "$v-r2")
    qemu-img convert -f raw -O raw "$r2" "$WORK/r2.img"
    [ "$(sha256sum <"$WORK/r2.img")" = "$(sha256sum <"$WORK/two.img")" ] || fail "$v-r2 restored from backup 2 differs from its snapshot"
    corral backup ls "$v" | grep -c Completed | grep -q 2 || fail "backup ls does not show two completed backups: $(corral backup ls "$v")"
    local name1; name1=$(corral backup ls "$v" -o json | python3 -c 'import json,sys; print([b["metadata"]["name"] for b in json.load(sys.stdin)["items"] if b["status"]["url"]==sys.argv[1]][0])' "$url1")
    corral backup rm "$name1" >/dev/null
    "$CORRAL" backupstore ls --target "$target" "$v" | grep -q "$name1" && fail "backup 1 is still in the target"
    corral volume create "$v-r3" --from-backup "$url2" --replicas 1 >/dev/null
    local r3; r3=$(corral volume attach "$v-r3" --timeout 120)
    qemu-img convert -f raw -O raw "$r3" "$WORK/r3.img"
    cmp -s "$WORK/r3.img" "$WORK/two.img" || fail "backup 2 broke when backup 1 was deleted"
    log "$kind: full and incremental (+2 blocks) backups through the manager, one while detached; restores into new volumes equal their snapshots; delete works"
}
round file "file://$WORK/target"
round s3 "s3://corral-backups@us-east-1/manager/"
out=$(corral volume create bad --from-backup "file://$WORK/target?backup=nosuch&volume=v-file" 2>&1) && fail "a volume from a missing backup was created"
pass
