#!/usr/bin/env bash
# Issue 21, acceptance 5: one manager and three node agents, each in its own network namespace.
# Backing image `base` keeps one copy (minNumberOfCopies 1), on n1. Then n1 is killed: its copy
# is `unknown` and does not count, so another node fetches the image from its source (the copy
# was the only ready one); a volume on the image then gets its replicas on the live nodes, each
# with its own disk's copy (n3's copied from n2's, node to node, not from the source), and reads
# the image's bytes. Then an uploaded image gets its second copy from the node the upload went to.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
setup qemu-img curl ip python3 sha512sum
make_network 1 2 3
start_manager
for i in 1 2 3; do start_node $i; done
wait_for 60 "three ready nodes" bash -c "[ \$(curl -sf $MANAGER_URL/v1/nodes | python3 -c 'import json,sys; print(sum(n[\"status\"][\"ready\"] for n in json.load(sys.stdin)[\"items\"]))') = 3 ]"
corral setting set node-down-timeout 3 >/dev/null

mkdir -p "$WORK/http"
{ head -c 4M /dev/urandom; head -c 2M /dev/zero; head -c 2M /dev/urandom; } >"$WORK/http/base.raw"
SUM=$(sha512sum <"$WORK/http/base.raw" | cut -d' ' -f1)
python3 "$ROOT/scripts/interop/image_server.py" "$WORK/http" 9600 --host "$MANAGER_IP" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the image server" curl -s -o /dev/null "http://$MANAGER_IP:9600/"

corral backing-image create base --url "http://$MANAGER_IP:9600/img/base.raw" --checksum "$SUM" --min-copies 1 --timeout 60 >/dev/null 2>&1 \
    || fail "base did not become ready: $(curl -sf "$MANAGER_URL/v1/backingimages/base")"
copies() { curl -sf "$MANAGER_URL/v1/backingimages/base" | python3 -c 'import json,sys
c=json.load(sys.stdin)["status"]["copies"]; print(" ".join(k + "=" + v["state"] for k, v in sorted(c.items())))'; }
[ "$(copies)" = "n1/default=ready" ] || fail "base should have one copy, on n1: $(copies)"

kill -9 "${NODE_PID[1]}"
log "n1, with the only ready copy of base, killed"
wait_for 60 "a new copy of base, fetched from its source on a live node" bash -c "$(declare -f copies); MANAGER_URL=$MANAGER_URL; copies | grep -qE 'n[23]/default=ready'"
copies | grep -q "n1/default=unknown" || fail "the dead node's copy should be unknown: $(copies)"
[ "$(grep -c 'GET /img/base.raw' "$WORK/http/requests.log")" -ge 2 ] || fail "the new copy did not come from the source"

corral volume create v1 --backing-image base --replicas 2 >/dev/null
uri=$(corral volume attach v1 --node n2 --timeout 120) || fail "attach v1: $uri; $(volumes_said)"
[ "$(replica_nodes v1)" = "n2 n3" ] || fail "v1's replicas should be on the live nodes n2 and n3: $(replica_nodes v1)"
wait_for 60 "v1 healthy" volume_is v1 healthy
# The nodes report their copies with their heartbeats: the record follows within one.
wait_for 30 "a ready copy on each replica's disk" bash -c "$(declare -f copies); MANAGER_URL=$MANAGER_URL; copies | grep -q 'n2/default=ready' && copies | grep -q 'n3/default=ready'"
[ "$(grep -c 'GET /img/base.raw' "$WORK/http/requests.log")" = 2 ] || fail "n3's copy should come from n2's, node to node, not from the source: $(cat "$WORK/http/requests.log")"
grep -q "copied from http://$(node_ip 2):" "$WORK/n3.log" || fail "n3 does not say it copied from n2"
qemu-img compare -f raw -F raw "$WORK/http/base.raw" "$uri" >/dev/null || fail "v1 does not read the image's bytes"

# An uploaded image across nodes: the manager streams the file to one live node; the second copy
# comes from that one, node to node (an uploaded image has no other source).
{ head -c 3M /dev/urandom; head -c 1M /dev/zero; head -c 1234567 /dev/urandom; } >"$WORK/up.raw"
corral backing-image create up --file "$WORK/up.raw" --min-copies 2 --timeout 60 >"$WORK/up.log" 2>&1 \
    || fail "the upload did not become ready: $(cat "$WORK/up.log"); $(curl -sf "$MANAGER_URL/v1/backingimages/up")"
upcopies() { curl -sf "$MANAGER_URL/v1/backingimages/up" | python3 -c 'import json,sys
c=json.load(sys.stdin)["status"]["copies"]; print(" ".join(k + "=" + v["state"] for k, v in sorted(c.items())))'; }
wait_for 60 "two ready copies of up, on n2 and n3" bash -c "$(declare -f upcopies); MANAGER_URL=$MANAGER_URL; [ \"\$(upcopies)\" = 'n2/default=ready n3/default=ready' ]"
receiver=$(grep -l "backing image up: upload received" "$WORK"/n2.log "$WORK"/n3.log | head -1)
other=$([ "$receiver" = "$WORK/n2.log" ] && echo 3 || echo 2)
from=$([ "$other" = 3 ] && echo 2 || echo 3)
grep -q "backing image up: copied from http://$(node_ip "$from"):" "$WORK/n$other.log" || fail "n$other's copy of up did not come from n$from's: $(grep 'backing image up' "$WORK/n$other.log")"
pass
