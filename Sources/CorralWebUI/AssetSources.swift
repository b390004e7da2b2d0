/// The UI's stylesheet and its one script module, plain CSS and JavaScript: no build step, no
/// third-party code (docs/web-ui.md). The script only improves pages that read fine without it.
enum AssetSources {
    /// The tab's icon (browsers ask for one; without it every page logs a 404).
    static let icon = #"""
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="3" width="14" height="10" rx="2" fill="none" stroke="#0550ae" stroke-width="2"/><path d="M5 3v10M11 3v10" stroke="#0550ae" stroke-width="2"/></svg>
    """#

    static let css = #"""
    :root { color-scheme: light; --fg: #1b1f23; --muted: #57606a; --line: #d0d7de; --accent: #0550ae; --bad: #a40e26; --warn: #7d4e00; --good: #116329; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: #fff; }
    header { display: flex; gap: 2rem; align-items: center; padding: .5rem 1.5rem; border-bottom: 1px solid var(--line); }
    .brand { font-weight: 700; margin: 0; }
    nav ul { list-style: none; display: flex; gap: 1rem; margin: 0; padding: 0; flex-wrap: wrap; }
    nav a[aria-current] { font-weight: 700; text-decoration: underline; }
    a { color: var(--accent); }
    main { padding: 1rem 1.5rem; max-width: 80rem; }
    footer { padding: 1rem 1.5rem; color: var(--muted); border-top: 1px solid var(--line); font-size: 13px; }
    table { border-collapse: collapse; margin: .5rem 0 1rem; }
    th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid var(--line); vertical-align: top; }
    .counts { list-style: none; display: flex; gap: 1.5rem; padding: 0; }
    .label, .badge { display: inline-block; padding: 0 .4rem; border: 1px solid var(--line); border-radius: .6rem; font-size: 13px; }
    .robustness-healthy { color: var(--good); } .robustness-degraded { color: var(--warn); } .robustness-faulted { color: var(--bad); }
    .event-Warning { color: var(--warn); }
    .error { color: var(--bad); min-height: 1em; }
    .danger { color: var(--bad); }
    .muted { color: var(--muted); font-size: 13px; }
    .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .3rem; }
    form { margin: .5rem 0; } label { margin-right: 1rem; } form.inline { display: inline-block; margin-right: 2rem; }
    ul.plain { list-style: none; padding: 0; margin: 0; } .setting h2 { font-size: 1rem; margin-bottom: 0; }
    input, select, button { font: inherit; padding: .2rem .4rem; }
    button { cursor: pointer; }
    :focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
    dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
    dl.facts dd { margin: 0; }
    ul.tree, ul.tree ul { list-style: none; padding-left: 1.2rem; border-left: 1px solid var(--line); }
    """#

    static let js = #"""
    // Corral's web UI: actions through the REST API, and live updates from its event stream.
    // Pages are rendered by the manager and read fine without this script.

    const main = document.getElementById("main");

    // A control's identity across a refresh, which replaces every element: what it calls, on what
    // (data-arg-* and hidden inputs, as on a backups page with a restore form a row), and its name.
    function keyOf(node) {
      if (node.tagName === "A") return `a ${node.getAttribute("href")} ${node.textContent}`;
      // A plain form (the volume list's filter) by where it goes.
      const plain = node.closest("form:not([data-api])");
      if (plain) return `form ${plain.getAttribute("action")} ${node.name ?? node.tagName}`;
      const control = node.closest("[data-api]") ?? node.closest("form, .actions, td, li")?.querySelector("[data-api]");
      if (!control) return null;
      const args = Object.entries(control.dataset).filter(([k]) => k.startsWith("arg")).map(([k, v]) => `${k}=${v}`);
      const hidden = [...control.querySelectorAll("input[type=hidden]")].map((i) => `${i.name}=${i.value}`);
      // Buttons with one call and no arguments (Cordon, Evict) differ by what they send and say.
      const sends = node.tagName === "BUTTON" ? [node.dataset.spec ?? "", node.dataset.body ?? "", node.textContent] : [];
      return [control.dataset.api, ...args, ...hidden, ...sends, node.name ?? node.tagName].join(" ");
    }
    const find = (selector, key) => key === null ? undefined : [...main.querySelectorAll(selector)].find((n) => keyOf(n) === key);

    // Actions: an element with data-api="METHOD /path" sends its JSON to the API. A form sends its
    // fields (data-type="int" ones as numbers, empty ones left out); a button sends data-body, its
    // data-arg-NAME attributes as fields, or, with data-spec, the resource read fresh with that
    // change to its spec (the API replaces a spec at the resourceVersion read; a heartbeat may
    // change it meanwhile, so a conflict reads again once). data-confirm asks first; data-then goes
    // to a page after. Refreshes wait while an action runs, so its answer lands where it is shown.
    let acting = 0;
    async function send(element, body) {
      const [method, path] = element.dataset.api.split(" ");
      const errorKey = keyOf(element.closest("form, .actions, td, li")?.querySelector(".error") ?? element);
      const showError = (text) => { const error = find(".error", errorKey); if (error) error.textContent = text; };
      if (element.dataset.confirm && !window.confirm(element.dataset.confirm)) return;
      showError("");
      acting += 1;
      asked += 1;  // a refresh already on its way shows the page from before the action: dropped
      element.setAttribute("aria-busy", "true");
      try {
        let answer;
        for (let attempt = 0; ; attempt++) {
          try {
            if (element.dataset.spec) {
              const current = await call("GET", path);
              body = { metadata: { resourceVersion: current.metadata.resourceVersion, labels: current.metadata.labels ?? {} },
                       spec: { ...current.spec, ...JSON.parse(element.dataset.spec) } };
            }
            answer = await call(method, path, body);
            break;
          } catch (failure) {
            if (!(element.dataset.spec && failure.status === 409 && attempt === 0)) throw failure;
          }
        }
        if (element.tagName === "FORM") {  // done: what was typed is not typed again
          element.reset();
          for (const input of element.querySelectorAll("[data-typed]")) delete input.dataset.typed;
        }
        const then = element.dataset.then;
        if (then) { window.location.assign(then.replace("{name}", encodeURIComponent(answer?.metadata?.name ?? ""))); return; }
      } catch (failure) {
        showError(failure.message);
      } finally {
        element.removeAttribute("aria-busy");
        acting -= 1;
      }
      refresh();
    }

    async function call(method, path, body) {
      const options = { method, headers: { "Accept": "application/json" } };
      if (body !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
      const response = await fetch(path, options);
      const text = await response.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = null; }  // a proxy's HTML page, say
      if (!response.ok) {
        const failure = new Error(json?.error ?? `${method} ${path}: HTTP ${response.status} ${response.statusText}`);
        failure.status = response.status;
        throw failure;
      }
      return json;
    }

    function buttonArguments(button) {
      const body = {};
      for (const [key, value] of Object.entries(button.dataset)) {
        if (key.startsWith("arg") && key.length > 3) body[key[3].toLowerCase() + key.slice(4)] = value;
      }
      return Object.keys(body).length > 0 ? body : undefined;
    }

    function formBody(form) {
      const body = {};
      for (const input of form.querySelectorAll("input, select")) {
        if (!input.name || input.value === "") continue;
        body[input.name] = input.dataset.type === "int" ? Number(input.value) : input.value;
      }
      return body;
    }

    document.addEventListener("input", (event) => { if (event.target.name) event.target.dataset.typed = "1"; });

    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (!form.dataset.api) return;
      event.preventDefault();
      if (form.getAttribute("aria-busy")) return;  // a second click while the first is sent
      send(form, formBody(form));
    });

    document.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-api]");
      if (!button) return;
      event.preventDefault();
      if (button.getAttribute("aria-busy")) return;
      send(button, button.dataset.body ? JSON.parse(button.dataset.body) : buttonArguments(button));
    });

    // Live updates: the page's main part is fetched again when the store changes what it shows
    // (data-live names the collections), at most once every 250 ms and never over an action in
    // flight or a newer answer. Focus, typed input and the API's last refusals are kept.
    // At once for the first change after a quiet spell, then at most every 250 ms.
    let timer = null, asked = 0, lastRefresh = 0;
    function refresh() {
      if (timer) return;
      timer = setTimeout(refreshNow, Math.max(0, lastRefresh + 250 - Date.now()));
    }
    async function refreshNow() {
      timer = null;
      lastRefresh = Date.now();
      if (acting > 0) { refresh(); return; }
      const ticket = ++asked;
      let html;
      try { html = await (await fetch(window.location.href, { headers: { "Accept": "text/html" } })).text(); } catch { return; }
      if (ticket !== asked || acting > 0) return;  // a newer refresh, or an action, came meanwhile
      const page = new DOMParser().parseFromString(html, "text/html");
      const fresh = page.getElementById("main");
      if (!fresh || fresh.innerHTML === lastRendered) return;
      lastRendered = fresh.innerHTML;
      const focused = document.activeElement && main.contains(document.activeElement) ? keyOf(document.activeElement) : null;
      // Typed, not merely different from the old page's value: what the user typed may equal it.
      const typing = [...main.querySelectorAll("input[data-typed], select[data-typed]")].map((i) => [keyOf(i), i.value]);
      const refusals = [...main.querySelectorAll(".error")].filter((e) => e.textContent).map((e) => [keyOf(e), e.textContent]);
      main.replaceChildren(...fresh.childNodes);
      for (const [key, value] of typing) {
        const input = find("input, select", key);
        if (input) { input.value = value; input.dataset.typed = "1"; }
      }
      for (const [key, text] of refusals) { const error = find(".error", key); if (error) error.textContent = text; }
      if (focused) find("input, select, button, a", focused)?.focus();
      main.dispatchEvent(new CustomEvent("corral:refreshed", { bubbles: true }));
    }
    let lastRendered = main?.innerHTML;

    // The stream starts at the revision the page was rendered at (no change in between is lost)
    // and, if the manager closes it (a restart, its stream limit), follows again after a pause.
    const watched = new Set((main?.dataset.live ?? "").split(" ").filter(Boolean));
    let resumeAt = main?.dataset.revision ?? "";
    function follow(pause) {
      const stream = new EventSource("/v1/events/stream" + (resumeAt ? `?after=${encodeURIComponent(resumeAt)}` : ""));
      stream.addEventListener("change", (event) => {
        if (event.lastEventId) resumeAt = event.lastEventId;
        if (watched.has(JSON.parse(event.data).kind)) refresh();
      });
      stream.addEventListener("resync", (event) => { if (event.lastEventId) resumeAt = event.lastEventId; refresh(); });
      stream.addEventListener("open", () => { pause = 1000; });
      stream.addEventListener("error", () => {
        if (stream.readyState !== EventSource.CLOSED) return;  // the browser reconnects by itself
        setTimeout(() => { refresh(); follow(Math.min(pause * 2, 30000)); }, pause);
      });
    }
    if (watched.size > 0 && "EventSource" in window) follow(1000);
    """#
}
