# Helpers the backup benchmarks share (scripts/bench/backup.sh, backing-image.sh). Source after
# setting SIZE_GIB (the data's size, for the rates).
port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
waitport() { for _ in $(seq 300); do port "$1" && return 0; sleep 0.1; done; echo "port $1 never opened"; exit 1; }
now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$SIZE_GIB * 1024 / ($2 - $1):.0f}')"; }
# timed COMMAND...: runs COMMAND, prints its wall time in seconds.
timed() { local t0; t0=$(now); "$@"; python3 -c "print($(now) - $t0)"; }
# median_mbps SECONDS...: the median throughput of several runs, with their range.
median_mbps() {
    python3 -c "
import statistics, sys
rates = sorted($SIZE_GIB * 1024 / float(t) for t in sys.argv[1:])
print(f'{statistics.median(rates):.0f}' + (f' ({rates[0]:.0f}-{rates[-1]:.0f})' if len(rates) > 1 else ''))" "$@"
}
# warm_memory: touch, then free, memory of the volume's size plus 1 GiB. This VM's balloon device
# reports freed pages to the host (free page reporting), so the first step to fill that much memory
# again pays the host's page faults (measured here: a Corral restore into such memory 5.8 s, 3.4 s
# right after this). Run before every timed step of either tool, so that none pays for its place
# in the order.
warm_memory() {
    python3 -c "
import mmap
size = ($SIZE_GIB + 1) << 30; chunk = 64 << 20; ones = b'\\x01' * chunk
m = mmap.mmap(-1, size)
for offset in range(0, size, chunk): m[offset:offset + chunk] = ones
m.close()"
}
