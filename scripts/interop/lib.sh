# Shared helpers for the interop tests: start real processes, wait with bounds, clean up.
# Each test sources this file, calls `setup`, and ends with `pass`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CORRAL="${CORRAL:-$ROOT/.build/debug/corral}"
WORK="$(mktemp -d /tmp/corral-interop.XXXXXX)"
PIDS=()
TEST_NAME="$(basename "$0" .sh)"
# Ports are spread per test so runs never collide with a leftover process, and stay below Linux's
# ephemeral range (32768+), where outgoing connections would take them.
BASE_PORT="${BASE_PORT:-$((10000 + RANDOM % 20000))}"

log() { echo "[$TEST_NAME] $*" >&2; }
fail() {
    echo "[$TEST_NAME] FAIL: $*" >&2
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
    volumes_said >&2
    exit 1
}
# What the manager says of each volume (state, robustness, conditions), when one answers: why a
# volume did not get where a test waited for it (a replica that could not be scheduled, say).
volumes_said() {
    local answer
    answer=$(curl -sf --max-time 5 "${CORRAL_API:-http://127.0.0.1:0}/v1/volumes" 2>/dev/null) || return 0
    echo "--- volumes, as the manager says"
    python3 -c 'import json, sys
for v in json.loads(sys.argv[1])["items"]:
    s = v["status"]
    print(v["metadata"]["name"], s.get("state"), s.get("robustness"), [(c.get("type"), c.get("status"), c.get("reason", ""), c.get("message", "")) for c in s.get("conditions", [])])' "$answer" || true
}
pass() { echo "[$TEST_NAME] PASS" >&2; }

cleanup() {
    set +e
    # CONT after TERM: a test may have stopped a process (SIGSTOP) to freeze it; it must still end.
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; kill -CONT "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || fail "$tool is missing; run scripts/install-test-deps.sh"
    done
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds, else fails with DESCRIPTION.
wait_for() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${limit}s waiting for $what"
        sleep 0.1
    done
}

