#!/usr/bin/env bash
# Issue 20 on `corral server`: recurring jobs through the API and the CLI.
# - Bad definitions get 422 with what to fix (acceptance 6).
# - The manager down for 10 intervals: on its return each job fires once per volume, then on
#   schedule (acceptance 2).
# - 10 volumes back up at once under cluster-concurrent-backup-limit 2: sampled every 100 ms, never
#   more than 2 in progress; all complete; the queued ones said they were waiting (acceptance 5).
# - A detached volume is attached for a run (allow-recurring-job-while-volume-detached) with a
#   ticket, served to no client, and detached after; skipped with why when not allowed.
# - run-now, history, metrics, an Event per failed run; restore-volume-recurring-jobs.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img curl python3
start_server
mkdir -p "$WORK/target"
corral backup-target set default "file://$WORK/target" >/dev/null

# --- acceptance 6: 422 with a message that says what to fix ---------------------------------
refused() {  # BODY SAYING
    local code
    code=$(curl -s -o "$WORK/refusal.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$1" "$CORRAL_API/v1/recurringjobs")
    [ "$code" = 422 ] || fail "$1 got $code, not 422: $(cat "$WORK/refusal.json")"
    grep -q "$2" "$WORK/refusal.json" || fail "$1: the refusal does not say \"$2\": $(cat "$WORK/refusal.json")"
}
refused '{"name":"j","task":"snapshot","cron":"61 * * * *","retain":1}' 'minute'
refused '{"name":"j","task":"snapshot","cron":"0 0 30 2 *","retain":1}' 'never fires'
refused '{"name":"j","task":"snapshot","cron":"@daily","retain":101}' 'recurring-job-max-retention'
refused '{"name":"j","task":"snapshots","cron":"@daily","retain":1}' 'is not a task; use one of snapshot'
refused '{"name":"j","task":"filesystem-trim","cron":"@daily","retain":1}' 'fstrim'
refused "{\"name\":\"$(printf 'j%.0s' $(seq 41))\",\"task\":\"snapshot\",\"cron\":\"@daily\",\"retain\":1}" 'at most 40'
refused '{"name":"j","task":"backup","cron":"@daily","retain":1,"parameters":{"volume-backup-policy":"always"}}' 'parameter volume-backup-policy'
out=$(corral recurring-job create j --task snapshot --cron "*/61 * * * *" 2>&1) && fail "the CLI created a job with a bad cron"
grep -q "cron" <<<"$out" || fail "the CLI's refusal does not name the cron: $out"
[ "$(curl -sf "$CORRAL_API/v1/recurringjobs" | json_field items)" = "[]" ] || fail "a refused job was stored"
log "bad definitions refused with 422 and what to fix"

# --- acceptance 2: the manager down for 10 intervals -------------------------------------------
corral setting set recurring-successful-jobs-history-limit 100 >/dev/null
for v in a1 a2; do
    corral volume create "$v" --size 16Mi --replicas 1 --recurring-job tick >/dev/null
    corral volume attach "$v" >/dev/null
done
corral recurring-job create tick --task snapshot --cron "@every 3s" --retain 2 >/dev/null
# scheduled_times JOB VOLUME: the scheduled times (unix) of JOB's runs on VOLUME, oldest first.
scheduled_times() {
    corral recurring-job history "$1" --volume "$2" -o json | python3 -c '
import json, sys, datetime
print(" ".join(str(int(datetime.datetime.fromisoformat(r["spec"]["scheduledAt"].replace("Z", "+00:00")).timestamp()))
               for r in sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["scheduledAt"])))'
}
runs_of() { [ "$(scheduled_times tick "$1" | wc -w)" -ge "$2" ]; }
wait_for 20 "two runs of tick on a1" runs_of a1 2
kill_wait "$SERVER_PID"
down=$(date +%s)
sleep 30   # the scenario: 10 intervals of 3 s with no manager (not a synchronisation)
back=$(date +%s)   # before the start: the server's first pass may come before start_server returns
start_server
# runs_since VOLUME T N: N runs of tick on VOLUME scheduled after T (a run scheduled in the second
# of the kill ran before it).
runs_since() { [ "$(for t in $(scheduled_times tick "$1"); do [ "$t" -gt "$2" ] && echo "$t"; done | wc -l)" -ge "$3" ]; }
wait_for 40 "three runs of tick on a1 after the return" runs_since a1 "$down" 3
wait_for 10 "three runs of tick on a2 after the return" runs_since a2 "$down" 3
for v in a1 a2; do
    after=$(for t in $(scheduled_times tick "$v"); do [ "$t" -gt "$down" ] && echo "$t"; done)
    python3 - "$back" $after <<'PY' || fail "$v after the manager's return: runs at $after (back at $back)"
import sys
back, times = int(sys.argv[1]), [int(t) for t in sys.argv[2:]]
assert times and times[0] >= back, ("a run scheduled while the manager was down", times)
assert all(b - a >= 3 for a, b in zip(times, times[1:])), ("a burst: runs closer than the interval", times)
PY
done
corral recurring-job rm tick >/dev/null
log "after 10 intervals down, each volume ran once on return, then every 3 s"

# --- acceptance 5: 10 backups at once, at most 2 in progress ----------------------------------
corral setting set cluster-concurrent-backup-limit 2 >/dev/null
for i in $(seq 1 10); do
    corral volume create "c$i" --size 32Mi --replicas 1 >/dev/null
    uri=$(corral volume attach "c$i")
    head -c 32M /dev/urandom >"$WORK/c.img"   # incompressible: each upload takes a while
    qemu-img convert -n -f raw -O raw "$WORK/c.img" "$uri"
