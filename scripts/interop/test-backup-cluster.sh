#!/usr/bin/env bash
# Issue 4, acceptance 1 through the manager, on a file target and on a real S3 server (moto on
# loopback): `corral backup create` takes a snapshot and the node holding the replica uploads it
# (progress shown); a second, incremental backup uploads only the changed blocks (counted); one
# backup runs while the volume detaches; each backup restores into a new volume (attached, and
# detached) equal to the data it was taken from; `corral backup rm` deletes from the target.
# The server runs without S3 credentials in its environment: the s3 target takes endpoint and keys
# from a named secret. A backup stuck on a frozen S3 server is cancelled and a later one completes.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img moto_server curl python3
S3_PORT=$((BASE_PORT + 90))
moto_server -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
PIDS+=($!)
wait_for 30 "moto_server" port_open "$S3_PORT"
curl -sf -X PUT "http://127.0.0.1:$S3_PORT/corral-backups" >/dev/null || fail "cannot create the bucket"
unset AWS_ENDPOINTS AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
start_server
# From here on only this shell (the CLI's own store checks) has the credentials.
export AWS_ENDPOINTS="http://127.0.0.1:$S3_PORT" AWS_ACCESS_KEY_ID=corral AWS_SECRET_ACCESS_KEY=corral-secret
mkdir -p "$WORK/target"   # a file target must exist (an unmounted share is not created)
out=$(corral backup create nosuch 2>&1) && fail "a backup of a missing volume succeeded"

count_blocks() {
    case "$1" in
        file://*) find "${1#file://}" -name '*.blk' 2>/dev/null | wc -l ;;
        s3://*) python3 -c 'import boto3,sys; s3=boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="corral", aws_secret_access_key="corral-secret", region_name="us-east-1")
print(sum(1 for p in s3.get_paginator("list_objects_v2").paginate(Bucket="corral-backups", Prefix="manager/") for o in p.get("Contents", []) if o["Key"].endswith(".blk")))' "$AWS_ENDPOINTS" ;;
    esac
}

round() {  # KIND TARGET [backup-target set options]
    local kind=$1 target=$2 v="v-$1"; shift 2
    corral volume create "$v" --size 64Mi --replicas 1 >/dev/null
    local uri; uri=$(corral volume attach "$v")
    if [ "$kind" = file ]; then
        out=$(corral backup create "$v" 2>&1) && fail "a backup without a target succeeded"
        grep -q "has no URL" <<<"$out" || fail "no clear error without a target: $out"
    fi
    corral backup-target set default "$target" "$@" >/dev/null
    qemu-io -f raw -c "write -P 0x11 0 8M" -c "write -P 0x22 30M 1M" -c "write -P 0 40M 2M" "$uri" >/dev/null
    qemu-img convert -f raw -O raw "$uri" "$WORK/one.img"
    local url1; url1=$(corral backup create "$v" 2>"$WORK/b1.log") || fail "backup 1: $(cat "$WORK/b1.log")"
    grep -qE "^100\.0% [^ ]+ Completed [0-9.]+ MiB of [0-9.]+ MiB read \([0-9]+/[0-9]+ blocks\), .* uploaded$" "$WORK/b1.log" || fail "no progress in bytes shown: $(cat "$WORK/b1.log")"
    if grep -q $'\r' "$WORK/b1.log"; then fail "progress redrawn with carriage returns on a non-terminal: $(cat -A "$WORK/b1.log")"; fi
    local name1; name1=$(corral backup ls "$v" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["metadata"]["name"])')
    corral backup get "$name1" -o json | python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; assert s["bytesDone"]==s["bytesTotal"]>0 and s["newlyUploadedDataSize"]>0, s' \
        || fail "the API does not report the backup's bytes: $(corral backup get "$name1")"
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
    # `backup restore` follows the restore (detached, on a replica's node) until it completed.
    timeout 120 "$CORRAL" backup restore "$url2" --to "$v-r2" --replicas 1 >/dev/null 2>"$WORK/r2.log" \
        || fail "backup restore into $v-r2: $(cat "$WORK/r2.log")"
    grep -q "$v-r2: restored from $url2" "$WORK/r2.log" || fail "backup restore did not follow the restore: $(cat "$WORK/r2.log")"
    corral volume get "$v-r2" -o json | grep -q "\"lastRestoredBackup\" : \"$url2\"" || fail "backup restore returned before the restore completed"
    wait_for 60 "$v-r2 detached after its restore" volume_state_is "$v-r2" detached
    local r2; r2=$(corral volume attach "$v-r2")
    qemu-img convert -f raw -O raw "$r2" "$WORK/r2.img"
    [ "$(sha256sum <"$WORK/r2.img")" = "$(sha256sum <"$WORK/two.img")" ] || fail "$v-r2 restored from backup 2 differs from its snapshot"
    corral backup ls "$v" | grep -c Completed | grep -q 2 || fail "backup ls does not show two completed backups: $(corral backup ls "$v")"
    name1=$(corral backup ls "$v" -o json | python3 -c 'import json,sys; print([b["metadata"]["name"] for b in json.load(sys.stdin)["items"] if b["status"]["url"]==sys.argv[1]][0])' "$url1")
    corral backup rm "$name1" >/dev/null
    "$CORRAL" backupstore ls --target "$target" "$v" | grep -q "$name1" && fail "backup 1 is still in the target"
    corral volume create "$v-r3" --from-backup "$url2" --replicas 1 >/dev/null
    local r3; r3=$(corral volume attach "$v-r3" --timeout 120)
    qemu-img convert -f raw -O raw "$r3" "$WORK/r3.img"
    cmp -s "$WORK/r3.img" "$WORK/two.img" || fail "backup 2 broke when backup 1 was deleted"
    log "$kind: full and incremental (+2 blocks) backups through the manager, one while detached; restores into new volumes equal their snapshots; delete works"
}
round file "file://$WORK/target"

