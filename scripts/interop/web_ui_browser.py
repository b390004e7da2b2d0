"""The web UI in headless Chromium (Playwright), for test-web-ui.sh: pages, actions checked through
the API, live updates without a reload, escaping. Usage: web_ui_browser.py API_URL BACKUP_DIR"""
import json, sys
import web_ui_common as common
from playwright.sync_api import expect, sync_playwright

API = sys.argv[1]
BACKUP_DIR = sys.argv[2]
LIVE_SECONDS = 15  # the event stream coalesces status changes for up to 5 s (docs/api.md)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def api(method, path, body=None):
    return common.api(API, method, path, body)


def wait_api(what, check, seconds=30):
    common.wait_until(what, check, seconds)


def create_through_form(page, name):
    """The volume list's create form, filled for a 64 MiB volume with one replica, and sent."""
    page.goto(API + "/ui/volumes")
    page.fill("input[name=name]", name)
    page.fill("input[name=size]", "64Mi")
    page.fill("input[name=numberOfReplicas]", "1")
    page.get_by_role("button", name="Create").click()


def main():
    with sync_playwright() as p:
        browser = common.launch(p)
        page = browser.new_page()
        problems = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

        # Every page renders, with its heading, and the navigation reaches it.
        page.goto(API + "/")
        expect(page.locator("h1")).to_have_text("Dashboard")
        pages = ["Volumes", "Nodes", "Backups", "Recurring jobs", "Backing images", "System backups", "Settings", "Events", "Dashboard"]
        for label in pages:
            page.get_by_role("navigation", name="Pages").get_by_role("link", name=label, exact=True).click()
            expect(page.locator("h1")).to_have_text(label)
        print("pages:", ", ".join(pages), "render and link")

        # Settings: a value the API refuses shows its message beside the field; a good one is kept.
        page.goto(API + "/ui/settings")
        form = page.locator("form[data-api='PUT /v1/settings/default-replica-count']")
        form.locator("input[name=value]").fill("99")
        form.get_by_role("button", name="Save").click()
        expect(form.locator(".error")).to_contain_text("default-replica-count")
        refusal = form.locator(".error").inner_text()
        form.locator("input[name=value]").fill("1")
        form.get_by_role("button", name="Save").click()
        wait_api("default-replica-count = 1", lambda: api("GET", "/v1/settings/default-replica-count")[1]["value"] == "1")
        expect(form.locator(".error")).to_have_text("")
        problems[:] = [p for p in problems if "status of 422" not in p and "status of 400" not in p]  # the refusal asked for
        print("settings: refused with the API's message (" + refusal + "), then set")

        # The backup target through its form.
        page.goto(API + "/ui/backups")
        page.fill("input[name=url]", "file://" + BACKUP_DIR)
        page.get_by_role("button", name="Set the backup target").click()
        wait_api("the backup target to be set", lambda: api("GET", "/v1/backuptargets/default")[1]["spec"]["url"] == "file://" + BACKUP_DIR)
        expect(page.locator("td", has_text="file://" + BACKUP_DIR)).to_be_visible(timeout=LIVE_SECONDS * 1000)
        print("backup target: set to file://" + BACKUP_DIR)

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

        # Back up snap1; the tree marks it once the backup completes; the API has it.
        page.get_by_role("button", name="Back up snap1").click()
        wait_api("snap1's backup to complete", lambda: any(
            b["spec"]["snapshotName"] == "snap1" and b["status"]["state"] == "Completed" for b in api("GET", "/v1/backups")[1]["items"]), 60)
        expect(page.locator(".tree li", has_text="snap1").locator(".badge", has_text="backed up")).to_be_visible(timeout=LIVE_SECONDS * 2000)
        print("backup: snap1 backed up and marked")

        # A second snapshot; then revert to snap1 (asks first, naming both): the head sits on snap1
        # again, as the API lists it; then snap2 is deleted through its button.
        page.fill("input[placeholder^='a name']", "snap2")
        page.get_by_role("button", name="Take a snapshot").click()
        expect(page.locator(".tree .snapshot", has_text="snap2")).to_be_visible(timeout=LIVE_SECONDS * 2000)
        def head_parent():
            listed = api("GET", "/v1/volumes/web1/snapshots")[1]
            return next((s.get("parent") for s in listed if s["name"] == "volume-head"), None)
        assert head_parent() == "snap2", head_parent()
        page.get_by_role("button", name="Revert to snap1").click()
        assert "web1" in dialogs[-1] and "snap1" in dialogs[-1], dialogs
        wait_api("the head to sit on snap1 after the revert", lambda: head_parent() == "snap1")
        print("revert: confirmed (" + dialogs[-1] + "); the head is on snap1")
        page.get_by_role("button", name="Delete snap2").click()
        assert "snap2" in dialogs[-1], dialogs
        def snap2_gone():
            listed = api("GET", "/v1/volumes/web1/snapshots")[1]
            return not any(s["name"] == "snap2" and not s.get("removed") for s in listed)
        wait_api("snap2 to be deleted", snap2_gone)
        print("snapshot delete: snap2 deleted")

        # Expand and scale through their forms.
        page.fill("input[name=size][placeholder^='e.g.']", "128Mi")
        page.get_by_role("button", name="Expand").click()
        wait_api("web1 to be 128 MiB", lambda: api("GET", "/v1/volumes/web1")[1]["spec"]["size"] == 128 << 20)
        page.fill("input[name=replicaCount]", "2")
        page.get_by_role("button", name="Scale").click()
        wait_api("web1 to want 2 replicas", lambda: api("GET", "/v1/volumes/web1")[1]["spec"]["numberOfReplicas"] == 2)
        page.fill("input[name=replicaCount]", "1")
        page.get_by_role("button", name="Scale").click()
        wait_api("web1 to want 1 replica", lambda: api("GET", "/v1/volumes/web1")[1]["spec"]["numberOfReplicas"] == 1)
        print("expand and scale: 128 MiB, 2 then 1 replicas")

        # A change made elsewhere (the API) shows on the open page, with no reload.
        status, _ = api("POST", "/v1/volumes/web1/detach", {})
        assert status == 200, status
        expect(page.locator("[data-field=state]")).to_have_text("detached", timeout=LIVE_SECONDS * 2000)
        assert page.evaluate("window.__notReloaded") is True, "the page reloaded"
        print("live: the API's detach shown without a reload")

        # Restore snap1's backup as a new volume from the backups page.
        backup = next(b for b in api("GET", "/v1/backups")[1]["items"] if b["spec"]["snapshotName"] == "snap1")
        page.goto(API + "/ui/backups")
        row = page.locator("tr", has_text=backup["metadata"]["name"])
        row.locator("input[name=name]").fill("web1r")
        row.get_by_role("button", name="Restore").click()
        page.wait_for_url("**/ui/volumes/web1r")
        status, restored = api("GET", "/v1/volumes/web1r")
        assert status == 200 and restored["spec"].get("fromBackup") == backup["status"]["url"], restored["spec"]
        print("restore: web1r from", backup["status"]["url"])

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

        # Back up now (a new snapshot of the attached volume), then Detach, through the page's buttons.
        status, _ = api("POST", "/v1/volumes/web1/attach", {})
        assert status == 200, status
        page.goto(API + "/ui/volumes/web1")
        expect(page.get_by_role("button", name="Detach", exact=True)).to_be_visible(timeout=LIVE_SECONDS * 2000)
        web1_backups = lambda: [b for b in api("GET", "/v1/backups")[1]["items"] if b["spec"]["volumeName"] == "web1"]
        before = len(web1_backups())
        page.get_by_role("button", name="Back up now").click()
        wait_api("one more backup of web1", lambda: len(web1_backups()) == before + 1)
        page.get_by_role("button", name="Detach", exact=True).click()
        wait_api("web1 detached through its button", lambda: api("GET", "/v1/volumes/web1")[1]["status"]["state"] == "detached")
        print("back up now and detach: through the buttons")

        # Delete asks first, naming the volume; then the API has it gone.
        page.goto(API + "/ui/volumes/web1")
        page.get_by_role("button", name="Delete volume", exact=True).click()
        page.wait_for_url("**/ui/volumes")
        assert dialogs and "web1" in dialogs[-1], dialogs
        wait_api("web1 to be deleted", lambda: api("GET", "/v1/volumes/web1")[0] == 404)
        print("delete: confirmed (" + dialogs[-1] + ") and gone")

        # Evict asks first, naming the node; the API records it (then it is taken back by the API).
        page.goto(API + "/ui/nodes")
        page.get_by_role("button", name="Evict", exact=True).first.click()
        assert "local" in dialogs[-1], dialogs
        wait_api("the node's eviction asked for", lambda: api("GET", "/v1/nodes")[1]["items"][0]["spec"]["evictionRequested"] is True)
        def take_back_eviction():  # at the version just read; a heartbeat in between is a 409: read again
            node = api("GET", "/v1/nodes")[1]["items"][0]
            node["spec"]["evictionRequested"] = False
            status, answer = api("PUT", "/v1/nodes/" + node["metadata"]["name"],
                                 {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"], "labels": node["metadata"].get("labels") or {}},
                                  "spec": node["spec"]})
            assert status in (200, 409), (status, answer)
            return status == 200
        wait_api("the eviction taken back", take_back_eviction)
        print("evict: confirmed (" + dialogs[-1] + ") and recorded")

        assert not problems, "the browser reported: " + "; ".join(problems)
        browser.close()


if __name__ == "__main__":
    main()
