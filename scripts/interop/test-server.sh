#!/usr/bin/env bash
# Issue 3, acceptance 1: `corral server` on embedded defaults; a volume created, attached and used
# through qemu-io; snapshots through the CLI; after a restart the volume, its data and its
# snapshots are all there.
source "$(dirname "$0")/lib.sh"
setup qemu-io curl
io() { local out; out=$(qemu-io -f raw "$@" 2>&1) || fail "qemu-io: $out"; ! grep -qiE "fail|mismatch|error" <<<"$out" || fail "qemu-io: $out"; }

start_server
corral volume create v1 --size 1Gi --replicas 1
uri=$(corral volume attach v1)
[[ "$uri" == nbd://* ]] || fail "volume attach printed \"$uri\", not an nbd:// URI"
log "attached at $uri"
io -c "write -P 0x5a 0 4M" -c "write -P 0x33 100M 1M" -c "write -z 200M 1M" "$uri"
# The engine reaches the replica on its own node in-process: nothing connects to the replica port.
connections=$(ss -Htn state established "( dport = :$((BASE_PORT + 62)) )" | wc -l)
[ "$connections" -eq 0 ] || fail "the engine reached its node's own replica over $connections TCP connection(s), not in-process"
log "the engine reaches its local replica in-process (no replica connection)"
io -c "read -P 0x5a 0 4M" -c "read -P 0x33 100M 1M" -c "read -P 0 200M 1M" "$uri"
corral snapshot create v1 before
io -c "write -P 0x77 0 4M" "$uri"
corral snapshot ls v1 | grep -q "^before " || fail "snapshot ls does not list 'before'"
corral snapshot create v1 after
corral snapshot revert v1 before
io -c "read -P 0x5a 0 4M" -c "read -P 0x33 100M 1M" "$uri"
log "revert to 'before' reads the data written before it"
io -c "write -P 0x44 8M 1M" -c "flush" "$uri"

# Ctrl-C (SIGINT) stops the server cleanly; starting again finds everything as it was.
kill -INT "$SERVER_PID"
wait "$SERVER_PID" || fail "the server did not exit cleanly on SIGINT"
grep -q "stopped" "$WORK/server.log" || fail "the server did not log a clean stop"
start_server
wait_for 60 "v1 to attach again after the restart" volume_state_is v1 attached
uri2=$(corral volume attach v1)
[ "$uri2" = "$uri" ] || fail "after the restart the URI changed: $uri2"
io -c "read -P 0x5a 0 4M" -c "read -P 0x33 100M 1M" -c "read -P 0x44 8M 1M" "$uri2"
snapshots=$(corral snapshot ls v1 -o json)
for name in before after; do
    python3 -c 'import json,sys; names=[s["name"] for s in json.load(sys.stdin)]; sys.exit(0 if sys.argv[1] in names else 1)' "$name" <<<"$snapshots" \
        || fail "snapshot $name is gone after the restart"
done
# Purge through the control plane: the action starts it, the CLI follows it to the end.
corral snapshot rm v1 after >/dev/null
purged=$(corral snapshot purge v1 2>/dev/null) || fail "snapshot purge failed"
python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["running"] is False and s["percent"] == 100 and s["purged"] == ["after"] else 1)' <<<"$purged" \
    || fail "snapshot purge answered $purged, not the end of a purge of 'after'"
corral snapshot ls v1 | grep -q "^after " && fail "'after' is still listed after the purge"
io -c "read -P 0x5a 0 4M" -c "read -P 0x44 8M 1M" "$uri2"
log "snapshot purge through the control plane removed 'after' and kept the data"
# Names that were once engine routes, and the widest the rule allows, round-trip through the manager.
widest="0$(printf 'a.-9%.0s' $(seq 1 15))yz"
for name in purge verify a..b "$widest"; do
    io -c "write -P 0x5e 12M 4k" "$uri2"
    corral snapshot create v1 "$name" >/dev/null || fail "snapshot create $name through the manager"
    io -c "write -P 0x6f 12M 4k" "$uri2"
    corral snapshot ls v1 -o json | python3 -c 'import json,sys; assert sys.argv[1] in [s["name"] for s in json.load(sys.stdin)]' "$name" \
        || fail "snapshot $name is not listed through the manager"
    corral snapshot revert v1 "$name" >/dev/null || fail "revert to $name through the manager"
    io -c "read -P 0x5e 12M 4k" "$uri2"
    corral snapshot rm v1 "$name" >/dev/null || fail "snapshot rm $name through the manager"
done
out=$(corral snapshot create v1 volume-head 2>&1) && fail "a snapshot named volume-head was accepted"
grep -q "volume-head" <<<"$out" || fail "the refusal of volume-head says: $out"
corral snapshot purge v1 >/dev/null 2>&1 || fail "purge after the name round trips"
corral snapshot ls v1 -o json | python3 -c 'import json,sys; left=[s["name"] for s in json.load(sys.stdin)]; assert not {"purge","verify"} & set(left), left' \
    || fail "snapshots named purge or verify are still listed after rm and purge"
log "snapshots named purge, verify, a..b and a 63-byte name round-trip through the manager"
corral volume get v1 -o yaml | grep -q "^  numberOfReplicas: 1$" || fail "volume get -o yaml does not show the spec: $(corral volume get v1 -o yaml 2>&1 | head -5)"
corral volume ls | grep -q "^v1 .*attached *healthy" || fail "volume ls does not show v1 attached and healthy: $(corral volume ls)"

# A volume's actualSize is what its replicas' files take: about the 64 MiB written.
corral volume create v2 --size 256Mi --replicas 1 >/dev/null
uri_v2=$(corral volume attach v2)
io -c "write -P 0x64 0 32M" -c "write -P 0x65 128M 32M" -c "flush" "$uri_v2"
actual_is_64mib() { local size; size=$(volume_field v2 status.actualSize); [ "$size" -ge $((64 << 20)) ] && [ "$size" -le $((68 << 20)) ]; }
wait_for 30 "v2's actualSize to report about 64 MiB (it says $(volume_field v2 status.actualSize 2>/dev/null))" actual_is_64mib
log "after writing 64 MiB, v2's actualSize is $(volume_field v2 status.actualSize) bytes"
corral volume detach v2 >/dev/null

# What a web page could make a browser send is refused; the CLI above went through unchanged.
code=$(curl -s -o "$WORK/csrf.json" -w '%{http_code}' -X POST -H 'Origin: http://evil.example' -H 'Content-Type: text/plain' \
    --data '{"nodeID":"local"}' "$CORRAL_API/v1/volumes/v1/detach")
[ "$code" = 403 ] || fail "a cross-site form post answered $code: $(cat "$WORK/csrf.json")"
code=$(curl -s -o "$WORK/rebind.json" -w '%{http_code}' -H 'Host: rebind.evil.example:9500' -A 'Mozilla/5.0' "$CORRAL_API/v1/volumes")
[ "$code" = 403 ] || fail "a DNS-rebinding Host answered $code: $(cat "$WORK/rebind.json")"
volume_state_is v1 attached || fail "the refused detach changed v1"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: manager.lan:9500' -H 'Sec-Corral-Client: 1' "$CORRAL_API/v1/volumes")
[ "$code" = 200 ] || fail "Corral's own client, reaching the manager by a DNS name, answered $code"
log "a cross-site form post and a rebinding Host get 403 and change nothing"

# Wrong calls get a clear error and change nothing.
out=$(corral volume create v1 --size 1Gi 2>&1) && fail "creating v1 twice succeeded"
grep -q "already exists" <<<"$out" || fail "duplicate create said: $out"
out=$(corral snapshot revert v1 nosuch 2>&1) && fail "revert to a missing snapshot succeeded"
corral volume detach v1
corral volume rm v1
wait_for 30 "v1 to be deleted" bash -c "! \"$CORRAL\" volume get v1 >/dev/null 2>&1"
pass
