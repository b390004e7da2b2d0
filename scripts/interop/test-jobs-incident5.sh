#!/usr/bin/env bash
# Issue 20, acceptance 1 (incident 5: Longhorn's recurring jobs silently stop after a cluster
# restart). A manager and 3 node agents on loopback, 4 volumes with data, a snapshot job every 10 s
# (retain 2) and a backup job every 20 s (retain 2) to a file target. Every Corral process is
# killed with kill -9 at a random moment (the first time during a backup's upload) and restarted,
# ROUNDS times (5; LONG=1: 10). After each restart both jobs run on every volume within one
# interval plus 10 s, and no run is in progress past its deadline. At the end each volume keeps at
# most 2 snapshots and 2 completed backups of each job, no removed snapshot waits for a purge, and
# every completed backup restores equal (SHA-256) to a state the volume had (each round writes new
# data before the kill), the newest to the last.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img curl python3
ROUNDS=${ROUNDS:-5}
[ "${LONG:-0}" = 1 ] && ROUNDS=10
MANAGER_PORT=$((BASE_PORT + 70))
export CORRAL_API="http://127.0.0.1:$MANAGER_PORT"
declare -a NODE_PID
start_all() {
    "$CORRAL" manager --data-dir "$WORK/manager" --listen "127.0.0.1:$MANAGER_PORT" >>"$WORK/manager.log" 2>&1 &
    MANAGER=$!
    PIDS+=($!)
    for i in 1 2 3; do
        local p=$((BASE_PORT + 80 + 10 * i))
        "$CORRAL" node --name "n$i" --manager "$CORRAL_API" --listen 127.0.0.1 --data-dir "$WORK/n$i" \
            --nbd-port "$p" --replica-port $((p + 1)) --control-port $((p + 2)) >>"$WORK/n$i.log" 2>&1 &
        NODE_PID[$i]=$!
        PIDS+=($!)
    done
}
start_all
wait_for 30 "the manager" port_open "$MANAGER_PORT"
allow_full_disks
for i in 1 2 3; do wait_for 30 "n$i ready" node_ready "n$i"; done
mkdir -p "$WORK/target"
corral backup-target set default "file://$WORK/target" >/dev/null
corral setting set recurring-job-run-deadline 60 >/dev/null
VOLUMES="jv1 jv2 jv3 jv4"
for v in $VOLUMES; do
    i=${v#jv}
    corral volume create "$v" --size 64Mi --replicas 2 >/dev/null
    uri=$(corral volume attach "$v" --node "n$(( (i - 1) % 3 + 1 ))")
    head -c 64M /dev/urandom >"$WORK/$v.img"   # incompressible: the first backup takes a while to upload
    qemu-img convert -n -f raw -O raw "$WORK/$v.img" "$uri"
    sha256sum <"$WORK/$v.img" | cut -d' ' -f1 >"$WORK/$v.states"
    wait_for 60 "$v healthy" volume_is "$v" healthy
done
# write_round R: new data in every volume (a 64 KiB pattern at R MiB), and the state it makes.
write_round() {
    for v in $VOLUMES; do
        local uri; uri=$(volume_field "$v" status.endpoint)
        qemu-io -f raw -c "write -P $((0x20 + $1)) $(($1))M 64k" "$uri" >/dev/null || fail "write to $v in round $1"
        qemu-io -f raw -c "write -P $((0x20 + $1)) $(($1))M 64k" "$WORK/$v.img" >/dev/null
        sha256sum <"$WORK/$v.img" | cut -d' ' -f1 >>"$WORK/$v.states"
    done
}
corral recurring-job create snap --task snapshot --cron "@every 10s" --retain 2 --group default >/dev/null
corral recurring-job create bk --task backup --cron "@every 20s" --retain 2 --group default >/dev/null

# runs_since JOB T: JOB has a run that started at or after unix time T on every volume.
runs_since() {
    corral recurring-job history "$1" -o json | python3 -c '
import json, sys, datetime
since = int(sys.argv[1]); volumes = set(sys.argv[2].split())
seen = {r["spec"]["volume"] for r in json.load(sys.stdin)["items"]
        if r["status"].get("startedAt") and datetime.datetime.fromisoformat(r["status"]["startedAt"].replace("Z", "+00:00")).timestamp() >= since}
sys.exit(0 if volumes <= seen else 1)' "$2" "$VOLUMES"
}
# succeeded_since JOB T: a run of JOB that started at or after T succeeded on every volume.
succeeded_since() {
    corral recurring-job history "$1" -o json | python3 -c '
import json, sys, datetime
since = int(sys.argv[1]); volumes = set(sys.argv[2].split())
seen = {r["spec"]["volume"] for r in json.load(sys.stdin)["items"] if r["status"]["outcome"] == "Succeeded"
        and datetime.datetime.fromisoformat(r["status"]["startedAt"].replace("Z", "+00:00")).timestamp() >= since}
sys.exit(0 if volumes <= seen else 1)' "$2" "$VOLUMES"
}
# none_past_deadline: no run of either job is in progress past its deadline.
none_past_deadline() {
    for job in snap bk; do
        corral recurring-job history "$job" -o json | python3 -c '
import json, sys, datetime, time
late = [r["metadata"]["name"] for r in json.load(sys.stdin)["items"] if r["status"]["outcome"] == "Running"
        and datetime.datetime.fromisoformat(r["spec"]["deadline"].replace("Z", "+00:00")).timestamp() < time.time() - 2]
if late: print("in progress past the deadline:", late); sys.exit(1)' || return 1
    done
}
uploading() {
    corral backup ls -o json | python3 -c '
import json, sys
sys.exit(0 if any(b["status"]["state"] == "InProgress" and 0 < b["status"].get("bytesDone", 0) < b["status"].get("bytesTotal", 0)
                  for b in json.load(sys.stdin)["items"]) else 1)'
}

start=$(date +%s)
wait_for 60 "the snapshot job's first runs" succeeded_since snap "$start"
for round in $(seq 1 "$ROUNDS"); do
    write_round "$round"
    if [ "$round" = 1 ]; then
        wait_for 60 "a backup upload in progress" uploading
    else
        sleep "$((RANDOM % 15)).$((RANDOM % 10))"   # a random moment (chaos, not synchronisation)
    fi
    kill_wait "$MANAGER" "${NODE_PID[@]}"
    log "round $round: every Corral process killed with kill -9"
    start_all
    restarted=$(date +%s)
    wait_for 20 "snap to run on every volume within 10 s + 10 s of the restart (round $round)" runs_since snap "$restarted"
    wait_for 30 "bk to run on every volume within 20 s + 10 s of the restart (round $round)" runs_since bk "$restarted"
    none_past_deadline || fail "a run stayed in progress past its deadline (round $round)"
    log "round $round: both jobs ran on every volume after the restart"
done
last=$(date +%s)
wait_for 90 "snap to succeed on every volume after the last restart" succeeded_since snap "$last"
wait_for 120 "bk to succeed on every volume after the last restart" succeeded_since bk "$last"
none_past_deadline || fail "a run stayed in progress past its deadline"

# Retention, at a moment when no run is in progress (runs take about a second of every 10).
retained() {
    for job in snap bk; do
        grep -q '"Running"' <<<"$(corral recurring-job history "$job" -o json)" && return 1
    done
    for v in $VOLUMES; do
        corral snapshot ls "$v" -o json | python3 -c '
import json, sys
snaps = [s for s in json.load(sys.stdin) if s["name"] != "volume-head"]
removed = [s["name"] for s in snaps if s["removed"]]
for job in ("snap", "bk"):
    own = [s["name"] for s in snaps if not s["removed"] and s["labels"].get("RecurringJob") == job]
    if len(own) > 2: print(sys.argv[1], job, "keeps", own); sys.exit(1)
if removed: print(sys.argv[1], "removed snapshots wait for a purge:", removed); sys.exit(1)' "$v" || return 1
        corral backup ls "$v" -o json | python3 -c '
import json, sys
done = [b["metadata"]["name"] for b in json.load(sys.stdin)["items"] if b["status"]["state"] == "Completed"
        and (b["spec"].get("labels") or {}).get("RecurringJob") == "bk" and not b["metadata"].get("deletionRequestedAt")]
if len(done) > 2: print(sys.argv[1], "keeps backups", done); sys.exit(1)' "$v" || return 1
    done
}
wait_for 60 "each volume to keep at most 2 snapshots and 2 backups of each job, none removed" retained
corral recurring-job rm bk >/dev/null
corral recurring-job rm snap >/dev/null
log "retention held: at most 2 snapshots and 2 completed backups per job and volume, no removed snapshot left"

# Every completed backup restores equal to the volume's data (which the test never changed).
count=0
for v in $VOLUMES; do
    urls=$(corral backup ls "$v" -o json | python3 -c '
import json, sys
done = sorted((b for b in json.load(sys.stdin)["items"] if b["status"]["state"] == "Completed" and not b["metadata"].get("deletionRequestedAt")),
              key=lambda b: b["metadata"]["createdAt"])
print("\n".join(b["status"]["url"] for b in done))')
    newest=$(tail -1 <<<"$urls")
    for url in $urls; do
        rm -f "$WORK/restore.img"
        "$CORRAL" backupstore restore "$url" --to "$WORK/restore.img" 2>"$WORK/restore.log" || fail "restore of $url: $(cat "$WORK/restore.log")"
        sum=$(sha256sum <"$WORK/restore.img" | cut -d' ' -f1)
        grep -qx "$sum" "$WORK/$v.states" || fail "$url restores data $v never held"
        [ "$url" != "$newest" ] || [ "$sum" = "$(tail -1 "$WORK/$v.states")" ] || fail "the newest backup of $v, $url, does not hold its last data"
        count=$((count + 1))
    done
done
[ "$count" -ge 4 ] || fail "only $count completed backups to restore"
log "$count completed backups restore equal (SHA-256) to data their volumes held, the newest to the last"
pass
