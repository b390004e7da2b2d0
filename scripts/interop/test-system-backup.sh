#!/usr/bin/env bash
# Issue 21 on `corral server`: system backup and restore that never get stuck (incident 2).
# - Acceptance 1: 3 volumes (one detached, one on a backing image) and 2 backing images; 20
#   system backups in a row while the target is listed
#   every second; the manager holds each phase (CORRAL_TEST_SYSTEM_BACKUP_PHASE_HOLD) and a forced
#   sync lands inside each; every one reaches Ready, and no record in flight is ever gone: each
#   has volume backups (`always`) and base's image backup (removed after each) running, held
#   InProgress a second before they write anything (CORRAL_TEST_BACKUP_START_HOLD: the target
#   does not list them yet, the state Longhorn's sync deleted), and the syncs must meet them.
# - Acceptance 2: the cluster is lost (its data directory moved away); a new one on the same
#   target finds the system backups (Syncing, then Ready at 100%) and a restore recreates the
#   settings, the recurring job, both backing images (from their backups, checked by SHA-512)
#   and every volume with the data it held (SHA-256), the one on an image on it. A backing-image
#   backup asked for again over the store that holds it completes at 100%.
# - Acceptance 4 (part): a Longhorn system backup on the same target is listed as foreign, its
#   restore is refused, and deleting its record leaves its files.
# - Acceptance 6 (part): a zip that does not match its checksum, and one holding an unknown kind,
#   end the restore in Error saying why, with nothing restored.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img curl python3
export CORRAL_TEST_SYSTEM_BACKUP_PHASE_HOLD=2
# Backups wait a second, InProgress, before writing: the forced syncs meet them absent from the target.
export CORRAL_TEST_BACKUP_START_HOLD=1
start_server
TARGET="$WORK/target"
mkdir -p "$TARGET"
corral backup-target set default "file://$TARGET" --poll-interval 1 >/dev/null
corral setting set backup-compression-method gzip >/dev/null
corral recurring-job create nightly --task backup --cron "0 3 * * *" --retain 3 >/dev/null

# Two backing images, served over HTTP; v1 starts from one of them.
mkdir -p "$WORK/http"
{ head -c 3M /dev/urandom; head -c 2M /dev/zero; head -c 3M /dev/urandom; } >"$WORK/http/base.raw"
head -c 1M /dev/urandom >"$WORK/http/tools.raw"
declare -A IMAGE_SUM
HTTP_PORT=$((BASE_PORT + 70))
python3 "$ROOT/scripts/interop/image_server.py" "$WORK/http" "$HTTP_PORT" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the image server" port_open "$HTTP_PORT"
for image in base tools; do
    IMAGE_SUM[$image]=$(sha512sum <"$WORK/http/$image.raw" | cut -d' ' -f1)
    corral backing-image create "$image" --url "http://127.0.0.1:$HTTP_PORT/img/$image.raw" --checksum "${IMAGE_SUM[$image]}" --timeout 60 >/dev/null 2>&1 \
        || fail "backing image $image did not become ready"
done

declare -A SUM
for v in v1 v2 v3; do
    if [ "$v" = v1 ]; then corral volume create v1 --size 8Mi --replicas 1 --backing-image base >/dev/null
    else corral volume create "$v" --size 8Mi --replicas 1 >/dev/null; fi
    uri=$(corral volume attach "$v") || fail "attach $v: $uri"
    head -c $([ "$v" = v1 ] && echo 2M || echo 6M) /dev/urandom >"$WORK/$v.bin"   # v1 keeps most of its image
    qemu-img convert -n -f raw -O raw "$WORK/$v.bin" "$uri" || fail "cannot write $v"
    qemu-img convert -f raw -O raw "$uri" "$WORK/$v.img" || fail "cannot read $v"
    SUM[$v]=$(sha256sum <"$WORK/$v.img" | cut -d' ' -f1)
done
corral volume detach v3 >/dev/null   # backed up while detached: attached for it with a ticket

