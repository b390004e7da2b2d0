"""Issue 18's rows: data not in the page cache, FLUSH every 16 writes, many volumes on one node, and
the node's --io-threads sweep, each side by side with nbdkit's file plugin in the same run (see nbd.sh).

Cold: an 8 GiB volume (COLD_SIZE) on a real disk (COLD_DIR, default /var/tmp), the page cache dropped
before each job, --norandommap, ROUNDS interleaved rounds, the median reported. Servers run in two
groups, each with its own nbdkit: group 1 (nbdkit, two 1-replica shapes) takes 24 GiB (8 more for
READ_THREADS or RELAY, 16 more for CORRAL_BASELINE's two shapes), group 2
(nbdkit, two 3-replica shapes) 56 GiB, one group at a time. Each job runs its rounds before the next
job starts, and the write job runs last: reads measured after a write job met the disk still
writing back (nbdkit's cold QD64 reads fell from 8,156 to 350 IOPS on the round after one).
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time, urllib.request, json
sys.path.insert(0, os.path.dirname(__file__))
import nbd_bench as nb

PARTS = os.environ.get("PARTS", "cold,volumes").split(",")
SIZE = os.environ.get("COLD_SIZE", "8g")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
RUNTIME = int(os.environ.get("COLD_RUNTIME", "10"))
VOLUME_SIZE = os.environ.get("VOLUME_SIZE", "2g")
# Event loops of the node agent to sweep (`--io-threads`); empty: the node's default only.
SWEEP = [int(n) for n in os.environ.get("IO_THREADS", "").split(",") if n]
os.rmdir(nb.WORK)
nb.WORK = tempfile.mkdtemp(prefix="corral-cold-", dir=os.environ.get("COLD_DIR", "/var/tmp"))
FS = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", nb.WORK], capture_output=True, text=True).stdout.split()[0]
COLD_JOBS = [  # name, rw, bs, iodepth, metric, fio options
    ("cold-read-qd64", "randread", "4k", 64, "iops", ["--norandommap"]),
    ("cold-read-qd1", "randread", "4k", 1, "lat", ["--norandommap"]),
    ("write-flush16-qd64", "randwrite", "4k", 64, "iops", ["--norandommap", "--fsync=16"]),
]
# ONLY=cold-read-qd1,...: just these jobs (the others' cells show "—").
ONLY = sorted(name for name in os.environ.get("ONLY", "").split(",") if name)
unknown = set(ONLY) - {job[0] for job in COLD_JOBS}
if unknown:
    raise SystemExit(f"ONLY names no cold job: {', '.join(sorted(unknown))}; the jobs are {', '.join(job[0] for job in COLD_JOBS)}")
COLD_JOBS = [job for job in COLD_JOBS if not ONLY or job[0] in ONLY]
# READ_THREADS=1 adds the in-process replica with its cold reads on the read threads (the design
# before io_uring) to group 1, for the two side by side.
READ_THREADS = os.environ.get("READ_THREADS") == "1"
# RELAY=1 adds nbdkit's nbd plugin in front of its file plugin to group 1: the same two processes
# and loopback hop as a replica in its own process, in C, so the bound of that shape.
RELAY = os.environ.get("RELAY") == "1"
# CORRAL_BASELINE (an older build's corral binary, as in nbd_bench.py) adds its two 1-replica shapes
# to group 1, [baseline], so a change to the cold path is measured against the build before it.
GROUPS = [
    [lambda: nb.start_nbdkit(32000, SIZE), lambda: nb.start_corral(32200, 1, size=SIZE),
     lambda: nb.start_corral(32400, 1, local=True, size=SIZE)]
    + ([lambda: nb.start_corral(34400, 1, local=True, size=SIZE, read_threads=True)] if READ_THREADS else [])
    + ([lambda: nb.start_nbdkit_relay(34600, SIZE)] if RELAY else [])
    + ([lambda: nb.start_corral(34800, 1, size=SIZE, binary=nb.BASELINE),
        lambda: nb.start_corral(35000, 1, local=True, size=SIZE, binary=nb.BASELINE)] if nb.BASELINE else []),
    [lambda: nb.start_nbdkit(32600, SIZE), lambda: nb.start_corral(32800, 3, size=SIZE),
     lambda: nb.start_corral(33000, 3, local=True, size=SIZE)],
]

# FILES=1 adds fio reading the servers' files directly (io_uring, buffered), the disk's own bound for
# each layout: nbdkit's one file, and in group 2 the three replica files of the own-process shape,
# read round robin as its engine reads its replicas. Read jobs only: writes would change the files.
FILES = os.environ.get("FILES") == "1"

class LocalFiles:
    """fio on files, not a server: the page cache dropped the same way, no NBD hop."""
    jobs = {"cold-read-qd64", "cold-read-qd1"}
    def __init__(self, name, paths):
        self.name, self.paths, self.uri = name, paths, None
    def stop(self):
        pass

def local_fio(target, name, rw, bs, depth, extra):
    command = nb.CLIENT_CPU + ["fio", f"--name={name}", "--ioengine=io_uring", f"--filename={':'.join(target.paths)}",
               f"--rw={rw}", f"--bs={bs}", f"--iodepth={depth}", "--numjobs=1", "--file_service_type=roundrobin",
               "--time_based", f"--runtime={RUNTIME}", "--randrepeat=0", "--output-format=json", *extra]
    return nb.fio_result(subprocess.run(command, capture_output=True, text=True, check=True).stdout, rw)

def file_targets(targets):
    """The files behind nbdkit's target and, with 3 replicas in their own processes, behind those."""
    found = []
    for target in targets:
        if target.name == "nbdkit file":
            port = target.uri.split(":")[2].strip("/")
            found.append(LocalFiles("fio on nbdkit's file", [os.path.join(nb.WORK, f"nbdkit{port}.img")]))
        elif target.name == "Corral, 3 replicas":
            port = target.uri.split(":")[2].split("/")[0]
            heads = []
            for index in range(3):
                layers = [os.path.join(root, f) for root, _, files in os.walk(os.path.join(nb.WORK, f"c{port}-r{index}"))
                          for f in files if f.endswith(".img")]
                heads.append(max(layers, key=os.path.getsize))
            found.append(LocalFiles("fio on the 3 replica files", heads))
    return found

