#!/usr/bin/env bash
# Issue 4, acceptance 2: golden stores written as Longhorn writes them (an independent Python model
# of the format reference: gzip and lz4 volumes, 2 MiB and 16 MiB blocks, chains of incremental
# backups, an expired lock left by a dead client) restore bit-identical with Corral; and a store
# Corral writes passes a checker of the same rules.
source "$(dirname "$0")/lib.sh"
setup python3
python3 -c 'import lz4.frame' || fail "python lz4 is missing; run scripts/install-test-deps.sh"
mkimage() {  # OUT SEED: 64 MiB of random, compressible, zero and hole regions, varying with SEED
    python3 - "$1" "$2" <<'PY'
import os, random, sys
out, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
data = bytearray(64 << 20)
for i in range(12):
    start = rng.randrange(0, (64 << 20) - (3 << 20))
    length = rng.randrange(4096, 3 << 20)
    kind = rng.choice(["random", "text", "zero"])
    data[start:start + length] = os.urandom(length) if kind == "random" else (b"corral %d " % seed * (length // 9 + 1))[:length] if kind == "text" else bytes(length)
open(out, "wb").write(data)
PY
}
for i in 1 2 3; do mkimage "$WORK/img$i" "$i"; done
for method in gzip lz4; do
    for block in 2097152 16777216; do
        store="$WORK/golden-$method-$block"
        mapfile -t urls < <(python3 "$ROOT/scripts/interop/longhorn_store.py" write "$store" "pvc-$method-$((block >> 20))m" "$method" "$block" "$WORK/img1" "$WORK/img2" "$WORK/img3")
        [ "${#urls[@]}" = 3 ] || fail "the fixture writer made ${#urls[@]} backups"
        for i in 1 2 3; do
            "$CORRAL" backupstore restore "${urls[$((i - 1))]}" --to "$WORK/out.img" 2>"$WORK/restore.log" || fail "restore of $method/$block backup $i: $(cat "$WORK/restore.log")"
            cmp -s "$WORK/out.img" "$WORK/img$i" || fail "$method/$block backup $i does not restore bit-identical"
            rm -f "$WORK/out.img"
        done
        log "Longhorn-format $method store with $((block >> 20)) MiB blocks: 3 chained backups restore bit-identical"
    done
done

# The other way: a store Corral writes follows the same rules.
"$CORRAL" replica serve --dir "$WORK/replicas" --listen "127.0.0.1:$((BASE_PORT + 1))" >"$WORK/r.log" 2>&1 &
PIDS+=($!)
wait_for 20 "replica server" port_open $((BASE_PORT + 1))
"$CORRAL" engine serve --volume vol-a --size 64Mi --replica "127.0.0.1:$((BASE_PORT + 1))" --nbd "127.0.0.1:$NBD_PORT" --control "$CONTROL" >"$WORK/e.log" 2>&1 &
PIDS+=($!)
wait_for 30 "engine" port_open "$NBD_PORT"
need qemu-img
qemu-img convert -n -f raw -O raw "$WORK/img1" "nbd://127.0.0.1:$NBD_PORT/vol-a"
engine snapshot create s1 >/dev/null
qemu-img convert -n -f raw -O raw "$WORK/img2" "nbd://127.0.0.1:$NBD_PORT/vol-a"
engine snapshot create s2 >/dev/null
for method in lz4 gzip; do
    target="file://$WORK/corral-$method"
    mkdir -p "$WORK/corral-$method"
    for s in s1 s2; do
        "$CORRAL" backupstore backup --target "$target" --replica-dir "$WORK/replicas/vol-a" --snapshot $s --volume vol-a --compression $method >/dev/null 2>"$WORK/b.log" \
            || fail "backup: $(cat "$WORK/b.log")"
    done
    python3 "$ROOT/scripts/interop/longhorn_store.py" check "$WORK/corral-$method" >"$WORK/check.log" || fail "Corral's $method store breaks Longhorn's rules: $(cat "$WORK/check.log")"
    log "Corral's $method store passes the checker: $(tail -1 "$WORK/check.log")"
done
pass