sb_field() { curl -sf "$CORRAL_API/v1/systembackups/$1" | json_field "$2"; }

# plant_system_backup VERSION NAME PATH=TEXT...: a system backup written into the target by another
# writer (Longhorn's layout: the zip, then its config with the zip's SHA-256).
plant_system_backup() {
    python3 - "$TARGET" "$@" <<'PY'
import hashlib, io, json, os, sys, zipfile
target, version, name, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
directory = os.path.join(target, "backupstore/system-backups", version, name)
os.makedirs(directory)
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as archive:
    for entry in files:
        path, text = entry.split("=", 1)
        archive.writestr(path, text + "\n")
open(os.path.join(directory, "system-backup.zip"), "wb").write(buffer.getvalue())
longhorn = not version.startswith("corral-")
cfg = {"Name": name, "LonghornVersion": version, "LonghornGitCommit": "abc" if longhorn else "", "BackupTargetURL": "",
       "ManagerImage": "longhornio/longhorn-manager:" + version if longhorn else "", "EngineImage": "longhornio/longhorn-engine:" + version if longhorn else "",
       "CreatedAt": "2025-06-01T10:20:30.123456789Z", "Checksum": hashlib.sha256(buffer.getvalue()).hexdigest()}
open(os.path.join(directory, "system-backup.cfg"), "w").write(json.dumps(cfg, separators=(",", ":")))
PY
}

# in_flight: the volume-backup and backing-image-backup records whose work runs, as KIND/NAME.
# Ends with the line `listed` only when both listings were read (a failure inside `$(...)` cannot
# end the test itself).
in_flight() {
    for kind in backups backupbackingimages; do
        curl -sf "$CORRAL_API/v1/$kind" | python3 -c 'import json,sys
for r in json.load(sys.stdin)["items"]:
    if r["status"]["state"] in ("Pending", "InProgress"): print(sys.argv[1] + "/" + r["metadata"]["name"])' "$kind" || return 1
    done
    echo listed
}

# follow SB: polls SB until Ready; at each new phase a forced sync must end while SB is still in
# it, SB must never be gone, and no record whose work ran when the sync began may be gone after
# it. Prints the phases seen, and `backup-in-flight` / `image-backup-in-flight` when a sync met
# such records.
follow() {
    local sb=$1 state="" seen="" deadline=$((SECONDS + 120))
    while [ $SECONDS -lt $deadline ]; do
        state=$(sb_field "$sb" status.state) || fail "$sb is gone while it was ${state:-new} (seen: $seen)"
        case "$state" in
            Ready) [ "$(sb_field "$sb" status.progress)" = 100 ] || fail "$sb is Ready below 100%"; echo "$seen Ready"; return 0 ;;
            Error) fail "$sb failed: $(sb_field "$sb" status.error)" ;;
        esac
        if [[ " $seen " != *" $state "* ]]; then
            seen="$seen $state"
            local flying; flying=$(in_flight) && [[ "$flying" == *listed ]] || fail "cannot list the backup records"
            # The phase's records are made as it begins: the sync waits for them (bounded).
            local tries=0
            while [ "$flying" = listed ] && [ $tries -lt 15 ] && [[ "$state" == Creating* ]]; do
                sleep 0.1   # poll cadence, not synchronisation
                flying=$(in_flight) && [[ "$flying" == *listed ]] || fail "cannot list the backup records"
                tries=$((tries + 1))
            done
            flying=${flying%listed}
            corral backup-target sync default --timeout 30 >/dev/null || fail "a forced sync during $state failed"
            local after; after=$(sb_field "$sb" status.state) || fail "the forced sync during $state removed $sb"
            for record in $flying; do
                curl -sf -o /dev/null "$CORRAL_API/v1/$record" || fail "the forced sync during $state removed $record, whose work was running"
            done
            [[ "$flying" == *"backups/"* ]] && seen="$seen backup-in-flight"
            [[ "$flying" == *"backupbackingimages/"* ]] && seen="$seen image-backup-in-flight"
            # Uploading may end inside the sync; every other phase is held longer than a sync.
            [ "$after" = "$state" ] || [ "$state" = Uploading ] || fail "$sb left $state before the forced sync ended ($after): the sync did not land inside it"
        fi
        sleep 0.1   # poll cadence, not synchronisation
    done
    fail "$sb did not reach Ready in 120 s (last $state; seen: $seen)"
}