# Which groups run (1: nbdkit and 1 replica; 2: nbdkit and 3 replicas).
COLD_GROUPS = os.environ.get("COLD_GROUPS", "1,2").split(",")

def drop_caches():
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except PermissionError:
        raise SystemExit("the cold rows drop the page cache: run as root (echo 3 > /proc/sys/vm/drop_caches)")

def cold_group(starters):
    targets, table = [], {}
    try:
        for starter in starters:
            targets.append(starter())
            nb.fill(targets[-1], SIZE)
        if FILES:
            targets += file_targets(targets)
        table = {t.name: {} for t in targets}
        for name, rw, bs, depth, metric, extra in COLD_JOBS:
            for round_index in range(ROUNDS):
                shift = round_index % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    if isinstance(target, LocalFiles) and name not in target.jobs:
                        continue
                    drop_caches()
                    r = local_fio(target, name, rw, bs, depth, extra) if isinstance(target, LocalFiles) \
                        else nb.fio(target.uri, name, rw, bs, depth, RUNTIME, 0, SIZE, extra)
                    print(f"  {target.name:34} {name:20} iops {r['iops']:9.0f}  lat {r['lat']:8.1f} us", file=sys.stderr)
                    table[target.name].setdefault(name, []).append(r)
    finally:
        for target in targets:
            target.stop()
        for entry in os.listdir(nb.WORK):
            shutil.rmtree(os.path.join(nb.WORK, entry), ignore_errors=True) if os.path.isdir(os.path.join(nb.WORK, entry)) \
                else os.remove(os.path.join(nb.WORK, entry))
    return table

