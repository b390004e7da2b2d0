"""Runs kbench's NBD jobs against several servers side by side and records ratios (see nbd.sh)."""
import json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

RUNTIME = int(os.environ.get("RUNTIME", "8"))
RAMP = int(os.environ.get("RAMP", "2"))
SIZE = os.environ.get("SIZE", "1g")
ROUNDS = int(os.environ.get("ROUNDS", "1"))
CORRAL = os.environ["CORRAL"]
# CORRAL_BASELINE: a corral binary of an older commit, run beside this one (qemu-nbd left out).
BASELINE = os.environ.get("CORRAL_BASELINE")
BASELINE_COMMIT = os.environ.get("CORRAL_BASELINE_COMMIT", "older build")
WORK = tempfile.mkdtemp(prefix="corral-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
# PIN=1: servers on CPU 1, fio on CPU 0. On this 2-vCPU VM a wake-up across vCPUs costs ~40 us, and
# where the scheduler puts a server's threads decides QD1 latency more than the server does
# (nbdkit QD1 read: 8 us sharing fio's vCPU, 83 us on the other); pinning holds placement fixed.
PIN = os.environ.get("PIN") == "1"
SERVER_CPU = ["taskset", "-c", "1"] if PIN else []
CLIENT_CPU = ["taskset", "-c", "0"] if PIN else []
FS = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", WORK], capture_output=True, text=True).stdout.split()[0]
LABEL = f"{FS}{'-pinned' if PIN else ''}{'-vs-baseline' if BASELINE else ''}"
JOBS = [  # name, rw, bs, iodepth, metric
    ("rand-read-iops", "randread", "4k", 64, "iops"),
    ("rand-write-iops", "randwrite", "4k", 64, "iops"),
    ("seq-read-bw", "read", "128k", 64, "bw"),
    ("seq-write-bw", "write", "128k", 64, "bw"),
    ("rand-read-lat", "randread", "4k", 1, "lat"),
    ("rand-write-lat", "randwrite", "4k", 1, "lat"),
]
# ONLY=rand-read-lat,rand-write-lat: run these jobs alone (their block is labelled with them).
ONLY = [j for j in os.environ.get("ONLY", "").split(",") if j]
if ONLY:
    JOBS = [j for j in JOBS if j[0] in ONLY]
    LABEL += "-" + "-".join(ONLY)

def wait_port(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not come up within {seconds}s")

def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total

class Target:
    def __init__(self, name, uri, procs):
        self.name, self.uri, self.procs = name, uri, procs
    def stop(self):
        # The engine (started last) stops first, so it closes its replicas cleanly.
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

def start(cmd, log, env=None):
    return subprocess.Popen(SERVER_CPU + cmd, stdout=open(log, "a"), stderr=subprocess.STDOUT,
                            env={**os.environ, **env} if env else None)

def start_nbdkit(port, size=None):
    path = os.path.join(WORK, f"nbdkit{port}.img")
    subprocess.run(["truncate", "-s", size or SIZE, path], check=True)
    p = start(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), "file", path], os.path.join(WORK, "nbdkit.log"))
    wait_port(port)
    return Target("nbdkit file", f"nbd://127.0.0.1:{port}/", [p])

def start_nbdkit_relay(port, size=None):
    """nbdkit's nbd plugin in front of nbdkit's file plugin: two processes and a loopback hop, as a
    Corral engine in front of a replica in its own process, in C (the floor of that shape)."""
    inner = start_nbdkit(port + 10, size)
    p = start(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), "nbd", f"uri=nbd://127.0.0.1:{port + 10}/"],
              os.path.join(WORK, "nbdkit-relay.log"))
    wait_port(port)
    return Target("nbdkit nbd → nbdkit file (relay)", f"nbd://127.0.0.1:{port}/", inner.procs + [p])

def start_qemu(port):
    path = os.path.join(WORK, "qemu.img")
    subprocess.run(["truncate", "-s", SIZE, path], check=True)
    p = start(["qemu-nbd", "-t", "-e", "4", "-f", "raw", "-b", "127.0.0.1", "-p", str(port), path], os.path.join(WORK, "qemu.log"))
    wait_port(port)
    return Target("qemu-nbd", f"nbd://127.0.0.1:{port}/", [p])

def start_corral(port, replicas, local=False, size=None, binary=None, read_threads=False):
    """read_threads: cold reads on the read threads instead of the loops' io_uring (CORRAL_IO_URING=0)."""
    procs = []
    try:
        target = start_corral_processes(port, replicas, local, procs, size or SIZE, binary or CORRAL,
                                        {"CORRAL_IO_URING": "0"} if read_threads else None)
        if read_threads:
            target.name += " (read threads)"
        return target
    except BaseException:
        for p in procs:  # a target that failed to start leaves nothing running
            p.kill()
        raise

