#!/usr/bin/env bash
# Runs every test: the Swift unit and property tests, then the interop suite against real clients.
# Needs the tools from scripts/install-test-deps.sh (a missing tool fails the test that needs it).
set -uo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check-imports.py || { echo "check-imports: 0 passed, 1 failed"; exit 1; }
swift build --build-tests || { echo "build: 0 passed, 1 failed"; exit 1; }
swift test --skip-build 2>&1 | tee /tmp/corral-swift-test.log
swift_status=${PIPESTATUS[0]}
bash scripts/interop/run-all.sh 2>&1 | tee /tmp/corral-interop.log
interop_status=${PIPESTATUS[0]}
unit_passed=$(grep -cE '^✔ Test .* passed' /tmp/corral-swift-test.log || true)
unit_failed=$(grep -cE '^✘ Test .* failed' /tmp/corral-swift-test.log || true)
interop_passed=$(grep -cE '^ok   ' /tmp/corral-interop.log || true)
interop_failed=$(grep -cE '^FAIL ' /tmp/corral-interop.log || true)
[ "$swift_status" -eq 0 ] || [ "$unit_failed" -gt 0 ] || unit_failed=1
echo "swift test exit $swift_status, interop exit $interop_status"
echo "all: $((unit_passed + interop_passed)) passed, $((unit_failed + interop_failed)) failed"
[ "$swift_status" -eq 0 ] && [ "$interop_status" -eq 0 ]
