#!/usr/bin/env bash
# Issue 4, acceptance 5: a DR standby volume follows its backup volume. A volume `src` is backed
# up; `dr` is created --standby from that backup; it cannot be attached. Five rounds: change two
# blocks of src, back up; dr restores each new backup incrementally (the manager lists the target
# when a backup completes) and writes exactly the two changed blocks each time (asserted from the
# volume's lastRestore). Then `volume activate` and dr's whole device equals the last backup.
source "$(dirname "$0")/lib.sh"
setup qemu-io qemu-img python3
start_server
mkdir -p "$WORK/target"   # a file target must exist (an unmounted share is not created)
target="file://$WORK/target"
corral backup-target set default "$target" >/dev/null
corral volume create src --size 64Mi --replicas 1 >/dev/null
uri=$(corral volume attach src)
qemu-io -f raw -c "write -P 0x11 0 8M" -c "write -P 0x22 30M 1M" -c "write -z 40M 2M" "$uri" >/dev/null
qemu-img convert -f raw -O raw "$uri" "$WORK/0.img"
url=$(corral backup create src 2>"$WORK/b0.log") || fail "backup 0: $(cat "$WORK/b0.log")"

corral volume create dr --from-backup "$url" --standby --replicas 1 >/dev/null
restored_is() { [ "$(volume_field dr status.lastRestoredBackup 2>/dev/null)" = "$1" ]; }
wait_for 120 "dr to restore the first backup" restored_is "$url"
wait_for 30 "dr in state standby" volume_state_is dr standby
out=$(corral volume attach dr 2>&1) && fail "a standby volume was attached"
grep -q "activate" <<<"$out" || fail "attaching a standby volume did not say to activate it: $out"

for round in 1 2 3 4 5; do
    # Two blocks change each round: one that moves through the volume and one that every round rewrites.
    qemu-io -f raw -c "write -P $((0x30 + round)) $((round * 4))M 64k" -c "write -P $((0x50 + round)) 50M 4k" "$uri" >/dev/null
    qemu-img convert -f raw -O raw "$uri" "$WORK/$round.img"
    url=$(corral backup create src 2>"$WORK/b$round.log") || fail "backup $round: $(cat "$WORK/b$round.log")"
    wait_for 60 "dr to follow backup $round" restored_is "$url"
    report=$(corral volume get dr -o json | python3 -c 'import json,sys; r=json.load(sys.stdin)["status"]["lastRestore"]; print(r["incremental"], r["blocksWritten"], r["blocksZeroed"])')
    [ "$report" = "True 2 0" ] || fail "round $round: dr's restore wrote (incremental, written, zeroed) = $report, expected True 2 0"
    log "round $round: dr restored backup $round incrementally, 2 blocks written"
done

corral volume activate dr >"$WORK/activate.log" 2>&1 || fail "activate: $(cat "$WORK/activate.log")"
dr_uri=$(corral volume attach dr) || fail "attach after activation failed: $dr_uri"
qemu-img convert -f raw -O raw "$dr_uri" "$WORK/dr.img"
cmp -s "$WORK/dr.img" "$WORK/5.img" || fail "the activated volume differs from the last backup"
qemu-io -f raw -c "write -P 0x77 0 4k" -c "read -P 0x77 0 4k" "$dr_uri" | grep -q "read 4096" || fail "the activated volume does not take writes"
log "activated: dr equals backup 5 and takes writes"
pass
