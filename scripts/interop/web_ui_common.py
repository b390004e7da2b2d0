"""What the web UI's browser tests share: calls to the API, bounded waits, the browser."""
import json, shutil, time, urllib.error, urllib.request


def api(base, method, path, body=None):
    """(HTTP status, JSON answer) of METHOD base+path, a refusal included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_until(what, check, seconds=30, step=0.2):
    """Calls check() until it is true; fails saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def launch(playwright):
    """Debian's Chromium, headless (Playwright's own browser download is not reachable here)."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                      args=["--no-sandbox", "--disable-gpu"])
