#!/usr/bin/env bash
# Issue 4, acceptance 1 (data-plane part): round trip on a file target and on a real S3 server
# (moto_server on loopback). A volume served by `corral server` gets random, compressible and zero
# data and holes; snapshot s1, full backup; changes; snapshot s2, incremental backup that uploads
# only the changed blocks (counted); each backup restores to exactly its snapshot (SHA-256 of the
# whole device). SigV4: our signatures equal botocore's on 300 random requests, and an S3 server
# that checks credentials (moto with IAM auth) accepts ours and refuses wrong ones with a clear
# error that changes nothing in the store.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img moto_server curl python3
export CORRAL_API
log "SigV4 against botocore"
python3 "$ROOT/scripts/interop/sigv4_vectors.py" "$WORK/vectors.json" 300
"$CORRAL" backupstore sigv4-check "$WORK/vectors.json" >"$WORK/sigv4.log" || fail "SigV4 differs from botocore: $(head -5 "$WORK/sigv4.log")"

S3_PORT=$((BASE_PORT + 90))
moto_server -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_for 30 "moto_server" port_open "$S3_PORT"
curl -sf -X PUT "http://127.0.0.1:$S3_PORT/corral-backups" >/dev/null || fail "cannot create the bucket"
export AWS_ENDPOINTS="http://127.0.0.1:$S3_PORT" AWS_ACCESS_KEY_ID=corral AWS_SECRET_ACCESS_KEY=corral-secret

start_server
mkdir -p "$WORK/target"   # a file target must exist (an unmounted share is not created)
corral volume create v1 --size 64Mi --replicas 1 >/dev/null
uri=$(corral volume attach v1)
dir="$WORK/server/node/replicas/$(curl -sf "$CORRAL_API/v1/replicas" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["spec"]["dataDirectoryName"])')"
io() { local out; out=$(qemu-io -f raw "$@" "$uri" 2>&1) || fail "qemu-io: $out"; ! grep -qiE "fail|mismatch|error" <<<"$out" || fail "qemu-io: $out"; }
head -c 6M /dev/urandom >"$WORK/random.bin"
qemu-img convert -n -f raw -O raw "$WORK/random.bin" "$uri" 2>/dev/null || qemu-io -f raw -c "write -P 0x17 0 6M" "$uri" >/dev/null
io -c "write -P 0x5a 12M 2M" -c "write -P 0 16M 2M" -c "write -z 18M 2M" -c "write -P 0x61 20M 4k"   # compressible, written zeros, write-zeroes (a hole), a partial block; the rest are holes
corral snapshot create v1 s1
qemu-img convert -f raw -O raw "$uri" "$WORK/s1.img"
io -c "write -P 0x99 2M 64k" -c "write -P 0x42 40M 1M"                        # one changed block, one new block
corral snapshot create v1 s2
qemu-img convert -f raw -O raw "$uri" "$WORK/s2.img"

count_blocks() {  # TARGET: number of .blk objects
    case "$1" in
        file://*) find "${1#file://}" -name '*.blk' | wc -l ;;
        s3://*) python3 -c 'import boto3,sys; s3=boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="corral", aws_secret_access_key="corral-secret", region_name="us-east-1")
print(sum(1 for p in s3.get_paginator("list_objects_v2").paginate(Bucket="corral-backups") for o in p.get("Contents", []) if o["Key"].endswith(".blk")))' "$AWS_ENDPOINTS" ;;
    esac
}

