#!/usr/bin/env bash
# Issue 3, acceptance 6: bad input to the manager's API. schemathesis generates valid and invalid
# requests from /v1/openapi.json; the server must answer no 5xx, never violate its own schema,
# refuse what the schema forbids, answer unknown methods with 405, and keep running.
# positive_data_acceptance is checked wherever the document states every rule; the operations that
# also refuse values a schema cannot state (a setting's range, shrinking a volume) are listed, with
# why, in schemathesis-manager.toml and schemathesis-engine.toml beside this script.
# The two long polls (watch, assignments) wait up to 30 s per call; they are checked by hand below.
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lib.sh"
setup schemathesis curl
start_server
# First the engine control API of an attached volume, through the node agent's control port
# (before the manager's fuzzing changes settings and nodes). Positive data may be refused: a
# schema-valid snapshot name need not exist (409).
CONTROL="http://127.0.0.1:$((BASE_PORT + 63))"
corral volume create engine-fuzz --size 64Mi --replicas 1 >/dev/null
corral volume attach engine-fuzz --node local >/dev/null
wait_for 60 "engine-fuzz to be attached" volume_state_is engine-fuzz attached
log "fuzzing the engine control API with schemathesis"
if ! schemathesis --config-file "$HERE/schemathesis-engine.toml" run "$CONTROL/v1/openapi.json" \
        --url "$CONTROL/v1/engines/engine-fuzz" --max-examples 25 --workers 1 \
        --request-timeout 20 --suppress-health-check=filter_too_much \
        >"$WORK/schemathesis-engine.log" 2>&1; then
    grep -E "^_+ |^- |Expected|Reproduce|curl " "$WORK/schemathesis-engine.log" | head -60 >&2
    fail "schemathesis found problems in the engine control API (above)"
fi
tail -5 "$WORK/schemathesis-engine.log" >&2

corral volume create seed --size 1Gi --replicas 1 >/dev/null
log "fuzzing the API with schemathesis"
if ! schemathesis --config-file "$HERE/schemathesis-manager.toml" run "$CORRAL_API/v1/openapi.json" \
        --max-examples 25 --workers 2 --request-timeout 20 --exclude-path-regex '^/v1/(watch|events/stream|nodes/\{name\}/assignments)$' \
        >"$WORK/schemathesis.log" 2>&1; then
    grep -E "^_+ |^- |Expected|Reproduce|curl " "$WORK/schemathesis.log" | head -60 >&2
    fail "schemathesis found problems (above)"
fi
tail -5 "$WORK/schemathesis.log" >&2


# schemathesis may have deleted the seed volume; a fresh one serves the checks below.
corral volume create after-fuzz --size 1Gi --replicas 1 >/dev/null
code() { curl -s -o "$WORK/body" -w "%{http_code}" "$@"; }
expect_code() { local want=$1; shift; local got; got=$(code "$@"); [ "$got" = "$want" ] || fail "$* answered $got, expected $want: $(cat "$WORK/body")"; grep -q '"error"' "$WORK/body" || [ "$want" = 200 ] || fail "$* gave no error message"; }
expect_code 400 "$CORRAL_API/v1/watch?after=abc"
expect_code 400 "$CORRAL_API/v1/watch?wait=31"
expect_code 400 "$CORRAL_API/v1/nodes/local/assignments?after=-1"
expect_code 200 "$CORRAL_API/v1/watch?after=0&wait=0"
expect_code 200 "$CORRAL_API/v1/nodes/local/assignments?wait=0"
expect_code 413 -X POST -H 'Content-Type: application/json' --data-binary @<(head -c 2000000 /dev/zero | tr '\0' ' ') "$CORRAL_API/v1/volumes"
expect_code 400 -X POST -H 'Content-Type: application/json' -d '{"name":"x","size":"1Gi","colour":"red"}' "$CORRAL_API/v1/volumes"
expect_code 400 -X POST -H 'Content-Type: application/json' -d '{"name":"x","size":true}' "$CORRAL_API/v1/volumes"
expect_code 409 -X PUT -H 'Content-Type: application/json' \
    -d '{"metadata":{"resourceVersion":1},"spec":{"size":1073741824,"numberOfReplicas":1,"nodeID":"","staleReplicaTimeout":5,"nodeSelector":[],"diskSelector":[]}}' \
    "$CORRAL_API/v1/volumes/after-fuzz"
expect_code 404 "$CORRAL_API/v1/nonsense"
expect_code 405 -X PATCH "$CORRAL_API/v1/volumes"
kill -0 "$SERVER_PID" || fail "the server died"
expect_code 200 "$CORRAL_API/v1/volumes"
pass
