#!/usr/bin/env bash
# Issue 3, acceptance 2: one manager and four node agents, each node in its own network namespace
# with its own address. A 3-replica volume spreads over three nodes while a verifying writer runs;
# a replica node's link goes down (degraded, keeps serving) and comes back (delta rebuild of the
# same replica, healthy); then a replica node is killed for good and its replica is rebuilt on the
# fourth node.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
setup fio curl ip python3
make_network 1 2 3 4
start_manager
for i in 1 2 3 4; do start_node $i; done
wait_for 60 "four ready nodes" bash -c "[ \$(curl -sf $MANAGER_URL/v1/nodes | python3 -c 'import json,sys; print(sum(n[\"status\"][\"ready\"] for n in json.load(sys.stdin)[\"items\"]))') = 4 ]"
corral volume create v1 --size 1Gi --replicas 3
uri=$(corral volume attach v1 --node n1 --timeout 90) || fail "attach failed: $uri"
log "v1 at $uri on replicas of nodes: $(replica_nodes v1)"
[ "$(replica_nodes v1 | wc -w)" = 3 ] || fail "expected 3 replicas, got: $(replica_nodes v1)"
[ "$(replica_nodes v1 | tr ' ' '\n' | sort -u | wc -l)" = 3 ] || fail "two replicas share a node: $(replica_nodes v1)"
wait_for 60 "v1 healthy" volume_is v1 healthy
start_writer "$uri"
wait_for 30 "the writer's first round" test -e "$WORK/writer-rounds"

# A replica node other than the engine's loses its link.
victim=$(replica_nodes v1 | tr ' ' '\n' | grep -v '^n1$' | head -1 | tr -d n)
victim_replica=$(curl -sf "$MANAGER_URL/v1/replicas" | python3 -c 'import json,sys; print([r["metadata"]["name"] for r in json.load(sys.stdin)["items"] if r["spec"]["nodeID"]==sys.argv[1]][0])' "n$victim")
link_down "$victim"
log "link of n$victim down"
wait_for 45 "v1 degraded" volume_is v1 degraded
wait_for 45 "n$victim to be down" bash -c "! curl -sf $MANAGER_URL/v1/nodes/n$victim | grep -q '\"ready\" : true'"
qemu-io -f raw -c "read 0 64k" "$uri" >/dev/null || fail "v1 does not serve while degraded"
link_up "$victim"
log "link of n$victim up"
wait_for 120 "v1 healthy again" volume_is v1 healthy
[ -n "$(replica_nodes v1 | grep "n$victim")" ] || fail "the returning replica was replaced instead of reused"
rebuild=$(curl -sf "http://$(node_ip 1):9503/v1/engines/v1/replicas")
python3 - "$rebuild" "$victim_replica" <<'PY' || fail "the returning replica $victim_replica was not rebuilt by delta: $rebuild"
import json, sys
replica = [r for r in json.loads(sys.argv[1]) if r["address"].endswith("/" + sys.argv[2])][0]
assert replica["mode"] == "RW", replica
rebuild = replica["rebuild"]
assert rebuild and rebuild["phase"] == "done", rebuild
assert 0 < rebuild["bytesTransferred"] < rebuild["volumeBytes"], rebuild
print(f"delta rebuild of {sys.argv[2]} sent {rebuild['bytesTransferred']} of {rebuild['volumeBytes']} bytes", file=sys.stderr)
PY

# A replica node dies for good: after the replenishment wait its replica is rebuilt on node 4.
corral setting set replica-replenishment-wait-interval 5
dead=$(replica_nodes v1 | tr ' ' '\n' | grep -v '^n1$' | head -1 | tr -d n)
spare=$(for i in 1 2 3 4; do replica_nodes v1 | grep -qw "n$i" || echo $i; done)
kill -9 "${NODE_PID[$dead]}"
log "node n$dead killed for good; expecting its replica on n$spare"
wait_for 60 "v1 degraded" volume_is v1 degraded
wait_for 180 "the replica rebuilt on n$spare and v1 healthy" volume_is v1 healthy
nodes=$(replica_nodes v1)
[[ " $nodes " == *" n$spare "* ]] || fail "no replica on n$spare: $nodes"
[[ " $nodes " != *" n$dead "* ]] || fail "the dead node still holds a live replica: $nodes"
stop_writer
qemu-io -f raw -c "read 0 64k" "$uri" >/dev/null || fail "v1 does not serve at the end"
log "replicas now on: $nodes"
pass