for target in "file://$WORK/target" "s3://corral-backups@us-east-1/cluster-a/"; do
    log "target $target"
    url1=$("$CORRAL" backupstore backup --target "$target" --replica-dir "$dir" --snapshot s1 --volume v1 2>"$WORK/b1.log") || fail "backup 1: $(cat "$WORK/b1.log")"
    first=$(count_blocks "$target")
    [ "$first" = 6 ] || fail "the full backup stored $first blocks, expected 6 (blocks 0,1,2 random, 6, 8 zero, 10 partial)"
    url2=$("$CORRAL" backupstore backup --target "$target" --replica-dir "$dir" --snapshot s2 --volume v1 2>"$WORK/b2.log") || fail "backup 2: $(cat "$WORK/b2.log")"
    grep -q "incremental: true" "$WORK/b2.log" || fail "the second backup was not incremental: $(cat "$WORK/b2.log")"
    second=$(count_blocks "$target")
    [ $((second - first)) = 2 ] || fail "the incremental backup uploaded $((second - first)) blocks, expected 2 (one changed, one new)"
    for n in 1 2; do
        url_var="url$n"
        "$CORRAL" backupstore restore "${!url_var}" --to "$WORK/restored$n.img" 2>"$WORK/r$n.log" || fail "restore $n: $(cat "$WORK/r$n.log")"
        [ "$(sha256sum <"$WORK/restored$n.img")" = "$(sha256sum <"$WORK/s$n.img")" ] || fail "backup $n does not restore snapshot s$n on $target"
    done
    "$CORRAL" backupstore ls --target "$target" v1 | grep -q Completed || fail "ls shows no completed backup"
    "$CORRAL" backupstore rm "$url1" >/dev/null
    "$CORRAL" backupstore restore "$url2" --to "$WORK/after-rm.img" 2>/dev/null || fail "backup 2 does not restore after backup 1 was deleted"
    [ "$(sha256sum <"$WORK/after-rm.img")" = "$(sha256sum <"$WORK/s2.img")" ] || fail "backup 2 changed when backup 1 was deleted"
    [ "$(count_blocks "$target")" = 7 ] || fail "garbage collection left $(count_blocks "$target") blocks, expected 7"
    log "target $target: full 6 blocks, incremental +2, both restore exactly, delete collects the unused block"
done

log "credentials checked by the S3 server"
# moto checks keys and signatures once auth is switched on. Its checker cannot verify a listing
# whose prefix holds '/' (it signs the decoded query; botocore's own requests fail the same way),
# so our good signatures are proven against botocore's signer above, and here the refusals.
read -r key secret < <(python3 "$ROOT/scripts/interop/s3_auth_setup.py" "$AWS_ENDPOINTS") || fail "cannot prepare moto's IAM user"
good=$("$CORRAL" backupstore backup --target "s3://corral-backups@us-east-1/cluster-a/" --replica-dir "$dir" --snapshot s1 --volume v1 2>/dev/null) || fail "backup before auth"
objects() { python3 -c 'import boto3,os; s3=boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINTS"], region_name="us-east-1")
print(sorted((o["Key"], o["ETag"]) for p in s3.get_paginator("list_objects_v2").paginate(Bucket="corral-backups") for o in p.get("Contents", [])))'; }
before=$(objects)
curl -sf -X POST -H "Content-Type: text/plain" --data 0 "$AWS_ENDPOINTS/moto-api/reset-auth" >/dev/null || fail "cannot switch moto's auth on"
for wrong in "$key:wrong-secret:SignatureDoesNotMatch" "AKIAWRONGKEY0000000:$secret:InvalidAccessKeyId"; do
    IFS=: read -r wrong_key wrong_secret code <<<"$wrong"
    for action in "backup --target s3://corral-backups@us-east-1/cluster-a/ --replica-dir $dir --snapshot s2 --volume v1" "restore $good --to $WORK/denied.img" "ls --target s3://corral-backups@us-east-1/cluster-a/ v1" "rm $good"; do
        if AWS_ACCESS_KEY_ID="$wrong_key" AWS_SECRET_ACCESS_KEY="$wrong_secret" timeout 60 "$CORRAL" backupstore $action >/dev/null 2>"$WORK/denied.log"; then
            fail "backupstore ${action%% *} succeeded with wrong credentials"
        fi
        grep -q "$code" "$WORK/denied.log" && grep -q "AWS_SECRET_ACCESS_KEY" "$WORK/denied.log" \
            || fail "backupstore ${action%% *} with wrong credentials did not say $code and what to check: $(cat "$WORK/denied.log")"
    done
done
curl -sf -X POST -H "Content-Type: text/plain" --data inf "$AWS_ENDPOINTS/moto-api/reset-auth" >/dev/null || fail "cannot switch moto's auth off"
[ "$(objects)" = "$before" ] || fail "failed calls with wrong credentials changed the store"
"$CORRAL" backupstore restore "$good" --to "$WORK/auth.img" 2>/dev/null || fail "the backup does not restore after the refused calls"
[ "$(sha256sum <"$WORK/auth.img")" = "$(sha256sum <"$WORK/s1.img")" ] || fail "the backup does not restore s1 after the refused calls"
log "wrong secret and unknown key: refused at once with the S3 code and what to check; the store unchanged"
pass
