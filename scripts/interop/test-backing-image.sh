#!/usr/bin/env bash
# Issue 21 on `corral server`: backing images.
# - Acceptance 3: an ext4 file system with files, made into a qcow2 with qemu-img and converted to
#   raw, served over HTTP, becomes backing image `base` (SHA-512 checked). Three volumes start from
#   it: each reads the image's bytes (`qemu-img compare`); writes and write-zeroes to one never show
#   in the others; a rebuilt replica (the volume scaled to 2) holds the volume's data, read straight
#   from its directory by a backup of a snapshot, which restores to the whole content (the image's
#   blocks included) and names the image in volume.cfg.
# - Acceptance 4 (part): Corral's backing-image backup passes a checker of Longhorn's layout
#   (longhorn_store.py check-bi: field order, numbers as strings, paths, the BACKINGIMAGE lock);
#   one written by an independent writer in that layout restores, and a volume reads it.
# - A clone of an image, and an image exported from a volume's snapshot, each checked by SHA-512.
# - A transfer cut off half way resumes with a range request; from a server without ranges it
#   restarts; both end in a checked copy.
# - Acceptance 6 (part): HTTPS from a server whose certificate a test CA signed (the node trusts it:
#   CORRAL_BACKING_IMAGE_CA_FILE) works, and from one it did not sign fails; a URL that answers
#   404, one that stalls, and a wrong checksum each end in
#   a failed copy whose message says what happened and what to do; no volume can use such an image,
#   and an image that volumes use cannot be deleted (409 naming them).
source "$(dirname "$0")/lib.sh"
setup qemu-img qemu-io curl python3 mkfs.ext4 sha512sum openssl
export CORRAL_BACKING_IMAGE_STALL_SECONDS=2
# A test CA the node trusts for image servers, a server certificate it signed, and one it did not.
mkdir -p "$WORK/tls"
(
    cd "$WORK/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=corral test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext
    openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.pem -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1"
) >"$WORK/tls/openssl.log" 2>&1 || fail "openssl could not make the test certificates: $(cat "$WORK/tls/openssl.log")"
export CORRAL_BACKING_IMAGE_CA_FILE="$WORK/tls/ca.pem"
start_server
corral setting set replica-soft-anti-affinity true >/dev/null

# The image: an ext4 file system with files, through qcow2, back to raw.
mkdir -p "$WORK/files/etc" "$WORK/http"
for i in $(seq 1 16); do head -c $((64 * 1024 * i)) /dev/urandom >"$WORK/files/file$i"; done
echo "corral backing image" >"$WORK/files/etc/motd"
mkfs.ext4 -q -F -d "$WORK/files" "$WORK/fs.raw" 40M || fail "mkfs.ext4 -d failed"
qemu-img convert -f raw -O qcow2 "$WORK/fs.raw" "$WORK/fs.qcow2"
qemu-img convert -f qcow2 -O raw "$WORK/fs.qcow2" "$WORK/http/image.raw"
IMAGE="$WORK/http/image.raw"
SUM=$(sha512sum <"$IMAGE" | cut -d' ' -f1)
SIZE=$(stat -c %s "$IMAGE")
HTTP_PORT=$((BASE_PORT + 70))
python3 "$ROOT/scripts/interop/image_server.py" "$WORK/http" "$HTTP_PORT" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the image server" port_open "$HTTP_PORT"
URL="http://127.0.0.1:$HTTP_PORT"
python3 "$ROOT/scripts/interop/image_server.py" "$WORK/http" "$((HTTP_PORT + 1))" --tls "$WORK/tls/server.pem" "$WORK/tls/server.key" >"$WORK/https.log" 2>&1 &
PIDS+=($!)
python3 "$ROOT/scripts/interop/image_server.py" "$WORK/http" "$((HTTP_PORT + 2))" --tls "$WORK/tls/self.pem" "$WORK/tls/self.key" >"$WORK/https-self.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the HTTPS image servers" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$((HTTP_PORT + 1))) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$((HTTP_PORT + 2))) 2>/dev/null"

