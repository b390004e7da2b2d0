#!/usr/bin/env bash
# Issue 19, acceptance 6: what the generated APIs cost and change, before and after. For each of two
# revisions, in a fresh clone with its packages resolved beforehand (not timed): a clean debug build
# with the tests (what CI builds), a clean release build, then the manager's API latency at COUNT
# volumes (scripts/bench/control-plane.sh, on that release build). Prints one line per revision.
#   BEFORE=<rev> AFTER=<rev> COUNT=1000 scripts/bench/build-and-api.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
BEFORE="${BEFORE:?the revision before, e.g. dce47ad}"
AFTER="${AFTER:-HEAD}"
COUNT="${COUNT:-1000}"
WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/corral-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
seconds() { local start=$SECONDS; "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; echo $((SECONDS - start)); }
for rev in "$BEFORE" "$AFTER"; do
    dir="$WORK/$(git rev-parse --short "$rev")"
    git clone -q "$REPO" "$dir"
    git -C "$dir" checkout -q "$(git rev-parse "$rev")"
    (cd "$dir" && swift package resolve >/dev/null 2>&1)
    debug=$(cd "$dir" && seconds swift build --build-tests)
    release=$(cd "$dir" && seconds swift build -c release --scratch-path .build-release)
    api=$(cd "$dir" && COUNT="$COUNT" bash scripts/bench/control-plane.sh | tail -1)
    echo "{\"rev\": \"$(git rev-parse --short "$rev")\", \"debug_s\": $debug, \"release_s\": $release, \"api\": $api}"
    rm -rf "$dir"
done