# kill_wait PID...: kill -9 and wait until they are gone, so their ports are free again.
kill_wait() { kill -9 "$@" 2>/dev/null || true; for pid in "$@"; do wait "$pid" 2>/dev/null || true; done; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_replica INDEX: a replica server on BASE_PORT+INDEX with data in $WORK/rINDEX.
start_replica() {
    local i=$1 port=$((BASE_PORT + $1))
    "$CORRAL" replica serve --dir "$WORK/r$i" --listen "127.0.0.1:$port" >>"$WORK/r$i.log" 2>&1 &
    REPLICA_PID[$i]=$!
    PIDS+=($!)
    wait_for 20 "replica $i on port $port" port_open "$port"
}
declare -a REPLICA_PID
replica_addr() { echo "127.0.0.1:$((BASE_PORT + $1))"; }

NBD_PORT=$((BASE_PORT + 50))
CONTROL_PORT=$((BASE_PORT + 51))
NBD_URI="nbd://127.0.0.1:$NBD_PORT/v1"
CONTROL="127.0.0.1:$CONTROL_PORT"

# start_engine SIZE N [extra args]: an engine for volume v1 over replicas 1..N.
start_engine() {
    local size=$1 n=$2; shift 2
    local args=()
    for i in $(seq 1 "$n"); do args+=(--replica "$(replica_addr "$i")"); done
    "$CORRAL" engine serve --volume v1 --size "$size" "${args[@]}" --nbd "127.0.0.1:$NBD_PORT" \
        --control "$CONTROL" "$@" >>"$WORK/engine.log" 2>&1 &
    ENGINE_PID=$!
    PIDS+=($!)
    wait_for 30 "engine NBD port" port_open "$NBD_PORT"
    wait_for 10 "engine control port" port_open "$CONTROL_PORT"
}

engine() { "$CORRAL" engine "$@" --control "$CONTROL"; }

setup() {
    [ -x "$CORRAL" ] || fail "$CORRAL is not built; run swift build"
    need "$@"
}

robustness() { engine status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["robustness"])'; }
is_healthy() { [ "$(robustness)" = healthy ]; }
is_degraded() { [ "$(robustness)" = degraded ]; }

# --- fio with verification ------------------------------------------------------------------
# Every 4 KiB block fio writes carries a header (its offset, a seed) and a crc32c of its data. A
# time_based job verifies only after a whole pass over --size, so --verify_backlog makes it read
# back what it wrote as it goes (also across kills and rebuilds); a fill first and a read pass at
# the end verify the whole region. fio_check.py asserts from fio's JSON that the reads happened.
# What fio cannot see: a time_based job checks each block's header, offset and CRC, not which of
# its writes it holds, so a block reverted to an older write of fio's passes. Lost writes are for
# other checks: layer checksums compared across replicas (test-fio-kill.sh), and sequence-stamped
# blocks (verifying_writer.py).
FIO_VERIFY=(--verify=crc32c --verify_fatal=1 --verify_state_save=0)
FIO_BACKLOG=(--verify_backlog=256 --serialize_overlap=1 "${FIO_VERIFY[@]}")

# fio_verified NAME MODE BYTES ARGS...: runs fio job NAME (nbd engine, JSON in $WORK/NAME.json, its
# output in $WORK/fio-NAME.log), then fio_check.py MODE (backlog, read or write) on it.
fio_verified() {
    local name=$1 mode=$2 bytes=$3 status=0; shift 3
    fio --warnings-fatal --output-format=json --output="$WORK/$name.json" --name="$name" --ioengine=nbd "$@" \
        >"$WORK/fio-$name.log" 2>&1 || status=$?
    python3 "$ROOT/scripts/interop/fio_check.py" "$WORK/$name.json" "$WORK/fio-$name.log" "$status" "$mode" "$bytes"
}

# fio_fill NAME URI MIB [OFFSET_MIB]: writes every block of the region once, with verify headers.
fio_fill() {
    fio_verified "$1" write $(($3 << 20)) --uri="$2" --rw=write --bs=1m --verify_interval=4k --iodepth=8 \
        --offset="${4:-0}m" --size="$3m" "${FIO_VERIFY[@]}" --do_verify=0
}

# fio_verify_region NAME URI MIB [OFFSET_MIB]: reads the whole region back; every block must verify.
fio_verify_region() {
    fio_verified "$1" read $(($3 << 20)) --uri="$2" --rw=read --bs=64k --verify_interval=4k --iodepth=8 \
        --offset="${4:-0}m" --size="$3m" "${FIO_VERIFY[@]}"
}

# --- control plane ---------------------------------------------------------------------------
API_PORT=$((BASE_PORT + 60))
export CORRAL_API="http://127.0.0.1:$API_PORT"
corral() { "$CORRAL" "$@"; }

# start_server: `corral server` on embedded defaults with data in $WORK/server and ports from BASE_PORT.
start_server() {
    "$CORRAL" server --data-dir "$WORK/server" --api-port "$API_PORT" --nbd-port "$((BASE_PORT + 61))" \
        --replica-port "$((BASE_PORT + 62))" --control-port "$((BASE_PORT + 63))" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=($!)
    wait_for 30 "the server's API" port_open "$API_PORT"
    wait_for 30 "the local node to register and be ready" node_ready local
    allow_full_disks
}

# The test nodes share this machine's disk, whose free share depends on the machine (a CI machine
# had 24.6% free, under storage-minimal-available-percentage's 25, and no replica could be
# scheduled): tests that do not test that threshold turn it off.
allow_full_disks() { corral setting set storage-minimal-available-percentage 0 >/dev/null; }

# restores_to URL SHA256: `backupstore restore` of URL into a file gives data with that SHA-256.
restores_to() {
    rm -f "$WORK/restore.img"
    "$CORRAL" backupstore restore "$1" --to "$WORK/restore.img" 2>"$WORK/restore.log" || fail "restore of $1: $(cat "$WORK/restore.log")"
    [ "$(sha256sum <"$WORK/restore.img" | cut -d' ' -f1)" = "$2" ] || fail "$1 does not restore the data it was taken from"
    rm -f "$WORK/restore.img"
}

# json_field JSON-PATH: reads stdin JSON and prints one field, e.g. json_field status.state
json_field() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k] if not isinstance(v,list) else v[int(k)]
print(v)' "$1"; }

node_ready() { [ "$(corral node get "$1" -o json 2>/dev/null | json_field status.ready)" = True ]; }
volume_field() { corral volume get "$1" -o json | json_field "$2"; }
volume_is() { [ "$(volume_field "$1" status.robustness)" = "$2" ]; }
volume_state_is() { [ "$(volume_field "$1" status.state)" = "$2" ]; }
