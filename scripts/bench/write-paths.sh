#!/usr/bin/env bash
# Whether a replica's buffered writes should leave its event loop through an io_uring, as its cold
# reads do: one 4 KiB random write at a time to a file, with pwrite on the thread against the
# ring (floor/write_paths.c), alternating, ROUNDS times, on a file written full (its extents
# allocated) and on a sparse one (each write allocates). Prints each round, the median ratio
# ring/pwrite of each, and whether the file system takes pwritev2(RWF_NOWAIT).
#   BENCH_DIR=/var/tmp scripts/bench/write-paths.sh     # WRITES=20000 ROUNDS=5 SIZE_MIB=256
set -euo pipefail
cd "$(dirname "$0")"
dir=${BENCH_DIR:-/var/tmp}/corral-write-paths.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
cc -O2 -Wall -o "$dir/write_paths" floor/write_paths.c
size=${SIZE_MIB:-256}
dd if=/dev/urandom of="$dir/full.img" bs=1M count="$size" status=none
truncate -s "${size}M" "$dir/sparse.img"
sync
echo "file system: $(df --output=fstype "$dir" | tail -1)"
for kind in full sparse; do
    ratios=()
    for round in $(seq "${ROUNDS:-5}"); do
        [ "$kind" = sparse ] && { rm -f "$dir/sparse.img"; truncate -s "${size}M" "$dir/sparse.img"; }
        line=$("$dir/write_paths" "$dir/$kind.img" "${WRITES:-20000}")
        ratio=$(python3 -c "f='$line'.split(); print(f'{float(f[3]) / float(f[1]):.2f}')")
        ratios+=("$ratio")
        echo "$kind round $round: $line ratio $ratio"
    done
    echo "$kind median ratio ring/pwrite: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (${#ratios[@]} + 1) / 2 ))p")"
done
