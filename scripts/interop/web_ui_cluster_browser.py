"""Live updates in headless Chromium, for test-web-ui-cluster.sh (issue 22, acceptance 2).
Usage: web_ui_cluster_browser.py API_URL VOLUME NODE_PID_TO_KILL

With the volume's page open and never reloaded: the node process is killed; the page must show the
volume degraded within 2 s of the API first reporting it; the rebuild that follows must show its
progress moving; then, on the backups page, a backup's progress must move to 100%."""
import os, signal, sys, time
import web_ui_common as common
from playwright.sync_api import sync_playwright

API, VOLUME, VICTIM = sys.argv[1], sys.argv[2], int(sys.argv[3])
ON_SCREEN_WITHIN = 2.0  # seconds after the API reports it (the acceptance's bound)


def api(method, path, body=None):
    status, answer = common.api(API, method, path, body)
    assert 200 <= status < 300, f"{method} {path}: {status} {answer}"
    return answer


def sample(seconds, step):
    """Calls step() every 50 ms until it returns True or `seconds` pass; False on timeout."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if step():
            return True
        time.sleep(0.05)
    return False


def progress_values(page, selector):
    return [int(v) for v in page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.getAttribute('value'))") if v is not None]


def main():
    with sync_playwright() as p:
        browser = common.launch(p)
        page = browser.new_page()
        problems = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(f"{API}/ui/volumes/{VOLUME}")
        page.locator("[data-field=robustness]").wait_for()
        assert page.locator("[data-field=robustness]").inner_text() == "healthy"
        page.evaluate("window.__notReloaded = true")

        # Kill the node; watch the API and the page side by side.
        os.kill(VICTIM, signal.SIGKILL)
        killed = time.monotonic()
        seen = {}
        def degraded_both():
            now = time.monotonic()
            if "api" not in seen and api("GET", f"/v1/volumes/{VOLUME}")["status"]["robustness"] == "degraded":
                seen["api"] = now
            if "page" not in seen and page.locator("[data-field=robustness]").inner_text() == "degraded":
                seen["page"] = now
            return "api" in seen and "page" in seen
        assert sample(60, degraded_both), f"degraded not seen on both within 60 s of the kill: {seen}"
        lag = seen["page"] - seen["api"]
        print(f"degraded: API {seen['api'] - killed:.2f} s after the kill, page {seen['page'] - killed:.2f} s (lag {lag:.2f} s)")
        assert lag <= ON_SCREEN_WITHIN, f"the page showed degraded {lag:.2f} s after the API reported it (bound {ON_SCREEN_WITHIN} s)"

        # The rebuild on another node: its progress must move on the page.
        rebuild = set()
        def rebuilt():
            rebuild.update(progress_values(page, "progress[aria-label^='rebuild of']"))
            return page.locator("[data-field=robustness]").inner_text() == "healthy"
        assert sample(180, rebuilt), f"not healthy again within 180 s; rebuild progress seen: {sorted(rebuild)}"
        moving = sorted(v for v in rebuild if v < 100)
        print("rebuild progress seen on the page:", sorted(rebuild))
        assert len(moving) >= 2 and any(0 < v < 100 for v in moving), f"the rebuild's progress did not move on screen: {sorted(rebuild)}"

        assert page.evaluate("window.__notReloaded") is True, "the volume's page reloaded"

        # A backup, with the backups page open: its progress moves to 100%.
        page.goto(f"{API}/ui/backups")
        page.evaluate("window.__notReloaded = true")
        made = api("POST", f"/v1/volumes/{VOLUME}/snapshotBackup", {})
        name = made["metadata"]["name"]
        progress = []
        def backed_up():
            values = progress_values(page, f"progress[aria-label='backup {name}']")
            if values and (not progress or progress[-1] != values[0]):
                progress.append(values[0])
            return bool(progress) and progress[-1] == 100
        assert sample(180, backed_up), f"backup {name} did not reach 100% on the page: {progress}"
        print(f"backup progress seen on the page: {progress}")
        assert any(0 < v < 100 for v in progress), f"the backup's progress did not move on screen (no value between 0 and 100): {progress}"
        assert page.evaluate("window.__notReloaded") is True, "the page reloaded"
        assert not problems, "; ".join(problems)
        browser.close()


if __name__ == "__main__":
    main()
