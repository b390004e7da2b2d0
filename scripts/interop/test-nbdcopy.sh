#!/usr/bin/env bash
# Acceptance 3: nbdcopy of a 1 GiB random image in and out gives the same SHA-256.
source "$(dirname "$0")/lib.sh"
setup nbdcopy sha256sum
for i in 1 2 3; do start_replica $i; done
start_engine 1Gi 3
head -c 1G /dev/urandom > "$WORK/in.raw"
nbdcopy --flush "$WORK/in.raw" "$NBD_URI" || fail "nbdcopy into the export failed"
nbdcopy "$NBD_URI" "$WORK/out.raw" || fail "nbdcopy out of the export failed"
a=$(sha256sum < "$WORK/in.raw" | cut -d' ' -f1); b=$(sha256sum < "$WORK/out.raw" | cut -d' ' -f1)
[ "$a" = "$b" ] || fail "SHA-256 differs: in $a, out $b"
log "1 GiB in and out, SHA-256 $a"
pass
