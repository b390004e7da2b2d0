#!/usr/bin/env bash
# fio_check.py, which the fio-based tests rely on, can fail: a time_based verify job that never
# read anything back, and a region with one corrupted block, are both caught (on a local file).
source "$(dirname "$0")/lib.sh"
setup fio python3
check() { python3 "$ROOT/scripts/interop/fio_check.py" "$WORK/$1.json" "$WORK/$1.log" "$2" "$3" "${4:-0}"; }
run() {  # run NAME ARGS...: fio on $WORK/disk; prints its exit status
    local name=$1 status=0; shift
    fio --output-format=json --output="$WORK/$name.json" --name="$name" --ioengine=psync --filename="$WORK/disk" --size=16m "$@" \
        >"$WORK/$name.log" 2>&1 || status=$?
    echo "$status"
}
# read total_ios from a run's JSON (after the line the engine may print first).
reads() { python3 -c 'import json,sys; t=open(sys.argv[1]).read(); t=t[t.index("{"):]; print(sum(j["read"]["total_ios"] for j in json.loads(t)["jobs"]))' "$WORK/$1.json"; }
# On purpose without --verify_backlog: the way the tests used to run, which reads nothing back.
status=$(run nobacklog --rw=randwrite --bs=4k --rate_iops=500 --time_based --runtime=2 "${FIO_VERIFY[@]}")
[ "$(reads nobacklog)" -eq 0 ] || fail "test bug: the run without verify_backlog read $(reads nobacklog) blocks back"
if check nobacklog "$status" backlog 2>"$WORK/nobacklog.check"; then fail "a verify job that read nothing back passed the check"; fi
grep -q "read none back\|never start" "$WORK/nobacklog.check" || fail "the check did not say why: $(cat "$WORK/nobacklog.check")"
status=$(run backlog --rw=randwrite --bs=4k --rate_iops=2000 --time_based --runtime=2 "${FIO_BACKLOG[@]}")
check backlog "$status" backlog || fail "a backlog verify job failed the check"
[ "$(reads backlog)" -gt 0 ] || fail "the backlog verify job read nothing back"
status=$(run fill --rw=write --bs=1m --verify_interval=4k "${FIO_VERIFY[@]}" --do_verify=0)
check fill "$status" write $((16 << 20)) || fail "the fill failed the check"
printf '\xff' | dd of="$WORK/disk" bs=1 seek=$((409600 + 2000)) conv=notrunc 2>/dev/null
status=$(run corrupt --rw=read --bs=64k --verify_interval=4k "${FIO_VERIFY[@]}")
if check corrupt "$status" read $((16 << 20)) 2>"$WORK/corrupt.check"; then fail "a region with a corrupt block passed the check"; fi
grep -q "did not verify" "$WORK/corrupt.check" || fail "the check did not say a block failed to verify: $(cat "$WORK/corrupt.check")"
log "fio_check fails a verify job that read nothing back and a region with a corrupt block"
pass
