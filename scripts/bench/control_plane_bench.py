#!/usr/bin/env python3
"""Drives the manager's API for scripts/bench/control-plane.sh: creates, attaches and detaches N
volumes, measures each phase's time to converge and every API call's latency.
usage: control_plane_bench.py API_URL COUNT MANAGER_PID"""
import http.client, json, sys, time, urllib.parse

api, count, manager_pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
url = urllib.parse.urlparse(api)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
latencies = []

def call(method, path, body=None):
    global conn
    start = time.perf_counter()
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, "/v1/" + path, body=data, headers={"Content-Type": "application/json"} if data else {})
    response = conn.getresponse()
    payload = response.read()
    latencies.append(time.perf_counter() - start)
    if response.status >= 300:
        sys.exit(f"{method} {path}: {response.status} {payload[:200]}")
    return json.loads(payload)

def rss(field):
    for line in open(f"/proc/{manager_pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0

def converge(phase, done, limit=1800):
    start = time.perf_counter()
    while True:
        volumes = call("GET", "volumes")["items"]
        if sum(1 for v in volumes if done(v)) >= count:
            return time.perf_counter() - start
        if time.perf_counter() - start > limit:
            states = {}
            for v in volumes: states[v["status"]["state"]] = states.get(v["status"]["state"], 0) + 1
            sys.exit(f"{phase}: not converged after {limit} s: {states}")
        time.sleep(0.5)

node = call("GET", "nodes")["items"][0]["metadata"]["name"]
results = {}
start = time.perf_counter()
for i in range(count):
    call("POST", "volumes", {"name": f"b{i:05d}", "size": "16Mi", "numberOfReplicas": 1})
results["create_calls_s"] = time.perf_counter() - start
results["create_converge_s"] = results["create_calls_s"] + converge("create", lambda v: v["status"]["state"] == "detached")
start = time.perf_counter()
for i in range(count):
    call("POST", f"volumes/b{i:05d}/attach", {"nodeID": node})
results["attach_converge_s"] = time.perf_counter() - start + converge("attach", lambda v: v["status"]["state"] == "attached")
results["rss_attached_bytes"] = rss("VmRSS")
start = time.perf_counter()
for i in range(count):
    call("POST", f"volumes/b{i:05d}/detach", {})
results["detach_converge_s"] = time.perf_counter() - start + converge("detach", lambda v: v["status"]["state"] == "detached")
# Latency of single-object reads at rest, the commonest call.
for i in range(0, count, max(1, count // 200)):
    call("GET", f"volumes/b{i:05d}")
ordered = sorted(latencies)
results["api_calls"] = len(ordered)
results["api_p50_ms"] = 1000 * ordered[len(ordered) // 2]
results["api_p99_ms"] = 1000 * ordered[int(len(ordered) * 0.99)]
results["rss_peak_bytes"] = rss("VmHWM")
results["rss_end_bytes"] = rss("VmRSS")
print(json.dumps(results))
