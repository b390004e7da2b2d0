#!/usr/bin/env bash
# Acceptance 1: qemu-io patterns at many offsets and sizes; qemu-img convert of a 512 MiB random
# image into the export and qemu-img compare against the source, with 3 replicas.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img
for i in 1 2 3; do start_replica $i; done
start_engine 1Gi 3

cmds=()
for spec in "0 4k" "4096 8k" "1M 64k" "3M 1M" "100M 512" "200M 7k" "300M 1" "511M 33k" "1023M 1M"; do
    set -- $spec
    pattern=$(( (RANDOM % 250) + 1 ))
    cmds+=(-c "write -P $pattern $1 $2" -c "read -P $pattern $1 $2")
done
cmds+=(-c "write -P 0x5a 16M 2M" -c "discard 16M 1M" -c "read -P 0 16M 1M" -c "read -P 0x5a 17M 1M")
cmds+=(-c "write -z 17M 4k" -c "read -P 0 17M 4k" -c "read -P 0x5a 17829888 4k")
cmds+=(-c "write -P 0x77 40M 12345" -c "write -z 41944040 3000" -c "read -P 0x77 40M 1000" -c "read -P 0 41944040 3000" -c "read -P 0x77 41947040 8345")
out=$(qemu-io -f raw "${cmds[@]}" "$NBD_URI" 2>&1) || fail "qemu-io failed: $out"
if grep -qiE "fail|mismatch|error" <<<"$out"; then fail "qemu-io reported a problem: $(grep -iE 'fail|mismatch|error' <<<"$out" | head -5)"; fi
log "qemu-io patterns verified"

qemu-io -f raw -c "discard 0 1G" -c "read -P 0 0 1G" "$NBD_URI" >/dev/null 2>&1 || fail "discard of the whole volume did not read back as zeros"
head -c 512M /dev/urandom > "$WORK/src.raw"
qemu-img convert -n -f raw -O raw "$WORK/src.raw" "$NBD_URI" || fail "qemu-img convert into the export failed"
# The export is 1 GiB: qemu-img compares the rest of the larger image against zeros.
out=$(qemu-img compare -f raw -F raw "$WORK/src.raw" "$NBD_URI" 2>&1) || fail "qemu-img compare: $out"
grep -q "Images are identical" <<<"$out" || fail "qemu-img compare said: $out"
log "512 MiB image identical after qemu-img convert"
pass