# Work runs in every system backup: each volume is backed up anew (`always`), and base's backup
# is removed after each, so the next one makes it again.
met_backups=0; met_images=0
for i in $(seq 1 20); do
    corral system-backup create "sb$i" --volume-backup-policy always --no-wait >/dev/null
    phases=$(follow "sb$i")
    for p in CreatingVolumeBackups CreatingBackingImageBackups Generating Uploading; do
        [[ "$phases" == *"$p"* ]] || fail "sb$i was never seen $p (seen:$phases)"
    done
    [[ "$phases" == *" backup-in-flight"* ]] && met_backups=$((met_backups + 1))
    [[ "$phases" == *image-backup-in-flight* ]] && met_images=$((met_images + 1))
    if [ "$i" -lt 20 ]; then
        corral backing-image backup-rm base >/dev/null || fail "removing base's backup after sb$i failed"
        wait_for 30 "base's backup removed after sb$i" bash -c "! curl -sf -o /dev/null $CORRAL_API/v1/backupbackingimages/base"
    fi
done
# Forced syncs met running work in (nearly) every system backup: the backups wait a second before
# writing (CORRAL_TEST_BACKUP_START_HOLD) and each sync waits for the phase's records.
[ "$met_backups" -ge 15 ] && [ "$met_images" -ge 15 ] \
    || fail "the forced syncs met running volume backups in $met_backups and image backups in $met_images of 20 system backups; the test does not test what it says"
log "20 system backups reached Ready, a forced sync inside each phase, none removed in flight; syncs met running volume backups in $met_backups, image backups in $met_images"
[ "$(sb_field sb1 status.volumeBackups | python3 -c 'import ast,sys; print(sorted(ast.literal_eval(sys.stdin.read())))')" = "['v1', 'v2', 'v3']" ] \
    || fail "sb1 does not name a backup for each volume"
[ "$(sb_field sb1 status.backingImageBackups | python3 -c 'import ast,sys; print(sorted(ast.literal_eval(sys.stdin.read())))')" = "['base', 'tools']" ] \
    || fail "sb1 does not name a backup for each backing image: $(sb_field sb1 status.backingImageBackups)"
python3 "$ROOT/scripts/interop/longhorn_store.py" check-bi "$TARGET" >"$WORK/check-bi.log" || fail "the backing-image backups are not in Longhorn's layout: $(cat "$WORK/check-bi.log")"
[ "$(sb_field sb20 status.version)" = "corral-$(sb_field sb1 status.version | sed 's/^corral-//')" ] || fail "no corral- version"
cfg="$TARGET/backupstore/system-backups/$(sb_field sb20 status.version)/sb20/system-backup.cfg"
python3 - "$cfg" "$(sb_field sb20 status.checksum)" "$TARGET/backupstore/system-backups/$(sb_field sb20 status.version)/sb20/system-backup.zip" <<'PY' || fail "sb20's config is not Longhorn's"
import hashlib, json, sys
text = open(sys.argv[1]).read()
keys = list(json.loads(text).keys())
assert keys == ["Name", "LonghornVersion", "LonghornGitCommit", "BackupTargetURL", "ManagerImage", "EngineImage", "CreatedAt", "Checksum"], keys
cfg = json.loads(text)
assert cfg["Checksum"] == sys.argv[2] == hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest(), cfg
PY

