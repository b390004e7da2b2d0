# Helpers for multi-node tests: a bridge in this namespace and one network namespace per node,
# each with its own address; a manager on the bridge; node agents inside the namespaces.
# Source after lib.sh. Needs root (ip netns).
CLUSTER_ID="${CLUSTER_ID:-$((RANDOM % 200 + 20))}"
BRIDGE="crlbr$CLUSTER_ID"
SUBNET="10.$CLUSTER_ID.7"
MANAGER_IP="$SUBNET.1"
MANAGER_URL="http://$MANAGER_IP:9500"
export CORRAL_API="$MANAGER_URL"
declare -a NODE_PID

node_ns() { echo "crl$CLUSTER_ID-n$1"; }
node_ip() { echo "$SUBNET.$((10 + $1))"; }
node_link() { echo "crl${CLUSTER_ID}h$1"; }

cluster_cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    for ns in $(ip netns list | awk '{print $1}' | grep "^crl$CLUSTER_ID-n"); do ip netns del "$ns"; done
    ip link del "$BRIDGE" 2>/dev/null
    cleanup
}
trap cluster_cleanup EXIT

make_network() {
    ip link add "$BRIDGE" type bridge || fail "cannot create a bridge (needs root)"
    ip addr add "$MANAGER_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for i in "$@"; do
        local ns; ns=$(node_ns "$i")
        ip netns add "$ns"
        ip link add "$(node_link "$i")" type veth peer name "crl${CLUSTER_ID}n$i"
        ip link set "$(node_link "$i")" master "$BRIDGE"
        ip link set "$(node_link "$i")" up
        ip link set "crl${CLUSTER_ID}n$i" netns "$ns"
        ip -n "$ns" addr add "$(node_ip "$i")/24" dev "crl${CLUSTER_ID}n$i"
        ip -n "$ns" link set "crl${CLUSTER_ID}n$i" up
        ip -n "$ns" link set lo up
    done
}

start_manager() {
    "$CORRAL" manager --data-dir "$WORK/manager" --listen "$MANAGER_IP:9500" >>"$WORK/manager.log" 2>&1 &
    MANAGER_PID=$!
    PIDS+=($!)
    wait_for 30 "the manager's API" curl -sf "$MANAGER_URL/v1/nodes"
    allow_full_disks
}

# start_node I: a node agent named nI in its namespace, data in $WORK/nI.
start_node() {
    local i=$1
    ip netns exec "$(node_ns "$i")" "$CORRAL" node --name "n$i" --manager "$MANAGER_URL" --listen "$(node_ip "$i")" \
        --data-dir "$WORK/n$i" >>"$WORK/n$i.log" 2>&1 &
    NODE_PID[$i]=$!
    PIDS+=($!)
}

link_down() { ip link set "$(node_link "$1")" down; }
link_up() { ip link set "$(node_link "$1")" up; }

# replica_nodes VOLUME: the nodes holding live replicas of VOLUME, sorted.
replica_nodes() {
    curl -sf "$MANAGER_URL/v1/replicas" | python3 -c 'import json,sys
print(" ".join(sorted(r["spec"]["nodeID"] for r in json.load(sys.stdin)["items"] if r["spec"]["volumeName"]==sys.argv[1] and not r["metadata"].get("deletionRequestedAt"))))' "$1"
}

# A verifying writer: after a fill of the first 512 MiB, rounds of fio (randwrite over one 128 MiB
# window, each block read back and verified as it goes: verify_backlog) until $WORK/stop-writer
# exists; any failed round leaves $WORK/writer-failed. stop_writer verifies the whole 512 MiB.
start_writer() {
    local uri=$1 round=0
    WRITER_URI=$uri
    fio_fill writer-fill "$uri" 512 || fail "fio could not fill the writer's region"
    (
        while [ ! -e "$WORK/stop-writer" ]; do
            round=$((round + 1))
            if ! fio_verified "w$round" backlog 0 --uri="$uri" --rw=randwrite --bs=4k --iodepth=8 --size=128m \
                    --offset=$(( (round % 4) * 128 ))m --time_based --runtime=15 "${FIO_BACKLOG[@]}" 2>"$WORK/writer-$round.check"; then
                cp "$WORK/writer-$round.check" "$WORK/writer-failed"
                break
            fi
            echo "$round" >"$WORK/writer-rounds"
        done
    ) &
    WRITER_PID=$!
    PIDS+=($!)
}

stop_writer() {
    touch "$WORK/stop-writer"
    wait "$WRITER_PID" 2>/dev/null
    [ ! -e "$WORK/writer-failed" ] || fail "the verifying writer failed: $(tail -20 "$WORK/writer-failed")"
    fio_verify_region writer-final "$WRITER_URI" 512 || fail "the writer's 512 MiB do not verify at the end"
    log "verifying writer: $(cat "$WORK/writer-rounds" 2>/dev/null || echo 0) rounds verified as written; all 512 MiB verified at the end"
}