def start_corral_processes(port, replicas, local, procs, size, binary, env=None):
    args = []
    if local:
        args += ["--replica", "local:" + os.path.join(WORK, f"c{port}-local")]
    for i in range(replicas - (1 if local else 0)):
        rport = port + 10 + i
        procs.append(start([binary, "replica", "serve", "--dir", os.path.join(WORK, f"c{port}-r{i}"),
                            "--listen", f"127.0.0.1:{rport}"], os.path.join(WORK, f"c{port}-r{i}.log"), env))
        wait_port(rport)
        args += ["--replica", f"127.0.0.1:{rport}"]
    procs.append(start([binary, "engine", "serve", "--volume", "bench", "--size", size.upper() + "i", *args,
                        "--nbd", f"127.0.0.1:{port}", "--control", f"127.0.0.1:{port + 1}"], os.path.join(WORK, f"c{port}-e.log"), env))
    wait_port(port)
    where = (" (in-process)" if replicas == 1 else " (1 in-process)") if local else ""
    build = " [baseline]" if binary != CORRAL else ""
    return Target(f"Corral, {replicas} replica{'s' if replicas > 1 else ''}{where}{build}", f"nbd://127.0.0.1:{port}/bench", procs)

def fio_command(uri, name, rw, bs, depth, runtime, ramp, size=None, extra=()):
    return CLIENT_CPU + ["fio", f"--name={name}", "--ioengine=nbd", f"--uri={uri}", f"--rw={rw}", f"--bs={bs}",
           f"--iodepth={depth}", "--numjobs=1", f"--size={size or SIZE}", "--time_based", f"--runtime={runtime}",
           f"--ramp_time={ramp}", "--randrepeat=0", "--output-format=json", *extra]

def fio_result(out, rw):
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["read"] if "read" in rw else job["write"]
    return {"iops": side["iops"], "bw": side["bw_bytes"] / 2**20, "lat": side["clat_ns"]["mean"] / 1000,
            "p99": side["clat_ns"]["percentile"].get("99.000000", 0) / 1000, "ios": side["total_ios"]}

def fio(uri, name, rw, bs, depth, runtime, ramp, size=None, extra=()):
    out = subprocess.run(fio_command(uri, name, rw, bs, depth, runtime, ramp, size, extra), capture_output=True, text=True, check=True).stdout
    return fio_result(out, rw)

def fill(target, size=None):
    subprocess.run(
        CLIENT_CPU + ["fio", "--name=fill", "--ioengine=nbd", f"--uri={target.uri}", "--rw=write", "--bs=1m", "--iodepth=8",
         f"--size={size or SIZE}", "--output-format=json"], capture_output=True, check=True)

def run_job(target, job):
    name, rw, bs, depth, metric = job
    pids = [p.pid for p in target.procs]
    subprocess.run(["sync"])
    before, t0 = cpu_ticks(pids), time.time()
    r = fio(target.uri, name, rw, bs, depth, RUNTIME, RAMP)
    ticks = cpu_ticks(pids) - before
    ios_total = r["iops"] * (time.time() - t0)  # ramp included, as the calibration did
    r["cpu_us_per_io"] = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / max(ios_total, 1)
    print(f"  {target.name:18} {name:15} iops {r['iops']:9.0f}  bw {r['bw']:7.1f} MiB/s  lat {r['lat']:7.1f} us  "
          f"cpu {r['cpu_us_per_io']:5.1f} us/io", file=sys.stderr)
    return r

