#!/usr/bin/env bash
# Issue 21 on `corral server`: backing images uploaded from a file, and downloaded.
# - `corral backing-image create --file` streams an ext4 image (with files) through the manager to
#   the node (progress lines, not a terminal), checked against --checksum; a volume on it reads
#   its bytes (`qemu-img compare`); `corral backing-image download` saves the same bytes.
# - Acceptance 6: an upload cut off half way (a client that sends half the announced bytes and
#   hangs up) ends in a failed copy whose message says what to do; nothing of it is kept on disk; no
#   volume can use the image; uploading again makes it ready. A file with another SHA-512 than the
#   image's fails naming both sums. Uploads into an image from another source, or into one that is
#   ready, are refused (409).
# - An uploaded image whose copy is lost with no backup is failed, saying so; one with a backup
#   gets its copy back from the backup.
source "$(dirname "$0")/lib.sh"
setup qemu-img curl python3 mkfs.ext4 sha512sum
start_server
corral setting set replica-soft-anti-affinity true >/dev/null

mkdir -p "$WORK/files/etc"
for i in $(seq 1 12); do head -c $((96 * 1024 * i)) /dev/urandom >"$WORK/files/file$i"; done
echo "corral uploaded image" >"$WORK/files/etc/motd"
IMAGE="$WORK/up.raw"
mkfs.ext4 -q -F -d "$WORK/files" "$IMAGE" 24M || fail "mkfs.ext4 -d failed"
SUM=$(sha512sum <"$IMAGE" | cut -d' ' -f1)
SIZE=$(stat -c %s "$IMAGE")
SHELF="$WORK/server/node/replicas/.backing-images"

