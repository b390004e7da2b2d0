#!/usr/bin/env bash
# Issue 17, acceptance 3: a manager and three node agents, each node in its own network namespace.
# A 2-replica volume is attached on the node that holds neither replica. One replica node dies,
# newer data is written to the other alone, then that node dies too: the volume is faulted and its
# engine stops. The node with the older data returns first: the salvage waits, since the missing
# replica may hold newer writes. When the other returns, the volume serves again within 60 s with
# its newer data, and an Event names it. Then, with auto-salvage off, both die and return again:
# the volume stays faulted until `corral volume salvage`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
setup curl ip python3 qemu-io
make_network 1 2 3
start_manager
for i in 1 2 3; do start_node $i; done
wait_for 60 "three ready nodes" bash -c "[ \$(curl -sf $MANAGER_URL/v1/nodes | python3 -c 'import json,sys; print(sum(n[\"status\"][\"ready\"] for n in json.load(sys.stdin)[\"items\"]))') = 3 ]"
corral volume create v1 --size 64Mi --replicas 2
two_placed() { [ "$(replica_nodes v1 | wc -w)" = 2 ]; }
wait_for 30 "two replicas placed" two_placed
read -r a b <<<"$(replica_nodes v1 | tr -d n)"
free=$(for i in 1 2 3; do [ "$i" = "$a" ] || [ "$i" = "$b" ] || echo "$i"; done)
uri=$(corral volume attach v1 --node "n$free" --timeout 90) || fail "attach failed: $uri"
wait_for 60 "v1 healthy" volume_is v1 healthy
log "v1 at $uri on n$free; replicas on n$a and n$b"

reasons() { curl -sf "$MANAGER_URL/v1/events" | python3 -c 'import json,sys
print("\n".join(e["spec"]["reason"] + ": " + e["spec"]["message"] for e in json.load(sys.stdin)["items"] if e["spec"]["involvedObject"] == "volumes/v1"))'; }
has_event() { reasons | grep -q "^$1:"; }
event_count() { reasons | grep -c "^$1:" || true; }
reads_pattern() { qemu-io -f raw -c "read -P $1 0 4M" "$uri" 2>&1 | grep -q "read 4194304/4194304"; }
replica_of() { curl -sf "$MANAGER_URL/v1/replicas" | python3 -c 'import json,sys
print([r["metadata"]["name"] for r in json.load(sys.stdin)["items"] if r["spec"]["nodeID"]==sys.argv[1] and r["spec"]["volumeName"]=="v1"][0])' "$1"; }
replica_b=$(replica_of "n$b")
# Fails unless the condition stays true for the whole time: an absence cannot be waited for.
hold_for() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    while [ $SECONDS -lt $deadline ]; do "$@" >/dev/null 2>&1 || fail "$what stopped holding"; sleep 0.5; done
}
both_die() {
    kill_wait "${NODE_PID[$a]}"
    wait_for 45 "v1 degraded after n$a died" volume_is v1 degraded
    qemu-io -f raw -c "write -P $1 0 4M" "$uri" >/dev/null || fail "the write to the one replica left failed"
    kill_wait "${NODE_PID[$b]}"
    wait_for 60 "v1 faulted after n$b died" volume_is v1 faulted
}
return_node() {
    start_node "$1"
    wait_for 60 "n$1 ready again" node_ready "n$1"
}
condition_reason() { corral volume get v1 -o json | python3 -c 'import json,sys
print(" ".join(c.get("reason", "") for c in json.load(sys.stdin)["status"]["conditions"] if c["type"] == "Salvage"))'; }
salvage_is() { [ "$(condition_reason)" = "$1" ]; }

# Round 1: auto-salvage on (the default).
qemu-io -f raw -c "write -P 0x11 0 4M" "$uri" >/dev/null || fail "the first write failed"
both_die 0x22
wait_for 30 "the VolumeFaulted event" has_event VolumeFaulted
return_node "$a"
wait_for 60 "the salvage to wait for n$b's replica (a member of the newest epoch)" salvage_is EngineNotStarted
not_serving() { ! reads_pattern "$1"; }
hold_for 6 "v1 not serving n$a's older data while n$b's newer replica is missing" not_serving 0x11
log "with only n$a back: $(corral volume get v1 -o json | python3 -c 'import json,sys; print([c["message"] for c in json.load(sys.stdin)["status"]["conditions"] if c["type"] == "Salvage"][0])')"
return_node "$b"
start=$SECONDS
wait_for 60 "v1 serving n$b's newer data again" reads_pattern 0x22
log "v1 serves again $((SECONDS - start)) s after n$b returned, with its newer data"
wait_for 30 "the VolumeSalvaged event" has_event VolumeSalvaged
replica_a=$(replica_of "n$a")
salvaged=$(reasons | grep "^VolumeSalvaged:" | tail -1)
[[ "$salvaged" == *"from $replica_b:"* ]] || fail "VolumeSalvaged does not name $replica_b alone as the source ($replica_a held older data): $salvaged"
reasons | grep "^VolumeSalvaged:" | grep -q "may be missing" || fail "VolumeSalvaged does not say what may be missing"
log "$(reasons | grep '^VolumeSalvaged:' | tail -1)"
wait_for 120 "v1 healthy again" volume_is v1 healthy

# Round 2: auto-salvage off.
corral setting set auto-salvage false
faulted_before=$(event_count VolumeFaulted)
both_die 0x33
more_faulted() { [ "$(event_count VolumeFaulted)" -gt "$faulted_before" ]; }
wait_for 30 "a second VolumeFaulted event" more_faulted
return_node "$a"
return_node "$b"
wait_for 30 "the Salvage condition AutoSalvageOff" salvage_is AutoSalvageOff
hold_for 15 "v1 faulted with its replicas back and auto-salvage off" volume_is v1 faulted
hold_for 4 "v1 not serving while auto-salvage is off" not_serving 0x33
out=$(corral volume salvage v1 --timeout 90) || fail "corral volume salvage failed: $out"
log "$out"
wait_for 30 "v1 serving the newest data after the salvage" reads_pattern 0x33
pass