def main():
    starters = [("nbdkit file", lambda: start_nbdkit(31000)), ("qemu-nbd", lambda: start_qemu(31100)),
                ("Corral, 1 replica", lambda: start_corral(31200, 1)), ("Corral, 3 replicas", lambda: start_corral(31300, 3)),
                ("Corral, 1 replica (in-process)", lambda: start_corral(31400, 1, local=True)),
                ("Corral, 3 replicas (1 in-process)", lambda: start_corral(31500, 3, local=True))]
    if BASELINE:  # the same shapes built from an older commit, to show a change kept the page-cached speed
        starters = [s for s in starters if not s[0].startswith("qemu")]
        starters += [(f"{name} [baseline]", lambda port=31600 + 100 * i, r=r, local=local: start_corral(port, r, local=local, binary=BASELINE))
                     for i, (name, r, local) in enumerate([("Corral, 1 replica", 1, False), ("Corral, 3 replicas", 3, False),
                                                           ("Corral, 1 replica (in-process)", 1, True), ("Corral, 3 replicas (1 in-process)", 3, True)])]
    # Every server runs for the whole bench and each job runs on all of them back to back, so a job's
    # servers are measured within a minute of each other. This VM's speed drifts over minutes to hours
    # (nbdkit's own random read moved 42k -> 46k between runs); measuring one server after another
    # gave whichever server ran in a slow stretch a lower ratio. Each round starts with another server.
    targets = []
    try:
        for name, starter in starters:
            targets.append(starter())
            fill(targets[-1])
        table = {t.name: {} for t in targets}
        for round_index in range(ROUNDS):
            for job in JOBS:
                shift = round_index % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    table[target.name].setdefault(job[0], []).append(run_job(target, job))
    finally:
        for target in targets:
            target.stop()
    shutil.rmtree(WORK, ignore_errors=True)
    write_report(table)

def mean(rows, key):
    """The median of the rounds (the name is older than ROUNDS)."""
    return statistics.median(r[key] for r in rows)

def write_report(table):
    base = table["nbdkit file"]
    lines = [f"| server | 4k QD64 rand read IOPS (×nbdkit) | 4k QD64 rand write IOPS (×nbdkit) | 128k QD64 seq read MiB/s | 128k QD64 seq write MiB/s | 4k QD1 read lat µs (×) | 4k QD1 write lat µs (×) | server CPU µs/IO rr / rw |",
             "|---|---|---|---|---|---|---|---|"]
    for name, jobs in table.items():
        def cell(job, key, fmt):
            if job not in jobs:
                return "–"  # not run (ONLY)
            v, b = mean(jobs[job], key), mean(base[job], key)
            return f"{v:{fmt}} ({v / b:.2f})"
        lines.append(f"| {name} | {cell('rand-read-iops', 'iops', ',.0f')} | {cell('rand-write-iops', 'iops', ',.0f')} | "
                     f"{cell('seq-read-bw', 'bw', ',.0f')} | {cell('seq-write-bw', 'bw', ',.0f')} | "
                     f"{cell('rand-read-lat', 'lat', '.0f')} | {cell('rand-write-lat', 'lat', '.0f')} | "
                     + (f"{mean(jobs['rand-read-iops'], 'cpu_us_per_io'):.1f} / {mean(jobs['rand-write-iops'], 'cpu_us_per_io'):.1f} |"
                        if 'rand-read-iops' in jobs and 'rand-write-iops' in jobs else "– |"))
    if BASELINE:  # this build over the baseline, job by job: acceptance 5 of issue 18 wants each within 10%
        lines += ["", "| shape | " + " | ".join(j[0] for j in JOBS) + " |", "|---|" + "---|" * len(JOBS)]
        for name, jobs in table.items():
            old = table.get(f"{name} [baseline]")
            if old is None or name.endswith("[baseline]"):
                continue
            def change(job):
                v, b = mean(jobs[job[0]], job[4]), mean(old[job[0]], job[4])
                return f"{v / b:.2f}" + ("" if job[4] != "lat" else " (lat)")
            lines.append(f"| {name}: this build / baseline | " + " | ".join(change(j) for j in JOBS) + " |")
    report = "\n".join(lines)
    print(report)
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "benchmarks.md")
    marker_start, marker_end = f"<!-- nbd-bench-{LABEL}:start -->", f"<!-- nbd-bench-{LABEL}:end -->"
    text = open(path).read() if os.path.exists(path) else ""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    baseline = f"CORRAL_BASELINE=<{BASELINE_COMMIT}> " if BASELINE else ""
    command = f"{baseline}BENCH_DIR={os.path.dirname(WORK)} {'PIN=1 ' if PIN else ''}RUNTIME={RUNTIME} RAMP={RAMP} SIZE={SIZE} ROUNDS={ROUNDS} scripts/bench/nbd.sh"
    placement = "servers pinned to CPU 1, fio to CPU 0" if PIN else "no pinning"
    block = (f"{marker_start}\nMeasured {stamp}, `{command}`, "
             f"fio {subprocess.run(['fio', '--version'], capture_output=True, text=True).stdout.strip()}, nbd engine, 1 job, "
             f"1 connection; backing files on {FS}, page-cached; {placement}.\n\n{report}\n{marker_end}")
    if marker_start in text:
        text = text[:text.index(marker_start)] + block + text[text.index(marker_end) + len(marker_end):]
    else:
        text += "\n" + block + "\n"
    open(path, "w").write(text)

if __name__ == "__main__":
    main()