image_field() { curl -sf "$CORRAL_API/v1/backingimages/$1" | json_field "$2"; }
copy_state() { curl -sf "$CORRAL_API/v1/backingimages/$1" | python3 -c 'import json,sys
c=json.load(sys.stdin)["status"]["copies"]; print(",".join(sorted(v["state"] for v in c.values())))'; }
copy_message() { curl -sf "$CORRAL_API/v1/backingimages/$1" | python3 -c 'import json,sys
c=json.load(sys.stdin)["status"]["copies"]; print(" | ".join(v["message"] for v in c.values()))'; }

corral backing-image create base --url "$URL/img/image.raw" --checksum "$SUM" --timeout 120 >"$WORK/create.log" 2>&1 \
    || fail "backing image base did not become ready: $(cat "$WORK/create.log"); $(curl -sf "$CORRAL_API/v1/backingimages/base")"
[ "$(image_field base status.checksum)" = "$SUM" ] || fail "base's checksum is not the image's"
[ "$(image_field base status.size)" = "$SIZE" ] || fail "base's size is not the image's $SIZE"
[ "$(copy_state base)" = ready ] || fail "base's copies: $(copy_state base)"

# Read whole, then searched: `curl | grep -q` fails under pipefail when grep stops reading first.
curl -sf "$CORRAL_API/metrics" >"$WORK/metrics.txt" || fail "GET /metrics failed"
grep -q 'corral_backing_image_copies{backing_image="base",state="ready"} 1' "$WORK/metrics.txt" \
    || fail "the metrics do not count base's ready copy: $(grep backing "$WORK/metrics.txt")"
wait_for 10 "an Event saying base's copy is ready" bash -c "curl -sf $CORRAL_API/v1/events >$WORK/events.json && grep -q BackingImageCopyReady $WORK/events.json"

# Three volumes on the image read its bytes.
declare -A URI
for v in v1 v2 v3; do
    corral volume create "$v" --backing-image base --replicas 1 >/dev/null
    URI[$v]=$(corral volume attach "$v" --timeout 60) || fail "attach $v: ${URI[$v]}"
    [ "$(volume_field "$v" spec.size)" = "$SIZE" ] || fail "$v did not take the image's size"
    qemu-img compare -f raw -F raw "$IMAGE" "${URI[$v]}" >/dev/null || fail "$v does not read the image's bytes"
done

# Writes and write-zeroes to v1 stay in v1.
qemu-io -f raw -c "write -P 0x5a 8M 1M" -c "write -z 16M 1M" -c "write -P 0x33 100k 3k" "${URI[v1]}" >/dev/null || fail "writes to v1 failed"
qemu-io -f raw -c "read -P 0x5a 8M 1M" -c "read -P 0 16M 1M" -c "read -P 0x33 100k 3k" "${URI[v1]}" >/dev/null || fail "v1 does not read what was written"
for v in v2 v3; do
    qemu-img compare -f raw -F raw "$IMAGE" "${URI[$v]}" >/dev/null || fail "writes to v1 showed in $v"
done
qemu-img convert -f raw -O raw "${URI[v1]}" "$WORK/v1.expected"
! cmp -s "$IMAGE" "$WORK/v1.expected" || fail "v1 reads as the image after writes"

# A rebuilt replica holds v1's data: a backup read from its own directory restores to it.
first=$(curl -sf "$CORRAL_API/v1/replicas" | python3 -c 'import json,sys; print([r["metadata"]["name"] for r in json.load(sys.stdin)["items"] if r["spec"]["volumeName"]=="v1"][0])')
corral volume scale v1 --replicas 2 >/dev/null
wait_for 120 "v1 healthy with 2 replicas" bash -c "[ \"\$($CORRAL volume get v1 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"robustness\"])')\" = healthy ] && [ \$(curl -sf $CORRAL_API/v1/replicas | grep -c '\"volumeName\" : \"v1\"') = 2 ]"
rebuilt=$(curl -sf "$CORRAL_API/v1/replicas" | python3 -c 'import json,sys
print([r["metadata"]["name"] for r in json.load(sys.stdin)["items"] if r["spec"]["volumeName"]=="v1" and r["metadata"]["name"]!=sys.argv[1]][0])' "$first")
corral snapshot create v1 s1 >/dev/null
mkdir -p "$WORK/target"
"$CORRAL" backupstore backup --target "file://$WORK/target" --replica-dir "$WORK/server/node/replicas/$rebuilt" --snapshot s1 --volume v1 \
    --name fromrebuilt >"$WORK/bk.log" 2>&1 || fail "backup from the rebuilt replica failed: $(cat "$WORK/bk.log")"
restores_to "file://$WORK/target?backup=fromrebuilt&volume=v1" "$(sha256sum <"$WORK/v1.expected" | cut -d' ' -f1)"
cfg=$(find "$WORK/target" -name volume.cfg | head -1)
python3 - "$cfg" "$SUM" <<'PY' || fail "volume.cfg does not name the backing image: $(cat "$cfg")"
import json, sys
config = json.load(open(sys.argv[1]))
# Longhorn writes these with Go's `,string`: a JSON string inside the string.
assert json.loads(config["BackingImageName"]) == "base" and json.loads(config["BackingImageChecksum"]) == sys.argv[2], config
PY
qemu-img compare -f raw -F raw "$WORK/v1.expected" "${URI[v1]}" >/dev/null || fail "v1 changed during its rebuild"

# A clone of base, and an image exported from v1's snapshot s1 (its content: the image under v1's
# writes), each checked by SHA-512.
corral backing-image create base-clone --clone-from base --timeout 60 >"$WORK/clone.log" 2>&1 || fail "the clone did not become ready: $(cat "$WORK/clone.log"); $(copy_message base-clone)"
[ "$(image_field base-clone status.checksum)" = "$SUM" ] || fail "the clone's checksum is not base's"
corral backing-image create from-v1 --from-volume v1 --snapshot s1 --timeout 60 >"$WORK/export.log" 2>&1 || fail "the export did not become ready: $(cat "$WORK/export.log"); $(copy_message from-v1)"
[ "$(image_field from-v1 status.checksum)" = "$(sha512sum <"$WORK/v1.expected" | cut -d' ' -f1)" ] || fail "the exported image is not v1's snapshot s1"
corral volume create v5 --backing-image from-v1 --replicas 1 >/dev/null
uri5=$(corral volume attach v5 --timeout 60) || fail "attach v5: $uri5"
qemu-img compare -f raw -F raw "$WORK/v1.expected" "$uri5" >/dev/null || fail "a volume on the exported image does not read v1's snapshot"
# A backup of a volume on base restores only on base: another image would show through its holes.
code=$(curl -s -o "$WORK/wrong.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "{\"name\": \"wrongbase\", \"fromBackup\": \"file://$WORK/target?backup=fromrebuilt&volume=v1\", \"backingImage\": \"from-v1\"}" "$CORRAL_API/v1/volumes")
{ [ "$code" = 422 ] && grep -q "restore it on that image" "$WORK/wrong.json"; } || fail "a backup restored on another image answered $code: $(cat "$WORK/wrong.json")"

# Backing-image backups in Longhorn's layout: Corral's passes a checker of that layout, a backup
# that finds its work done completes, and one written by an independent writer restores, both with
# the CLI and as a backing image made from it, which a volume then reads.
BIT="$WORK/bitarget"
mkdir -p "$BIT"
url=$("$CORRAL" backupstore backing-image backup --target "file://$BIT" --file "$IMAGE" --compression gzip base 2>"$WORK/bib.log") \
    || fail "backing-image backup failed: $(cat "$WORK/bib.log")"
[ "$url" = "file://$BIT?backingImage=base" ] || fail "the backup's URL is $url"
python3 "$ROOT/scripts/interop/longhorn_store.py" check-bi "$BIT" >"$WORK/check-bi.log" || fail "Corral's backing-image backup is not in Longhorn's layout: $(cat "$WORK/check-bi.log")"
"$CORRAL" backupstore backing-image backup --target "file://$BIT" --file "$IMAGE" base >/dev/null 2>&1 || fail "a backup that finds its work done did not complete"
{ head -c 3M /dev/urandom; head -c 2M /dev/zero; head -c 1500000 /dev/urandom; } >"$WORK/lh.raw"
python3 "$ROOT/scripts/interop/longhorn_store.py" write-bi "$BIT" lhimg gzip "$WORK/lh.raw"
LHSUM=$(sha512sum <"$WORK/lh.raw" | cut -d' ' -f1)
"$CORRAL" backupstore backing-image restore "file://$BIT?backingImage=lhimg" --to "$WORK/lh.restored" 2>/dev/null || fail "the Longhorn-written backup did not restore"
cmp -s "$WORK/lh.raw" "$WORK/lh.restored" || fail "the Longhorn-written backup restored other bytes"
corral backing-image create fromlh --from-backup "file://$BIT?backingImage=lhimg" --checksum "$LHSUM" --timeout 60 >"$WORK/fromlh.log" 2>&1 \
    || fail "a backing image restored from a Longhorn-written backup did not become ready: $(cat "$WORK/fromlh.log"); $(copy_message fromlh)"
corral volume create v4 --backing-image fromlh --replicas 1 --size 8Mi >/dev/null
uri4=$(corral volume attach v4 --timeout 60) || fail "attach v4: $uri4"
# The volume is larger than the image: qemu-img compare reads the rest of it against zeros.
qemu-img compare -f raw -F raw "$WORK/lh.raw" "$uri4" >/dev/null || fail "v4 does not read the restored image's bytes"
corral backing-image create base2 --from-backup "$url" --timeout 60 >/dev/null 2>&1 || fail "base did not restore from its own backup: $(copy_message base2)"
[ "$(image_field base2 status.checksum)" = "$SUM" ] || fail "base2's checksum is not base's"
"$CORRAL" backupstore backing-image rm "file://$BIT?backingImage=lhimg" >/dev/null || fail "deleting the lhimg backup failed"
"$CORRAL" backupstore backing-image restore "$url" --to "$WORK/base.restored" 2>/dev/null && cmp -s "$IMAGE" "$WORK/base.restored" \
    || fail "deleting one image's backup damaged another's"

# An image that volumes use cannot be deleted.
code=$(curl -s -o "$WORK/del.json" -w '%{http_code}' -X DELETE "$CORRAL_API/v1/backingimages/base")
{ [ "$code" = 409 ] && grep -q "v1, v2, v3" "$WORK/del.json"; } || fail "deleting a used image answered $code: $(cat "$WORK/del.json")"

# Broken transfers end in a checked copy: resumed with a range, or restarted.
corral backing-image create cut --url "$URL/cut/image.raw" --checksum "$SUM" --timeout 60 >/dev/null 2>&1 || fail "a cut transfer did not end ready: $(copy_message cut)"
grep -q "GET /cut/image.raw bytes=" "$WORK/http/requests.log" || fail "the cut transfer was not resumed with a range request"
corral backing-image create norange --url "$URL/norange/image.raw" --timeout 60 >/dev/null 2>&1 || fail "a transfer without ranges did not end ready: $(copy_message norange)"
[ "$(image_field norange status.checksum)" = "$SUM" ] || fail "an image created without a checksum took another one than its bytes'"

# Bad sources fail with what to do, and no volume can use them.
expect_failed() {  # NAME URL CHECKSUM TEXT
    corral backing-image create "$1" --url "$2" ${3:+--checksum "$3"} --timeout 120 >"$WORK/$1.log" 2>&1 && fail "backing image $1 became ready"
    wait_for 60 "$1's copy to fail" bash -c "[ \"\$(curl -sf $CORRAL_API/v1/backingimages/$1 | python3 -c 'import json,sys; print(\",\".join(v[\"state\"] for v in json.load(sys.stdin)[\"status\"][\"copies\"].values()))')\" = failed ]"
    copy_message "$1" >"$WORK/$1.message"
    grep -q "$4" "$WORK/$1.message" || fail "$1's copy failed without saying \"$4\": $(copy_message "$1")"
    code=$(curl -s -o "$WORK/vol.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"name\": \"on-$1\", \"backingImage\": \"$1\"}" "$CORRAL_API/v1/volumes")
    [ "$code" = 409 ] || fail "a volume on failed image $1 answered $code: $(cat "$WORK/vol.json")"
    corral backing-image rm "$1" >/dev/null || fail "failed image $1 could not be deleted"
}
# HTTPS: a server whose certificate the test CA signed serves the image; one it did not is refused.
corral backing-image create tls --url "https://127.0.0.1:$((HTTP_PORT + 1))/img/image.raw" --checksum "$SUM" --timeout 60 >"$WORK/tls.log" 2>&1 \
    || fail "an image over HTTPS (test CA) did not become ready: $(cat "$WORK/tls.log"); $(copy_message tls)"
expect_failed untrusted "https://127.0.0.1:$((HTTP_PORT + 2))/img/image.raw" "" "[Cc]ertificate\|[Hh]andshake\|TLS\|SSL"
expect_failed missing "$URL/img/nothing.raw" "" "answered 404"
expect_failed wrongsum "$URL/img/image.raw" "$(printf '%0128d' 0)" "not 0000"
expect_failed stalled "$URL/stall/image.raw" "" "broke off 5 times"
pass
