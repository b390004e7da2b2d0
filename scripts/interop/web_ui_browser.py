"""The web UI in headless Chromium (Playwright), for test-web-ui.sh: pages, actions checked through
the API, live updates without a reload, escaping. Usage: web_ui_browser.py API_URL"""
import json, shutil, sys, time, urllib.error, urllib.request
from playwright.sync_api import expect, sync_playwright

API = sys.argv[1]
LIVE_SECONDS = 15  # the event stream coalesces status changes for up to 5 s (docs/api.md)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(API + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_api(what, check, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def create_through_form(page, name):
    """The volume list's create form, filled for a 64 MiB volume with one replica, and sent."""
    page.goto(API + "/ui/volumes")
    page.fill("input[name=name]", name)
    page.fill("input[name=size]", "64Mi")
    page.fill("input[name=numberOfReplicas]", "1")
    page.get_by_role("button", name="Create").click()


def main():
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        problems = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

        # Every page renders, with its heading, and the navigation reaches it.
        page.goto(API + "/")
        expect(page.locator("h1")).to_have_text("Dashboard")
        for label, heading in [("Volumes", "Volumes"), ("Nodes", "Nodes"), ("Events", "Events"), ("Dashboard", "Dashboard")]:
            page.get_by_role("navigation", name="Pages").get_by_role("link", name=label).click()
            expect(page.locator("h1")).to_have_text(heading)
        print("pages: dashboard, volumes, nodes, events render and link")

        # Create a volume through the form; the page moves to it; the API has it as asked.
        create_through_form(page, "web1")
        page.wait_for_url("**/ui/volumes/web1")
        status, volume = api("GET", "/v1/volumes/web1")
        assert status == 200 and volume["spec"]["size"] == 64 << 20 and volume["spec"]["numberOfReplicas"] == 1, volume
        print("create: web1 created through the form")

        # A refusal shows the API's message beside the form.
        create_through_form(page, "web1")
        expect(page.locator("form[data-api] .error")).to_contain_text("web1")
        print("refusal: the API's message shown:", page.locator("form[data-api] .error").inner_text())
        # Chromium logs the refused request (409) as a console error: that one was asked for.
        problems[:] = [p for p in problems if "status of 409" not in p]

        # Attach through the button; the state on the page follows; the API agrees.
        page.goto(API + "/ui/volumes/web1")
        expect(page.locator("[data-field=state]")).to_have_text("detached", timeout=LIVE_SECONDS * 1000)
        page.evaluate("window.__notReloaded = true")
        page.get_by_role("button", name="Attach").click()
        expect(page.locator("[data-field=state]")).to_have_text("attached", timeout=LIVE_SECONDS * 2000)
        status, volume = api("GET", "/v1/volumes/web1")
        assert volume["status"]["state"] == "attached", volume["status"]
        expect(page.locator("code")).to_have_text(volume["status"]["endpoint"])
        print("attach: attached, NBD URI", volume["status"]["endpoint"])

        # A snapshot through the form shows in the tree once the engine reports it.
        page.fill("input[placeholder^='a name']", "snap1")
        page.get_by_role("button", name="Take a snapshot").click()
        expect(page.locator(".tree .snapshot", has_text="snap1")).to_be_visible(timeout=LIVE_SECONDS * 2000)
        status, snapshots = api("GET", "/v1/volumes/web1/snapshots")
        assert status == 200 and "snap1" in json.dumps(snapshots), snapshots
        print("snapshot: snap1 taken and shown")

        # A change made elsewhere (the API) shows on the open page, with no reload.
        status, _ = api("POST", "/v1/volumes/web1/detach", {})
        assert status == 200, status
        expect(page.locator("[data-field=state]")).to_have_text("detached", timeout=LIVE_SECONDS * 2000)
        assert page.evaluate("window.__notReloaded") is True, "the page reloaded"
        print("live: the API's detach shown without a reload")

        # A hostile label renders as text, in the list and on the volume's page.
        status, _ = api("POST", "/v1/volumes", {"name": "web2", "size": "16Mi", "numberOfReplicas": 1, "labels": {"note": HOSTILE}})
        assert status in (200, 201), status
        page.goto(API + "/ui/volumes?q=web2")
        expect(page.locator(".label")).to_have_text("note=" + HOSTILE)
        assert page.locator("main script, main img").count() == 0, "the label became elements"
        page.goto(API + "/ui/volumes/web2")
        expect(page.locator(".label")).to_have_text("note=" + HOSTILE)
        print("escaping: a <script> label is text")

        # Cordon and uncordon the node; the API follows.
        page.goto(API + "/ui/nodes")
        page.get_by_role("button", name="Cordon", exact=True).first.click()
        expect(page.get_by_role("button", name="Uncordon", exact=True).first).to_be_visible(timeout=LIVE_SECONDS * 1000)
        status, nodes = api("GET", "/v1/nodes")
        assert nodes["items"][0]["spec"]["allowScheduling"] is False, nodes["items"][0]["spec"]
        page.get_by_role("button", name="Uncordon", exact=True).first.click()
        expect(page.get_by_role("button", name="Cordon", exact=True).first).to_be_visible(timeout=LIVE_SECONDS * 1000)
        status, nodes = api("GET", "/v1/nodes")
        assert nodes["items"][0]["spec"]["allowScheduling"] is True, nodes["items"][0]["spec"]
        print("nodes: cordoned and uncordoned")

        # Delete asks first, naming the volume; then the API has it gone.
        page.goto(API + "/ui/volumes/web1")
        page.get_by_role("button", name="Delete").click()
        page.wait_for_url("**/ui/volumes")
        assert dialogs and "web1" in dialogs[-1], dialogs
        wait_api("web1 to be deleted", lambda: api("GET", "/v1/volumes/web1")[0] == 404)
        print("delete: confirmed (" + dialogs[-1] + ") and gone")

        assert not problems, "the browser reported: " + "; ".join(problems)
        browser.close()


if __name__ == "__main__":
    main()
