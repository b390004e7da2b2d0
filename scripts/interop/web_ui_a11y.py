"""Accessibility of the web UI in headless Chromium, for test-web-ui.sh (issue 22, acceptance 3):
axe-core (axe-playwright-python) finds no serious or critical violation on any page; Tab alone
reaches every control on every page; controls are operated from the keyboard alone.
Usage: web_ui_a11y.py API_URL"""
import sys
import web_ui_common as common
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

API = sys.argv[1]
PAGES = ["/", "/ui/volumes", "/ui/volumes/web2", "/ui/nodes", "/ui/backups", "/ui/recurringjobs", "/ui/backingimages",
         "/ui/systembackups", "/ui/settings", "/ui/events"]
CONTROLS = "main a[href], main button, main input:not([type=hidden]), main select"


def api(path):
    return common.api(API, "GET", path)[1]


def tab_through(page):
    """Tabs from the top of the page until focus comes back around; the controls of main it reached."""
    page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")
    page.locator("body").focus()
    reached, first = set(), None
    for _ in range(2000):
        page.keyboard.press("Tab")
        marker = page.evaluate("""() => { const e = document.activeElement; if (!e || e === document.body) return null;
            if (!e.dataset.tabMark) e.dataset.tabMark = String(Math.random()); return e.dataset.tabMark; }""")
        if marker is None:
            continue
        if marker == first:
            break
        first = first or marker
        reached.add(marker)
    return reached


def main():
    axe = Axe()
    with sync_playwright() as p:
        browser = common.launch(p)
        page = browser.new_page()
        page.on("dialog", lambda d: d.accept())
        # No live refreshes while controls are counted: a refresh replaces the marked elements.
        page.route("**/v1/events/stream*", lambda route: route.abort())
        # axe itself finds what it should: an image with no text alternative is critical.
        page.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body><main><img src="data:,"></main></body></html>')
        found = [v["id"] for v in axe.run(page).response["violations"]]
        assert "image-alt" in found, f"axe did not flag an image without alt: {found}"
        for path in PAGES:
            page.goto(API + path)
            page.wait_for_load_state("networkidle")
            violations = axe.run(page).response["violations"]
            bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
                   for v in violations if v.get("impact") in ("serious", "critical")]
            assert not bad, f"axe on {path}: " + "; ".join(bad)
            # Every control in main is reached by Tab alone (each gets a mark the first time it has focus).
            reached = tab_through(page)
            controls = page.eval_on_selector_all(CONTROLS, "nodes => nodes.map(n => n.dataset.tabMark ?? (n.outerHTML.slice(0, 120)))")
            missed = [c for c in controls if c not in reached]
            assert not missed, f"Tab does not reach these controls on {path}: {missed[:5]}"
            print(f"{path}: axe finds no serious or critical violation ({len(violations)} minor); Tab reaches all {len(controls)} controls")

        # Operated from the keyboard alone: a volume created through the form (Tab, type, Enter).
        page.goto(API + "/ui/volumes")
        page.locator("body").focus()
        for _ in range(400):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement?.name") == "name" and page.evaluate("!!document.activeElement.closest('form[data-api]')"):
                break
        else:
            raise AssertionError("Tab never reached the create form's name field")
        page.keyboard.type("keys1")
        page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("32Mi")
        page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("1")
        page.keyboard.press("Enter")
        page.wait_for_url("**/ui/volumes/keys1")
        assert api("/v1/volumes/keys1")["spec"]["size"] == 32 << 20
        print("keyboard: volume keys1 created with Tab, typing and Enter")

        # A button pressed from the keyboard: cordon the node with Tab and Space.
        page.goto(API + "/ui/nodes")
        page.locator("body").focus()
        for _ in range(400):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement?.textContent") == "Cordon":
                break
        else:
            raise AssertionError("Tab never reached Cordon")
        page.keyboard.press("Space")
        common.wait_until("the node cordoned from the keyboard", lambda: api("/v1/nodes")["items"][0]["spec"]["allowScheduling"] is False)
        expect(page.get_by_role("button", name="Uncordon", exact=True)).to_be_visible(timeout=15000)
        page.get_by_role("button", name="Uncordon", exact=True).focus()
        page.keyboard.press("Enter")
        common.wait_until("the node uncordoned from the keyboard", lambda: api("/v1/nodes")["items"][0]["spec"]["allowScheduling"] is True)
        print("keyboard: node cordoned with Space and uncordoned with Enter")
        browser.close()


if __name__ == "__main__":
    main()