# --- a recurring system-backup job: retention over ended ones only --------------------------
corral recurring-job create sysjob --task system-backup --cron "@every 5s" --retain 2 --param volume-backup-policy=disabled >/dev/null
# retention_held: sysjob fired 5 times or more, some of its system backups were deleted, 2 ended
# ones are kept, and they are its newest ended ones (Longhorn's retention deleted the newest, #13209).
retention_held() {
    local fired
    fired=$(corral recurring-job get sysjob -o json | json_field status.executionCount)
    curl -sf "$CORRAL_API/v1/systembackups" | python3 -c 'import json, sys
fired = int(sys.argv[1])
own = [b for b in json.load(sys.stdin)["items"] if (b["spec"].get("labels") or {}).get("recurring-job.corral.io/system-backup") == "sysjob"]
ended = sorted((b for b in own if b["status"]["state"] in ("Ready", "Error") and not b["metadata"].get("deletionRequestedAt")), key=lambda b: b["metadata"]["createdAt"])
newest = sorted((b for b in own if b["status"]["state"] in ("Ready", "Error")), key=lambda b: b["metadata"]["createdAt"])[-2:]
sys.exit(0 if fired >= 5 and len(own) < fired and len(ended) == 2 and ended == newest else 1)' "$fired"
}
wait_for 120 "sysjob's retention to keep its 2 newest ended system backups" retention_held
corral recurring-job rm sysjob >/dev/null
log "a recurring system-backup job made a system backup each time it fired; its retention kept the 2 newest ended ones"