def median(rows, key):
    return statistics.median(r[key] for r in rows)

def paired(values, base):
    """The median of each round's ratio to nbdkit's run of the same round, which ran within a minute of
    it: this VM's disk drifts by 20x over minutes, more than any server differs, and a ratio of
    medians taken minutes apart measures the drift."""
    return statistics.median(v / b for v, b in zip(values, base))

def cell(values, base, fmt):
    """median [min-max] (paired ratio)."""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}] ({paired(values, base):.2f})"

def cold_report(tables):
    lines = ["| server | cold 4k QD64 rand read IOPS | cold 4k QD1 rand read lat µs | 4k QD64 rand write, FLUSH every 16, IOPS |",
             "|---|---|---|---|"]
    for group, table in zip(COLD_GROUPS, tables):
        base = table["nbdkit file"]
        for name, jobs in table.items():
            cells = [cell([r[key] for r in jobs[job]], [r[key] for r in base[job]], ",.0f") if job in jobs else "—"
                     for job, key in [("cold-read-qd64", "iops"), ("cold-read-qd1", "lat"), ("write-flush16-qd64", "iops")]]
            label = f"{name} (group {group})" if name == "nbdkit file" else name
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

# --- many volumes on one node ---

class Node:
    """A single-node `corral server` with `io_threads` event loops and `count` volumes attached."""
    def __init__(self, io_threads, count, port):
        self.dir = os.path.join(nb.WORK, f"node{port}")
        self.api = f"http://127.0.0.1:{port}"
        args = [nb.CORRAL, "server", "--data-dir", self.dir, "--api-port", str(port), "--nbd-port", str(port + 1),
                "--replica-port", str(port + 2), "--control-port", str(port + 3)]
        if io_threads:
            args += ["--io-threads", str(io_threads)]
        self.proc = nb.start(args, os.path.join(nb.WORK, f"node{port}.log"))
        nb.wait_port(port)
        self.uris = []
        for i in range(count):
            self.cli("volume", "create", f"v{i}", "--size", VOLUME_SIZE.upper() + "i", "--replicas", "1")
        for i in range(count):
            self.uris.append(self.cli("volume", "attach", f"v{i}", "--timeout", "120").strip().splitlines()[-1])
        self.procs = [self.proc]

    def cli(self, *args):
        return subprocess.run([nb.CORRAL, *args, "--api", self.api], capture_output=True, text=True, check=True).stdout

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

def nbdkit_exports(count, port):
    directory = os.path.join(nb.WORK, f"exports{port}")
    os.makedirs(directory)
    for i in range(count):
        subprocess.run(["truncate", "-s", VOLUME_SIZE, os.path.join(directory, f"v{i}")], check=True)
    p = nb.start(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), "file", f"dir={directory}"], os.path.join(nb.WORK, "nbdkit-dir.log"))
    nb.wait_port(port)
    return [f"nbd://127.0.0.1:{port}/v{i}" for i in range(count)], [p]

def parallel_reads(uris):
    """One fio a volume at once, cold; the sum of their IOPS."""
    drop_caches()
    procs = [subprocess.Popen(nb.fio_command(uri, f"vol{i}", "randread", "4k", 16, RUNTIME, 0, VOLUME_SIZE, ["--norandommap"]),
                              stdout=subprocess.PIPE, text=True) for i, uri in enumerate(uris)]
    results = [nb.fio_result(p.communicate()[0], "randread") for p in procs]
    return sum(r["iops"] for r in results)

def fill_all(uris):
    for uri in uris:
        nb.fill(nb.Target("fill", uri, []), VOLUME_SIZE)

