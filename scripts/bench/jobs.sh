#!/usr/bin/env bash
# Issue 20, acceptance 7: 1,000 volumes in the default group with a snapshot job every minute,
# concurrency 10, on one manager and one node agent (release build). Records into
# docs/benchmarks.md how late each run starts (goal: none more than 5 s), how long it takes, the
# manager's CPU with the job beyond a quiet minute's (the scheduler's ticks and all the runs' work),
# its resident memory's high-water mark (goal: under 200 MB), the store writes per volume run and
# the node agent's CPU, over MINUTES whole runs.
#   COUNT=1000 MINUTES=3 scripts/bench/jobs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${COUNT:-1000}"
MINUTES="${MINUTES:-3}"
swift build -c release --scratch-path .build-release >/dev/null
CORRAL="$PWD/.build-release/release/corral"
WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/corral-jobs.XXXXXX")"
# kill -9: a node agent stopping 1,000 engines takes minutes, and the results are written by then.
trap 'kill -9 $(jobs -p) 2>/dev/null || true; wait || true; rm -rf "$WORK"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # every attached volume holds replica connections and files
PORT=32700
"$CORRAL" manager --data-dir "$WORK/manager" --listen "127.0.0.1:$PORT" >"$WORK/manager.log" 2>&1 &
MANAGER=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
"$CORRAL" node --name bench --manager "http://127.0.0.1:$PORT" --listen 127.0.0.1 --data-dir "$WORK/node" \
    --nbd-port 32710 --replica-port 32711 --control-port 32712 >"$WORK/node.log" 2>&1 &
NODE=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v1/nodes" | grep -q '"ready" : true' && break; sleep 0.2; done
result=$(python3 scripts/bench/jobs_bench.py "http://127.0.0.1:$PORT" "$COUNT" "$MINUTES" "$MANAGER" "$NODE")
echo "$result"
python3 - "$result" <<'PY'
import json, re, sys, datetime
r = json.loads(sys.argv[1])
mib = lambda b: f"{b / 2**20:.0f} MiB"
runs = "\n".join(f"| {x['scheduled']} | {x['volumes']} | {x['succeeded']} | {x['late_s']:.1f} s | {x['took_s']:.1f} s |" for x in r["runs"])
table = f"""Run {datetime.date.today()}: `COUNT={r['count']} MINUTES={r['minutes']} scripts/bench/jobs.sh` (release build; one manager and
one node agent on this 2-core machine; {r['count']} attached 16 MiB volumes with 1 replica; a snapshot job
`* * * * *`, retain 2, concurrency 10, on the default group).

| run (scheduled) | volumes | succeeded | first volume started after | last volume ended after |
|---|---|---|---|---|
{runs}

| measure | value |
|---|---|
| runs starting more than 5 s late (goal: none) | {r['late_runs']} |
| manager CPU per second with the job, beyond a quiet minute's (all the runs' work, averaged over the window) | {r['manager_cpu_per_s_ms_extra']:.0f} ms (quiet: {r['manager_cpu_idle_per_s_ms']:.0f} ms/s) |
| store writes per volume run (beyond a quiet minute's) | {r['writes_per_volume_run']:.1f} |
| node agent CPU per second: with the job / quiet | {r['node_cpu_per_s_ms_job']:.0f} ms / {r['node_cpu_per_s_ms_idle']:.0f} ms |
| manager resident memory: peak (VmHWM) / end (goal: under 200 MB) | {mib(r['rss_peak'])} / {mib(r['rss_end'])} |
"""
path = "docs/benchmarks.md"
doc = open(path).read()
start, end = "<!-- jobs-bench:start -->", "<!-- jobs-bench:end -->"
block = f"{start}\n{table}{end}"
if start in doc:
    doc = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
else:
    doc += f"""
## Recurring jobs at scale (issue 20)

A volume run's store writes: its JobRun record (created, then ended), its attachment ticket
(added and removed), its volume's Snapshot records (created, updated when removed, removed when
purged) and the job's status (its counters and last runs), also at each pass that starts runs.
None of these wake the node agents' long polls, which answer only changes of the kinds their
assignments are made of (nodes, replicas, engines, backups, targets, secrets).

{block}
"""
open(path, "w").write(doc)
PY