# --- a Longhorn system backup on the same target ---------------------------------------------
plant_system_backup v1.9.0 longhorn-daily "longhorn-daily/metadata.yaml=longhornVersion: v1.9.0"
wait_for 30 "the Longhorn system backup to be listed" bash -c "[ \"\$(curl -sf $CORRAL_API/v1/systembackups/longhorn-daily | python3 -c 'import json,sys; s=json.load(sys.stdin)[\"status\"]; print(s[\"state\"], s.get(\"foreign\"))')\" = 'Ready True' ]"
code=$(curl -s -o "$WORK/refusal.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"name":"r-foreign","systemBackup":"longhorn-daily"}' "$CORRAL_API/v1/systemrestores")
[ "$code" = 409 ] && grep -q "another system" "$WORK/refusal.json" || fail "restoring a foreign system backup got $code: $(cat "$WORK/refusal.json")"
code=$(curl -s -o "$WORK/rm-foreign.json" -w '%{http_code}' -X DELETE "$CORRAL_API/v1/systembackups/longhorn-daily")
[ "$code" = 409 ] && grep -q "never deletes another system" "$WORK/rm-foreign.json" || fail "deleting a foreign system backup got $code: $(cat "$WORK/rm-foreign.json")"
[ -f "$TARGET/backupstore/system-backups/v1.9.0/longhorn-daily/system-backup.zip" ] || fail "a foreign system backup's files are gone"
log "a Longhorn system backup is listed as foreign, neither restored nor deleted, and its files stay"

# --- acceptance 2: the cluster is lost; a new one restores it ---------------------------------
kill_wait "$SERVER_PID"
mv "$WORK/server" "$WORK/lost-server"
start_server
corral backup-target set default "file://$TARGET" --poll-interval 1 >/dev/null
wait_for 60 "sb20 found on the target and Ready" bash -c "[ \"\$(curl -sf $CORRAL_API/v1/systembackups/sb20 | python3 -c 'import json,sys; s=json.load(sys.stdin)[\"status\"]; print(s[\"state\"], s[\"progress\"])')\" = 'Ready 100' ]"
corral system-restore create r1 --system-backup sb20 --timeout 300 >"$WORK/restore.out" 2>&1 || fail "the restore failed: $(cat "$WORK/restore.out")"
for v in v1 v2 v3; do
    grep -qE "volumes +$v +created" "$WORK/restore.out" || fail "the restore did not create $v: $(cat "$WORK/restore.out")"
done
grep -qE "recurringjobs +nightly +created" "$WORK/restore.out" || fail "the restore did not create the job: $(cat "$WORK/restore.out")"
for image in base tools; do
    grep -qE "backingimages +$image +created" "$WORK/restore.out" || fail "the restore did not create backing image $image: $(cat "$WORK/restore.out")"
    image_ready() { [ "$(curl -sf "$CORRAL_API/v1/backingimages/$1" | python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; print(s["checksum"], any(c["state"] == "ready" for c in s["copies"].values()))')" = "$2 True" ]; }
    wait_for 60 "backing image $image restored with its SHA-512" image_ready "$image" "${IMAGE_SUM[$image]}"
done
[ "$(volume_field v1 spec.backingImage)" = base ] || fail "restored v1 is not on its backing image"
[ "$(curl -sf "$CORRAL_API/v1/settings/backup-compression-method" | json_field value)" = gzip ] || fail "the setting was not restored"
restored() { [ "$(volume_field "$1" status.lastRestoredBackup)" = "$(volume_field "$1" spec.fromBackup)" ]; }
for v in v1 v2 v3; do
    wait_for 120 "$v restored" restored "$v"
    uri=$(corral volume attach "$v") || fail "attach restored $v: $uri"
    qemu-img convert -f raw -O raw "$uri" "$WORK/$v-restored.img" || fail "cannot read restored $v"
    [ "$(sha256sum <"$WORK/$v-restored.img" | cut -d' ' -f1)" = "${SUM[$v]}" ] || fail "restored $v does not hold the data it held at backup time"
done
log "a new cluster on the same target restored the settings, the job, both backing images and every volume's data (SHA-256)"

# A backing-image backup asked for again after its upload finished (here: by a new cluster, over the
# store that holds it, whose sync found it) completes at 100%. Longhorn's exact race, the record
# removed and made again on the node making it, is BackingImageUploadTests'
# aBackupMadeAgainAfterItsUploadFinishedCompletesAt100 (CorralNodeTests).
corral backing-image backup base --timeout 60 >"$WORK/again.out" 2>&1 || fail "a backup record made again did not complete: $(cat "$WORK/again.out")"
[ "$(curl -sf "$CORRAL_API/v1/backupbackingimages/base" | python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; print(s["state"], s["progress"])')" = "Completed 100" ] \
    || fail "the backup record made again is not Completed at 100%"

# --- acceptance 6: bad zips end in Error, nothing restored ------------------------------------
version=$(sb_field sb19 status.version)
printf 'x' >>"$TARGET/backupstore/system-backups/$version/sb19/system-backup.zip"
corral system-restore create r-damaged --system-backup sb19 --timeout 60 >"$WORK/damaged.out" 2>&1 && fail "a damaged zip restored"
grep -q "SHA-256" "$WORK/damaged.out" || fail "the damaged zip's restore does not name the checksums: $(cat "$WORK/damaged.out")"
plant_system_backup "$version" odd "odd/metadata.yaml=$(printf 'corralVersion: 0.23.0\nsystemBackup: odd\ncreatedAt: 2026-12-07T09:00:00Z\nclusterID: c')" \
    "odd/yamls/corral/widgets.yaml=[]"
sb_ready() { [ "$(sb_field "$1" status.state 2>/dev/null)" = Ready ]; }
wait_for 30 "odd to be listed Ready" sb_ready odd
volumes_before=$(corral volume ls -o json | json_field items | python3 -c 'import ast,sys; print(len(ast.literal_eval(sys.stdin.read())))')
corral system-restore create r-odd --system-backup odd --timeout 60 >"$WORK/odd.out" 2>&1 && fail "a zip with an unknown kind restored"
grep -q "widgets.yaml" "$WORK/odd.out" || fail "the restore does not name the unknown file: $(cat "$WORK/odd.out")"
[ "$(corral system-restore get r-odd -o json | json_field status.items)" = "[]" ] || fail "r-odd restored something"
log "a damaged zip and one with an unknown kind end the restore in Error, saying why, restoring nothing ($volumes_before volumes)"
pass
