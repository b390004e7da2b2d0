#!/usr/bin/env bash
# Acceptance 2: nbdinfo lists the export with its size and flags; --map shows holes where nothing was written.
source "$(dirname "$0")/lib.sh"
setup nbdinfo qemu-io
for i in 1 2 3; do start_replica $i; done
start_engine 1Gi 3

list=$(nbdinfo --list "nbd://127.0.0.1:$NBD_PORT/") || fail "nbdinfo --list failed"
grep -q 'export="v1"' <<<"$list" || fail "export v1 not listed: $list"
json=$(nbdinfo --json "$NBD_URI") || fail "nbdinfo --json failed"
python3 - "$json" <<'PY' || fail "nbdinfo flags wrong: $json"
import json, sys
info = json.loads(sys.argv[1])
export = info["exports"][0]
assert info["protocol"] == "newstyle-fixed", info["protocol"]
assert info["TLS"] is False
assert export["export-size"] == 1 << 30, export["export-size"]
for flag in ("can_trim", "can_zero", "can_fua", "can_flush", "can_multi_conn"):
    assert export[flag] is True, flag
assert export["block_size_preferred"] == 4096
assert "base:allocation" in export["contexts"]
PY
nbdinfo --can structured-reply "$NBD_URI" || fail "structured replies not reported"
for flag in trim zero fua flush multi-conn; do nbdinfo --can "$flag" "$NBD_URI" || fail "nbdinfo --can $flag is false"; done

qemu-io -f raw -c "write -P 1 1M 1M" -c "write -P 2 100M 64k" "$NBD_URI" >/dev/null || fail "qemu-io write failed"
map=$(nbdinfo --map --json "$NBD_URI") || fail "nbdinfo --map failed"
python3 - "$map" <<'PY' || fail "block status map wrong: $map"
import json, sys
extents = json.loads(sys.argv[1])
data = [(e["offset"], e["length"]) for e in extents if e["type"] & 1 == 0]
assert data == [(1 << 20, 1 << 20), (100 << 20, 64 << 10)], data
total = sum(e["length"] for e in extents)
assert total == 1 << 30, total
PY
log "nbdinfo reports size, flags and a map with holes"
pass