# A target naming a secret that does not exist says so; once the secret exists the target works.
corral backup-target set default "s3://corral-backups@us-east-1/manager/" --credential-secret s3-creds >/dev/null
target_says() { corral backup-target get default -o json | json_field status.message | grep -q "$1"; }
wait_for 30 "the target to say its secret is missing" target_says "credential secret s3-creds, which does not exist"
corral secret set s3-creds --from-env AWS_ENDPOINTS --from-env AWS_ACCESS_KEY_ID --from-env AWS_SECRET_ACCESS_KEY >/dev/null
corral secret ls -o json | grep -q "corral-secret" && fail "secret ls shows a secret value"
corral secret ls | grep -q "AWS_SECRET_ACCESS_KEY" || fail "secret ls does not list the secret's keys: $(corral secret ls)"
out=$(corral secret rm s3-creds 2>&1) && fail "a secret in use by a target was removed"
grep -q "uses secret s3-creds" <<<"$out" || fail "no clear error removing a secret in use: $out"
corral backup-target sync default >/dev/null || fail "the s3 target did not list with its secret: $(corral backup-target get default)"
round s3 "s3://corral-backups@us-east-1/manager/" --credential-secret s3-creds

# Cancel: a backup stuck on a frozen S3 server stops when asked; a later backup completes.
corral volume create v-cancel --size 64Mi --replicas 1 >/dev/null
uri=$(corral volume attach v-cancel)
qemu-io -f raw -c "write -P 0x55 0 16M" "$uri" >/dev/null
kill -STOP "$MOTO_PID"
name=$(corral backup create v-cancel --no-wait)
backup_state_is() { [ "$(corral backup get "$1" -o json | json_field status.state)" = "$2" ]; }
wait_for 60 "backup $name to start" backup_state_is "$name" InProgress
corral backup cancel "$name" --timeout 60 >/dev/null || { kill -CONT "$MOTO_PID"; fail "backup $name did not stop: $(corral backup get "$name")"; }
kill -CONT "$MOTO_PID"
corral backup get "$name" -o json | grep -q "cancelled" || fail "a cancelled backup does not say so: $(corral backup get "$name")"
out=$(corral backup cancel "$name" 2>&1) && fail "a cancelled backup was cancelled again"
grep -q "only a Pending or InProgress backup" <<<"$out" || fail "no clear error cancelling a finished backup: $out"
corral backup create v-cancel >/dev/null 2>"$WORK/b3.log" || fail "the backup after a cancel failed: $(cat "$WORK/b3.log")"
log "a named secret supplies the s3 target's endpoint and keys; a backup on a frozen S3 server is cancelled and the next completes"
out=$(corral volume create bad --from-backup "file://$WORK/target?backup=nosuch&volume=v-file" 2>&1) && fail "a volume from a missing backup was created"

# 16 MiB backup blocks (Longhorn's other size): chosen when the volume is created, written into
# each backup's parameters, and taken over by a volume restored from such a backup.
corral backup-target set default "file://$WORK/target" >/dev/null
out=$(corral volume create v16-odd --size 40Mi --replicas 1 --backup-block-size 16Mi 2>&1) && fail "a 40 MiB volume took 16 MiB backup blocks"
grep -q "multiple of the backup block size 16 MiB" <<<"$out" || fail "no clear error for a size that is not whole 16 MiB blocks: $out"
corral volume create v16 --size 64Mi --replicas 1 --backup-block-size 16Mi >/dev/null
uri=$(corral volume attach v16)
qemu-io -f raw -c "write -P 0x66 1M 2M" -c "write -P 0x77 40M 4k" "$uri" >/dev/null
qemu-img convert -f raw -O raw "$uri" "$WORK/v16.img"
url16=$(corral backup create v16 2>"$WORK/b16.log") || fail "backup of v16: $(cat "$WORK/b16.log")"
cfg=$(find "$WORK/target" -path "*/v16/backups/*.cfg" | head -1)
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["Parameters"]["backup-block-size"]=="16777216", c["Parameters"]; assert [b["Offset"] for b in c["Blocks"]]==[0,33554432], c["Blocks"]' "$cfg" \
    || fail "the backup of v16 is not in 16 MiB blocks: $(cat "$cfg")"
corral volume create v16-r --from-backup "$url16" --replicas 1 >/dev/null
[ "$(corral volume get v16-r -o json | json_field spec.backupBlockSize)" = 16777216 ] || fail "the restored volume did not take the backup's block size"
r16=$(corral volume attach v16-r --timeout 120) || fail "attach of v16-r failed: $r16"
qemu-img convert -f raw -O raw "$r16" "$WORK/v16-r.img"
cmp -s "$WORK/v16-r.img" "$WORK/v16.img" || fail "v16-r restored from a 16 MiB-block backup differs from v16"
log "16 MiB backup blocks: two blocks in the store, Longhorn's parameter set, the restored volume equal and with the same block size"
pass