image_field() { curl -sf "$CORRAL_API/v1/backingimages/$1" | json_field "$2"; }
copy_state() { curl -sf "$CORRAL_API/v1/backingimages/$1" | python3 -c 'import json,sys
c=json.load(sys.stdin)["status"]["copies"]; print(",".join(sorted(v["state"] for v in c.values())))'; }
copies_are() { [ "$(copy_state "$1")" = "$2" ]; }
copy_message() { curl -sf "$CORRAL_API/v1/backingimages/$1" | python3 -c 'import json,sys
c=json.load(sys.stdin)["status"]["copies"]; print(" | ".join(v["message"] for v in c.values()))'; }
create_upload_image() {
    curl -sf -X POST -H 'Content-Type: application/json' -d "{\"name\": \"$1\", \"sourceType\": \"upload\"${2:+, \"checksum\": \"$2\"}}" \
        "$CORRAL_API/v1/backingimages" >/dev/null || fail "creating upload image $1 failed"
}

# Upload with the CLI: progress as plain lines, the copy checked and ready, a volume reads it.
corral backing-image create up --file "$IMAGE" --checksum "$SUM" --timeout 120 >"$WORK/create.log" 2>&1 \
    || fail "the upload did not make a ready image: $(cat "$WORK/create.log"); $(curl -sf "$CORRAL_API/v1/backingimages/up")"
grep -q "uploading" "$WORK/create.log" || fail "the upload showed no progress: $(cat "$WORK/create.log")"
[ "$(image_field up status.checksum)" = "$SUM" ] || fail "up's checksum is not the file's"
[ "$(image_field up status.size)" = "$SIZE" ] || fail "up's size is not the file's $SIZE"
wait_for 10 "up's copy reported ready by the node" copies_are up ready
corral volume create vu --backing-image up --replicas 1 >/dev/null
uri=$(corral volume attach vu --timeout 60) || fail "attach vu: $uri"
qemu-img compare -f raw -F raw "$IMAGE" "$uri" >/dev/null || fail "a volume on the uploaded image does not read its bytes"
corral backing-image download up -o "$WORK/down.raw" >"$WORK/download.log" 2>&1 || fail "download failed: $(cat "$WORK/download.log")"
cmp -s "$IMAGE" "$WORK/down.raw" || fail "the downloaded image differs from the uploaded file"

# Refusals: an image that is ready takes no upload; nor does one from another source.
code=$(curl -s -o "$WORK/again.json" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$IMAGE" "$CORRAL_API/v1/backingimages/up/upload")
{ [ "$code" = 409 ] && grep -q "already has a ready copy" "$WORK/again.json"; } || fail "a second upload answered $code: $(cat "$WORK/again.json")"
curl -sf -X POST -H 'Content-Type: application/json' -d '{"name": "dl", "sourceType": "download", "sourceParameters": {"url": "http://127.0.0.1:9/x"}}' \
    "$CORRAL_API/v1/backingimages" >/dev/null
code=$(curl -s -o "$WORK/dl.json" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$IMAGE" "$CORRAL_API/v1/backingimages/dl/upload")
[ "$code" = 409 ] || fail "an upload into a download image answered $code: $(cat "$WORK/dl.json")"
corral backing-image rm dl >/dev/null

# Acceptance 6: an upload cut off half way.
create_upload_image cut
python3 - "$API_PORT" "$IMAGE" <<'PY' || fail "the cut-off client could not send"
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PUT /v1/backingimages/cut/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Corral-Client: 1\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(data)).encode())
s.sendall(data[: len(data) // 2])
s.close()
PY
wait_for 30 "the cut-off upload's copy failed" copies_are cut failed
message=$(copy_message cut)
case "$message" in *"cut off at"*"corral backing-image upload cut --file"*) ;; *) fail "the cut-off upload's message does not say what happened and what to do: $message" ;; esac
[ -z "$(ls -A "$SHELF/cut" 2>/dev/null)" ] || fail "the cut-off upload left files: $(ls -la "$SHELF/cut")"
code=$(curl -s -o "$WORK/vcut.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"name": "vcut", "size": 25165824, "backingImage": "cut"}' "$CORRAL_API/v1/volumes")
[ "$code" = 409 ] || fail "a volume on the image whose upload was cut off answered $code: $(cat "$WORK/vcut.json")"
corral backing-image upload cut --file "$IMAGE" >"$WORK/reupload.log" 2>&1 || fail "uploading again failed: $(cat "$WORK/reupload.log")"
[ "$(image_field cut status.checksum)" = "$SUM" ] || fail "the second upload did not give the file's checksum"
[ "$(copy_state cut)" = ready ] || fail "after the second upload the copies are $(copy_state cut)"

# A file with another SHA-512 than the image's: failed, naming both sums.
OTHER=$(printf '%0128d' 0 | tr 0 a)
create_upload_image wrongsum "$OTHER"
corral backing-image upload wrongsum --file "$IMAGE" >"$WORK/wrong.log" 2>&1 && fail "an upload with another checksum succeeded"
grep -q "$SUM" "$WORK/wrong.log" && grep -q "$OTHER" "$WORK/wrong.log" || fail "the refusal does not name both sums: $(cat "$WORK/wrong.log")"
wait_for 10 "wrongsum's copy failed" copies_are wrongsum failed
[ ! -e "$SHELF/wrongsum/backing" ] && [ ! -e "$SHELF/wrongsum/backing.partial" ] || fail "the wrong upload left a copy: $(ls -la "$SHELF/wrongsum")"

# Copies lost: with no backup the image is failed, saying so; with one, its copy comes back.
mkdir -p "$WORK/target"
corral backup-target set default "file://$WORK/target" >/dev/null
corral backing-image backup cut --timeout 120 >"$WORK/bbi.log" 2>&1 || fail "backing up cut failed: $(cat "$WORK/bbi.log")"
kill -INT "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
rm -rf "$SHELF/cut" "$SHELF/up"
# vu's replica stays on up's missing copy; it is not what this part tests.
start_server
wait_for 60 "cut's copy restored from its backup" copies_are cut ready
cmp -s "$IMAGE" "$SHELF/cut/backing" || fail "cut's restored copy is not the file"
wait_for 30 "up failed for want of a copy or a backup" bash -c "curl -sf $CORRAL_API/v1/backingimages/up | grep -q 'failed: no ready copy of uploaded image up is left'"
case "$(copy_message up)" in *"no backup"*"corral backing-image upload up --file"*) ;; *) fail "up's copy message: $(copy_message up)" ;; esac
pass "backing images: upload with progress, download, a cut-off upload failed and made again, a wrong checksum, a lost upload failed or restored from its backup"