def volumes_part():
    """4 volumes on one node, each read by its own fio at QD16, against nbdkit serving 4 exports."""
    rows = {}
    servers = [("nbdkit file, 4 exports", None)] + ([(f"Corral node, --io-threads {n}", n) for n in SWEEP] or [("Corral node (1 replica each, in-process)", 0)])
    sums = {name: [] for name, _ in servers}
    for round_index in range(ROUNDS):
        for name, threads in servers:
            port = 34500 if threads is None else 34000 + 10 * threads
            if threads is None:  # nbdkit
                uris, procs = nbdkit_exports(4, port)
                stop = lambda: [p.send_signal(signal.SIGTERM) or p.wait() for p in procs]
            else:
                node = Node(threads, 4, port)
                uris, stop = node.uris, node.stop
            try:
                fill_all(uris)
                total = parallel_reads(uris)
                print(f"  {name:34} 4 volumes, QD16 each: {total:9.0f} IOPS", file=sys.stderr)
                sums[name].append(total)
            finally:
                stop()
                for entry in os.listdir(nb.WORK):
                    path = os.path.join(nb.WORK, entry)
                    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
    return volumes_report(sums, servers[0][0])

def volumes_report(sums, base_name):
    lines = ["| server | cold 4k rand read, 4 volumes × QD16, summed IOPS |", "|---|---|"]
    for name, values in sums.items():
        lines.append(f"| {name} | {cell(values, sums[base_name], ',.0f')} |")
    return "\n".join(lines)

def record(marker, command, body):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "benchmarks.md")
    text = open(path).read()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    fio_version = subprocess.run(["fio", "--version"], capture_output=True, text=True).stdout.strip()
    block = f"{start}\nMeasured {stamp}, `{command}`, {fio_version}, nbd engine; backing files on {FS}.\n\n{body}\n{end}"
    text = text[:text.index(start)] + block + text[text.index(end) + len(end):] if start in text else text + "\n" + block + "\n"
    open(path, "w").write(text)
    print(body)

def main():
    try:
        if "cold" in PARTS:
            tables = [cold_group(GROUPS[int(n) - 1]) for n in COLD_GROUPS]
            extra = (f" CORRAL_BASELINE=<{nb.BASELINE_COMMIT}>" if nb.BASELINE else "") + (" READ_THREADS=1" if READ_THREADS else "") + (" RELAY=1" if RELAY else "") + (" FILES=1" if FILES else "") + (f" COLD_GROUPS={','.join(COLD_GROUPS)}" if COLD_GROUPS != ["1", "2"] else "") + (f" ONLY={','.join(ONLY)}" if ONLY else "")
            # A run of some groups only keeps a block of its own, by groups.
            marker = f"nbd-cold-{FS}" + (f"-groups{''.join(COLD_GROUPS)}" if COLD_GROUPS != ["1", "2"] else "") + ("-vs-baseline" if nb.BASELINE else "") + ("-" + "-".join(ONLY) if ONLY else "")
            record(marker, f"PARTS=cold COLD_SIZE={SIZE} ROUNDS={ROUNDS} COLD_RUNTIME={RUNTIME}{extra} scripts/bench/nbd.sh",
                   f"{ROUNDS} rounds, {RUNTIME} s each, page cache dropped before every job. Each cell: median [min-max] "
                   f"(median of the rounds' ratios to nbdkit's run in the same round).\n\n" + cold_report(tables))
        if "volumes" in PARTS:
            sweep = f" IO_THREADS={','.join(map(str, SWEEP))}" if SWEEP else ""
            record(f"nbd-volumes-{FS}", f"PARTS=volumes VOLUME_SIZE={VOLUME_SIZE}{sweep} ROUNDS={ROUNDS} scripts/bench/nbd.sh",
                   f"{ROUNDS} rounds, {RUNTIME} s each, page cache dropped before every run. Each cell: median [min-max] "
                   f"(median of the rounds' ratios to nbdkit's run in the same round).\n\n" + volumes_part())
    finally:
        shutil.rmtree(nb.WORK, ignore_errors=True)

if __name__ == "__main__":
    main()
