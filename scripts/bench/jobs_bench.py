#!/usr/bin/env python3
"""Drives scripts/bench/jobs.sh: COUNT attached volumes in the default group, a snapshot job every
minute (concurrency 10) for MINUTES runs. Measures per run: how late its first volume started, how
long the run took, the manager's CPU per scheduler tick and its resident memory, store writes per
volume run, and the node agent's CPU (its long polls answer only changes to its assignments).
usage: jobs_bench.py API_URL COUNT MINUTES MANAGER_PID NODE_PID"""
import datetime, http.client, json, os, sys, time, urllib.parse

api, count, minutes, manager_pid, node_pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
url = urllib.parse.urlparse(api)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
tick = os.sysconf("SC_CLK_TCK")

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, "/v1/" + path, body=data, headers={"Content-Type": "application/json"} if data else {})
    response = conn.getresponse()
    payload = response.read()
    if response.status >= 300:
        sys.exit(f"{method} {path}: {response.status} {payload[:200]}")
    return json.loads(payload)

def cpu(pid):  # seconds of user + system time
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def rss(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0

def revision():
    return call("GET", "watch?after=0&wait=0")["revision"]

def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

node = call("GET", "nodes")["items"][0]["metadata"]["name"]
for i in range(count):
    call("POST", "volumes", {"name": f"j{i:05d}", "size": "16Mi", "numberOfReplicas": 1})
while sum(v["status"]["state"] == "detached" for v in call("GET", "volumes")["items"]) < count:
    time.sleep(1)
for i in range(count):
    call("POST", f"volumes/j{i:05d}/attach", {"nodeID": node})
while sum(v["status"]["state"] == "attached" for v in call("GET", "volumes")["items"]) < count:
    time.sleep(1)
call("PUT", "settings/recurring-successful-jobs-history-limit", {"value": str(minutes + 2)})

# A quiet minute first: what the manager and the node do with no job.
base = {"m": cpu(manager_pid), "n": cpu(node_pid), "rev": revision(), "t": time.time()}
time.sleep(60)
base = {k: ({"m": cpu(manager_pid), "n": cpu(node_pid), "rev": revision(), "t": time.time()}[k] - v) for k, v in base.items()}

# The job is created just after a whole minute, so its first fire is the next one; measuring starts
# 2 s before it, so the window holds MINUTES whole runs: their writes and CPU, and no part of a run
# it leaves out.
time.sleep(60 - time.time() % 60 + 1)
call("POST", "recurringjobs", {"name": "minutely", "task": "snapshot", "cron": "* * * * *", "retain": 2, "groups": ["default"], "concurrency": 10})
created = time.time()
first_fire = created - created % 60 + 60
time.sleep(max(0, first_fire - 2 - time.time()))
start = {"m": cpu(manager_pid), "n": cpu(node_pid), "rev": revision(), "t": time.time()}
while time.time() < first_fire + 60 * minutes - 2:
    time.sleep(1)
# Let the last run finish.
deadline = time.time() + 300
while time.time() < deadline:
    runs = call("GET", "recurringjobs/minutely/runs")["items"]
    if not any(r["status"]["outcome"] == "Running" for r in runs):
        break
    time.sleep(2)
end = {"m": cpu(manager_pid), "n": cpu(node_pid), "rev": revision(), "t": time.time()}
runs = [r for r in call("GET", "recurringjobs/minutely/runs")["items"] if first_fire - 1 <= when(r["spec"]["scheduledAt"]) < first_fire + 60 * minutes - 1]
by_time = {}
for r in runs:
    by_time.setdefault(r["spec"]["scheduledAt"], []).append(r)
elapsed = end["t"] - start["t"]
rows = []
for scheduled, group in sorted(by_time.items()):
    started = [when(r["status"]["startedAt"]) for r in group if r["status"].get("startedAt")]
    ended = [when(r["status"]["endedAt"]) for r in group if r["status"].get("endedAt")]
    rows.append({"scheduled": scheduled, "volumes": len(group), "late_s": min(started) - when(scheduled),
                 "took_s": (max(ended) if ended else end["t"]) - when(scheduled),
                 "succeeded": sum(r["status"]["outcome"] == "Succeeded" for r in group)})
volume_runs = sum(r["volumes"] for r in rows)
writes = (end["rev"] - start["rev"]) - base["rev"] * elapsed / base["t"]
print(json.dumps({
    "count": count, "minutes": minutes, "runs": rows,
    "late_runs": sum(r["late_s"] > 5 for r in rows),
    "manager_cpu_per_s_ms_extra": 1000 * ((end["m"] - start["m"]) / elapsed - base["m"] / base["t"]),
    "manager_cpu_idle_per_s_ms": 1000 * base["m"] / base["t"],
    "node_cpu_per_s_ms_job": 1000 * (end["n"] - start["n"]) / elapsed, "node_cpu_per_s_ms_idle": 1000 * base["n"] / base["t"],
    "writes_per_volume_run": writes / max(1, volume_runs),
    "rss_peak": rss(manager_pid, "VmHWM"), "rss_end": rss(manager_pid)}))