done
python3 - "$CORRAL_API" >"$WORK/sampler.out" 2>&1 <<'PY' &
import json, sys, time, urllib.request
api, most, waited, seen_all = sys.argv[1], 0, set(), False
deadline = time.time() + 300
while time.time() < deadline:
    items = [b for b in json.load(urllib.request.urlopen(api + "/v1/backups"))["items"] if b["spec"]["volumeName"].startswith("c")]
    most = max(most, sum(b["status"]["state"] == "InProgress" for b in items))
    waited |= {b["spec"]["volumeName"] for b in items if b["status"]["state"] == "Pending" and "position" in b["status"].get("message", "")}
    if len(items) == 10 and all(b["status"]["state"] == "Completed" for b in items):
        seen_all = True
        break
    if any(b["status"]["state"] == "Error" for b in items): print("a backup failed:", items); sys.exit(1)
    time.sleep(0.1)
print(json.dumps({"most": most, "waited": sorted(waited), "completed": seen_all}))
sys.exit(0 if seen_all and most <= 2 and waited else 1)
PY
SAMPLER=$!
creators=()
for i in $(seq 1 10); do corral backup create "c$i" --no-wait >/dev/null & creators+=($!); done
for pid in "${creators[@]}"; do wait "$pid" || fail "a backup create failed"; done
wait "$SAMPLER" || fail "the cap was not kept, or a backup did not complete: $(cat "$WORK/sampler.out")"
log "10 backups under cluster-concurrent-backup-limit 2: $(cat "$WORK/sampler.out")"
corral setting set cluster-concurrent-backup-limit 5 >/dev/null

# --- a detached volume: skipped with why, then attached by a ticket for its run -----------------
corral volume create d1 --size 16Mi --replicas 1 --recurring-job nightly >/dev/null
wait_for 30 "d1 detached" volume_state_is d1 detached
corral recurring-job create nightly --task snapshot --cron "@daily" --retain 1 >/dev/null
corral recurring-job run-now nightly >/dev/null
skipped() { corral recurring-job history nightly --volume d1 -o json | grep -q "allow-recurring-job-while-volume-detached"; }
wait_for 20 "the run on detached d1 to be skipped with why" skipped
corral setting set allow-recurring-job-while-volume-detached true >/dev/null
sleep 1.1   # run-now asks once per second; the next request must be a new second
corral recurring-job run-now nightly >/dev/null
succeeded_on() { corral recurring-job history "$1" --volume "$2" -o json | grep -q '"Succeeded"'; }
wait_for 60 "nightly to run on d1 through an attachment ticket" succeeded_on nightly d1
[ "$(volume_field d1 spec.nodeID)" = "" ] || fail "the job rewrote d1's spec.nodeID"
wait_for 30 "d1 to detach after the run" volume_state_is d1 detached
uri=$(corral volume attach d1)
corral snapshot ls d1 -o json | grep -q '"RecurringJob" : "nightly"' || fail "d1 has no snapshot of nightly: $(corral snapshot ls d1)"
corral volume detach d1 >/dev/null
log "a detached volume is skipped with why, or attached by a ticket for its run and detached after"

# --- CLI, metrics, restore-volume-recurring-jobs, an Event per failed run -----------------------
corral job ls | grep -q "nightly" || fail "corral job ls does not list nightly: $(corral job ls)"
corral recurring-job get nightly | grep -q "next run:" || fail "recurring-job get shows no next run"
corral recurring-job get nightly -o yaml | grep -q "executionCount" || fail "recurring-job get -o yaml"
# Read whole, then searched: `curl | grep -q` fails under pipefail when grep stops reading first.
curl -sf "$CORRAL_API/metrics" >"$WORK/metrics.txt" || fail "GET /metrics failed"
grep -qE 'corral_recurring_job_runs_total\{job="nightly",outcome="succeeded"\} [1-9]' "$WORK/metrics.txt" \
    || fail "no succeeded runs in the metrics: $(grep recurring "$WORK/metrics.txt")"
grep -q 'corral_recurring_job_next_run_seconds{job="nightly"}' "$WORK/metrics.txt" || fail "no next-run metric: $(grep recurring "$WORK/metrics.txt")"
corral volume create g1 --size 16Mi --replicas 1 --recurring-job-group weekly >/dev/null
corral volume attach g1 >/dev/null
url=$(corral backup create g1 2>/dev/null)
corral setting set restore-volume-recurring-jobs true >/dev/null
corral volume create g1-r --from-backup "$url" --replicas 1 >/dev/null
corral volume get g1-r -o json | grep -q '"recurring-job-group.corral.io/weekly" : "enabled"' \
    || fail "the restored volume did not get the backup's job labels: $(corral volume get g1-r -o json | head -20)"
corral volume label g1-r --recurring-job nightly >/dev/null
corral volume unlabel g1-r --recurring-job-group weekly >/dev/null
labels=$(corral volume get g1-r -o json | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["metadata"]["labels"]))')
[ "$labels" = "['recurring-job.corral.io/nightly']" ] || fail "label/unlabel left $labels"
touch "$WORK/not-a-directory"
corral backup-target set default "file://$WORK/not-a-directory" >/dev/null
corral recurring-job create broken --task backup --cron "@daily" --retain 1 --group default >/dev/null
corral volume create b1 --size 16Mi --replicas 1 >/dev/null
corral volume attach b1 >/dev/null
corral recurring-job run-now broken >/dev/null
failed_event() { grep -q "RecurringJobFailed" <<<"$(curl -sf "$CORRAL_API/v1/events")"; }
wait_for 60 "an Event for the failed run of broken" failed_event
failed_run() { corral recurring-job history broken --volume b1 | grep -q "Failed"; }
wait_for 60 "the failed run of broken on b1 in its history" failed_run
log "CLI (job alias, get, -o yaml, label, unlabel), metrics, restored job labels and an Event per failed run"
pass
