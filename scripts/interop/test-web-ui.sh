#!/usr/bin/env bash
# Issue 22, first pages, in a real browser (Playwright driving Debian's headless Chromium) against
# `corral server`: every page renders and links; a setting refused with the API's message, then set;
# the backup target set; a volume created, attached, snapshotted, backed up, reverted, expanded,
# scaled and deleted, a snapshot deleted, a backup restored, a node cordoned, all through the
# pages' controls, each checked through the API; a change made through the
# API shows on the open page without a reload (the event stream); a hostile label and event message
# render as text; the browser's console stays free of errors; a cross-site form post is refused.
# Then (web_ui_a11y.py) axe-core finds no serious or critical violation on any page, Tab alone
# reaches every control, and a form and a button are operated from the keyboard alone.
source "$(dirname "$0")/lib.sh"
setup curl python3 chromium
python3 -c 'import playwright, axe_playwright_python' 2>/dev/null || fail "Playwright or axe-playwright-python (pip) is missing; run scripts/install-test-deps.sh"
start_server

mkdir -p "$WORK/backups"
python3 "$ROOT/scripts/interop/web_ui_browser.py" "$CORRAL_API" "$WORK/backups" >"$WORK/browser.log" 2>&1 \
    || { cat "$WORK/browser.log" >&2; fail "the browser test failed (above)"; }
cat "$WORK/browser.log" >&2
python3 "$ROOT/scripts/interop/web_ui_a11y.py" "$CORRAL_API" >"$WORK/a11y.log" 2>&1 \
    || { cat "$WORK/a11y.log" >&2; fail "the accessibility test failed (above)"; }
cat "$WORK/a11y.log" >&2

# A form on another site posting to the manager: a browser sends it as a simple cross-site request
# (form encoding, Origin of that site). Refused before any handler runs, and nothing is created.
code=$(curl -s -o "$WORK/xsite.json" -w '%{http_code}' -X POST -H 'User-Agent: Mozilla/5.0' \
    -H 'Origin: http://evil.example' -H 'Sec-Fetch-Site: cross-site' \
    -H 'Content-Type: application/x-www-form-urlencoded' --data 'name=stolen&size=1Gi' "$CORRAL_API/v1/volumes")
[ "$code" = 403 ] || fail "a cross-site form post answered $code: $(cat "$WORK/xsite.json")"
# The same post as a browser without Sec-Fetch-* sends it (plain HTTP to a name): only its Origin.
code=$(curl -s -o "$WORK/xsite.json" -w '%{http_code}' -X POST -H 'User-Agent: Mozilla/5.0' -H 'Origin: http://evil.example' \
    -H 'Content-Type: text/plain' --data '{"name": "stolen", "size": "1Gi"}' "$CORRAL_API/v1/volumes")
[ "$code" = 403 ] || fail "a cross-site post with only its Origin answered $code: $(cat "$WORK/xsite.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$CORRAL_API/v1/volumes/stolen")
[ "$code" = 404 ] || fail "the cross-site post created a volume (GET answered $code)"
pass
