#!/usr/bin/env bash
# Acceptance 5: snapshots across 3 replicas. write A, s1, write B, s2, write C; revert to s1 reads A;
# delete s1 and purge keeps every remaining snapshot's data and the head's; 1,000 snapshots in one chain.
source "$(dirname "$0")/lib.sh"
setup qemu-io curl
for i in 1 2 3; do start_replica $i; done
start_engine 256Mi 3

io() { qemu-io -f raw "$@" "$NBD_URI" 2>&1 | { grep -iE "fail|mismatch|error|Pattern verification" || true; }; }
check() { local out; out=$(io "$@"); [ -z "$out" ] || fail "$out"; }

check -c "write -P 0xa1 0 1M" -c "write -P 0xa1 8M 64k"
engine snapshot create s1 --label purpose=test >/dev/null || fail "snapshot s1"
check -c "write -P 0xb2 0 512k" -c "write -P 0xb2 4M 1M"
engine snapshot create s2 >/dev/null || fail "snapshot s2"
check -c "write -P 0xc3 256k 512k" -c "write -z 8M 4k"
engine snapshot create s3 >/dev/null || fail "snapshot s3"
check -c "write -P 0xd4 100M 1M"

state_s1=(-c "read -P 0xa1 0 1M" -c "read -P 0 4M 1M" -c "read -P 0xa1 8M 64k" -c "read -P 0 100M 1M")
state_s2=(-c "read -P 0xb2 0 512k" -c "read -P 0xa1 512k 512k" -c "read -P 0xb2 4M 1M" -c "read -P 0xa1 8M 64k")
state_s3=(-c "read -P 0xb2 0 256k" -c "read -P 0xc3 256k 512k" -c "read -P 0xa1 768k 256k" -c "read -P 0xb2 4M 1M" -c "read -P 0 8M 4k" -c "read -P 0xa1 8M+4k 60k" -c "read -P 0 100M 1M")
state_s3=("${state_s3[@]//8M+4k/8392704}")

engine snapshot revert s1 >/dev/null || fail "revert to s1"
check "${state_s1[@]}"
log "revert to s1 reads A"
engine snapshot revert s2 >/dev/null || fail "revert to s2"
check "${state_s2[@]}"
engine snapshot rm s1 >/dev/null || fail "rm s1"
purged=$(engine snapshot purge) || fail "purge"
grep -q '"s1"' <<<"$purged" || fail "purge did not remove s1: $purged"
check "${state_s2[@]}"
engine snapshot ls -o json | python3 -c 'import json,sys; names=[s["name"] for s in json.load(sys.stdin)]; assert "s1" not in names and "s2" in names and "s3" in names, names' \
    || fail "snapshot list after purge is wrong"
engine snapshot revert s3 >/dev/null || fail "revert to s3"
check "${state_s3[@]}"
log "after purging s1, s2 and s3 keep their data"
engine snapshot verify >/dev/null || fail "verify found a changed layer"
sums=$(engine checksums) || fail "checksums"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=list(d.values()); assert len(v)==3 and all(x==v[0] for x in v), d' "$sums" \
    || fail "replicas' layer checksums differ: $sums"

# Names that were once routes, and the widest the name rule allows, round-trip: create, ls, revert, rm.
widest="0$(printf 'a.-9%.0s' $(seq 1 15))yz"   # 63 bytes of every character the rule takes
[ ${#widest} -eq 63 ] || fail "test bug: widest name is ${#widest} bytes"
for name in purge verify revert snapshots checksums a..b "$widest"; do
    check -c "write -P 0x5e 0 4k"
    engine snapshot create "$name" >/dev/null || fail "snapshot create $name"
    check -c "write -P 0x6f 0 4k"
    engine snapshot ls -o json | python3 -c 'import json,sys; assert sys.argv[1] in [s["name"] for s in json.load(sys.stdin)]' "$name" \
        || fail "snapshot $name is not listed"
    engine snapshot revert "$name" >/dev/null || fail "revert to $name"
    check -c "read -P 0x5e 0 4k"
    engine snapshot rm "$name" >/dev/null || fail "snapshot rm $name"
    engine snapshot ls -o json | python3 -c 'import json,sys; assert [s["removed"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]] == [True]' "$name" \
        || fail "snapshot $name is not marked removed"
done
for bad in Upper_Case volume-head "${widest}x" trail- a/b; do
    out=$(engine snapshot create "$bad" 2>&1) && fail "snapshot name $bad was accepted"
    grep -qiE "lower-case|volume-head|longer than" <<<"$out" || fail "refusal of $bad does not say the rule: $out"
done
purged=$(engine snapshot purge) || fail "purge after the name round trips"
grep -q '"purge"' <<<"$purged" && grep -q '"verify"' <<<"$purged" || fail "purge did not fold the snapshots named purge and verify: $purged"
log "snapshots named purge, verify, revert, snapshots, checksums, a..b and a 63-byte name round-trip; names outside the rule are refused"
code=$(curl -s -o "$WORK/csrf.json" -w '%{http_code}' -X POST -H 'Origin: http://evil.example' -H 'Content-Type: text/plain' \
    -d '{"name":"from-a-page"}' "http://$CONTROL/v1/snapshots")
[ "$code" = 403 ] || fail "a web page's snapshot request answered $code: $(cat "$WORK/csrf.json")"
code=$(curl -s -o "$WORK/form.json" -w '%{http_code}' -X POST -d '{"name":"form-body"}' "http://$CONTROL/v1/snapshots")
[ "$code" = 415 ] || fail "a form-encoded body answered $code: $(cat "$WORK/form.json")"
engine snapshot ls -o json | python3 -c 'import json,sys; assert not {"from-a-page","form-body"} & {s["name"] for s in json.load(sys.stdin)}' \
    || fail "a refused request made a snapshot"
engine snapshot revert s3 >/dev/null || fail "revert to s3 after the name round trips"
check "${state_s3[@]}"

# 1,000 snapshots in one chain, a small write between every tenth.
for i in $(seq 1 1000); do
    if [ $((i % 100)) -eq 0 ]; then check -c "write -P $((i / 100)) $((i * 64))k 4k"; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "{\"name\":\"bulk-$i\"}" "http://$CONTROL/v1/snapshots")
    [ "$code" = 200 ] || fail "snapshot bulk-$i answered HTTP $code"
done
count=$(engine snapshot ls -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$count" -ge 1002 ] || fail "expected at least 1002 layers, found $count"
for i in $(seq 1 10); do check -c "read -P $i $((i * 6400))k 4k"; done
check "${state_s3[@]:0:6}"
log "1,000 snapshots in one chain; data intact"
pass
