#!/usr/bin/env bash
# Issue 22, acceptance 2, in headless Chromium (Playwright) against a manager and four node agents,
# each node in its own network namespace: with a volume's page open (never reloaded), a replica
# node is killed and the page shows the volume degraded within 2 s of the API reporting it; the
# replica's rebuild on the fourth node shows its progress moving; on the backups page, a backup's
# progress moves to 100%.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
setup fio curl ip python3 chromium
python3 -c 'import playwright' 2>/dev/null || fail "Playwright (pip) is missing; run scripts/install-test-deps.sh"
make_network 1 2 3 4
start_manager
for i in 1 2 3 4; do start_node $i; done
wait_for 60 "four ready nodes" bash -c "[ \$(curl -sf $MANAGER_URL/v1/nodes | python3 -c 'import json,sys; print(sum(n[\"status\"][\"ready\"] for n in json.load(sys.stdin)[\"items\"]))') = 4 ]"
# A lost replica is rebuilt elsewhere at once, so the page can show that rebuild.
corral setting set replica-replenishment-wait-interval 0 >/dev/null
mkdir -p "$WORK/backups"
corral backup-target set default "file://$WORK/backups" >/dev/null || fail "setting the backup target failed"
corral volume create v1 --size 1Gi --replicas 3 >/dev/null
uri=$(corral volume attach v1 --node n1 --timeout 90) || fail "attach failed: $uri"
wait_for 60 "v1 healthy" volume_is v1 healthy
# Data to rebuild and back up: long enough for the progress to be seen moving.
fio_fill fill "$uri" 768 || fail "fio could not fill v1"
victim=$(replica_nodes v1 | tr ' ' '\n' | grep -v '^n1$' | head -1 | tr -d n)
log "v1 on $(replica_nodes v1); killing n$victim (pid ${NODE_PID[$victim]}) with the page open"

python3 "$ROOT/scripts/interop/web_ui_cluster_browser.py" "$MANAGER_URL" v1 "${NODE_PID[$victim]}" >"$WORK/browser.log" 2>&1 \
    || { cat "$WORK/browser.log" >&2; fail "the browser test failed (above)"; }
cat "$WORK/browser.log" >&2
pass
