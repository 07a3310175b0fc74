// The CJaaS console: a small single-page app built only from the web components
// (/v1/components.js) and the public API. The credential lives in sessionStorage only.
import { follow } from "../components/sse.js";

const KEY = "cjaas.credential";
const SCOPES = ["events:write", "tape:read", "admin"];
const $ = (selector, root = document) => root.querySelector(selector);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
let stopFeed = null;

async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${sessionStorage.getItem(KEY)}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(parsed?.detail || `the API answered ${response.status}`);
  return parsed;
}

/** Sets the credential attributes of every component in `root`. */
function wire(root) {
  for (const el of root.querySelectorAll("[data-component]")) {
    el.setAttribute("base-url", location.origin);
    el.credential = sessionStorage.getItem(KEY);
  }
}

function show(html) {
  const app = $("#app");
  app.innerHTML = html;
  wire(app);
  $("h2", app)?.setAttribute("tabindex", "-1");
  return app;
}

function failure(where, e) {
  where.innerHTML = `<p class="problem" role="alert">${esc(e.message)}</p>`;
}

const pages = {
  live() {
    const app = show(`<section class="card" aria-labelledby="t"><h2 id="t">Live feed</h2>
      <div class="toolbar"><span id="feed-state" role="status" class="muted">connecting…</span>
      <label for="feed-type">Only type</label><input id="feed-type" placeholder="any type"></div>
      <ul class="feed" id="feed" role="log" aria-label="Events as they arrive" aria-live="off"></ul>
      <p class="muted">Choose a person to open their journey and profile.</p></section>`);
    const start = () => {
      stopFeed?.abort();
      stopFeed = new AbortController();
      const type = $("#feed-type", app).value.trim();
      follow(`/v1/stream${type ? `?type=${encodeURIComponent(type)}` : ""}`, {
        credential: sessionStorage.getItem(KEY),
        signal: stopFeed.signal,
        onState: (s, detail) => ($("#feed-state", app).textContent = detail ? `${s}: ${detail}` : s),
        onEvent: (m) => {
          if (m.event !== "cloudevent") return;
          const e = JSON.parse(m.data);
          const li = document.createElement("li");
          li.innerHTML = `<span>${esc(new Date(e.time).toLocaleString())}</span><strong>${esc(e.type)}</strong>
            <span>${esc(e.source)}</span><a href="#people/${encodeURIComponent(e.person)}">${esc(e.person)}</a>`;
          const feed = $("#feed", app);
          feed.prepend(li);
          while (feed.children.length > 200) feed.lastChild.remove();
        },
      });
    };
    $("#feed-type", app).addEventListener("change", start);
    start();
  },

  async people(person = "") {
    const app = show(`<section class="card" aria-labelledby="t"><h2 id="t">People</h2>
      <form class="toolbar" id="search" role="search"><label for="person">Person or alias id</label>
        <input id="person" required value="${esc(person)}" placeholder="alice@example.com">
        <label for="view">View</label><select id="view"><option value="">(no view)</option></select>
        <button class="primary">Open</button></form>
      <div id="views-problem"></div>
      <div class="grid2">
        <cjaas-journey data-component person="${esc(person)}"></cjaas-journey>
        <cjaas-profile data-component person="${esc(person)}"></cjaas-profile>
      </div></section>`);
    $("#search", app).addEventListener("submit", (e) => {
      e.preventDefault();
      location.hash = `people/${encodeURIComponent($("#person", app).value.trim())}`;
    });
    const select = $("#view", app);
    select.addEventListener("change", () => $("cjaas-profile", app).setAttribute("view", select.value));
    try {
      const { views } = await api("/v1/views");
      select.innerHTML += views.map((v) => `<option value="${esc(v.id)}">${esc(v.name)}</option>`).join("");
      const chosen = sessionStorage.getItem("cjaas.view") ?? views[0]?.id ?? "";
      select.value = views.some((v) => v.id === chosen) ? chosen : views[0]?.id ?? "";
      select.addEventListener("change", () => sessionStorage.setItem("cjaas.view", select.value));
      $("cjaas-profile", app).setAttribute("view", select.value);
    } catch (e) {
      failure($("#views-problem", app), e);
    }
  },

  analytics() {
    const app = show(`<section class="card" aria-labelledby="t"><h2 id="t">Analytics</h2>
      <div class="toolbar"><label for="window">Window</label>
        <select id="window"><option>24h</option><option selected>7d</option><option>30d</option></select>
        <button id="run">Recompute now</button><span id="run-state" role="status"></span></div>
      <cjaas-flow data-component window="7d"></cjaas-flow></section>
      <section class="card" aria-labelledby="f"><h2 id="f">Funnels</h2>
      <cjaas-funnel data-component window="7d"></cjaas-funnel></section>`);
    $("#window", app).addEventListener("change", (e) => {
      for (const el of app.querySelectorAll("cjaas-flow, cjaas-funnel")) el.setAttribute("window", e.target.value);
    });
    $("#run", app).addEventListener("click", async () => {
      const state = $("#run-state", app);
      try {
        await api("/v1/analytics/runs", { method: "POST" });
        state.textContent = "Recomputing…";
        setTimeout(() => {
          for (const el of app.querySelectorAll("cjaas-flow, cjaas-funnel")) el.load();
          state.textContent = "Updated.";
        }, 1500);
      } catch (e) {
        state.textContent = e.message;
      }
    });
  },

  async rules(id = "") {
    const app = show(`<section class="card" aria-labelledby="t"><h2 id="t">Rules</h2>
      <div id="list" role="status">Loading…</div></section>
      <section class="card" aria-label="Rule editor">
        <cjaas-rule-editor data-component ${id && id !== "new" ? `rule-id="${esc(id)}"` : ""}></cjaas-rule-editor></section>
      <section class="card" aria-labelledby="d"><h2 id="d">Delivery log</h2><div id="deliveries" class="muted">
        Choose a rule's deliveries.</div></section>`);
    $("cjaas-rule-editor", app).addEventListener("cjaas-saved", () => listRules(app));
    await listRules(app);
  },

  async views(id = "") {
    const app = show(`<section class="card" aria-labelledby="t"><h2 id="t">Views</h2>
      <div id="list" role="status">Loading…</div></section>
      <section class="card" aria-label="View editor">
        <cjaas-view-editor data-component ${id && id !== "new" ? `view-id="${esc(id)}"` : ""}></cjaas-view-editor></section>`);
    $("cjaas-view-editor", app).addEventListener("cjaas-saved", () => listViews(app));
    await listViews(app);
  },

  async keys() {
    const boxes = SCOPES.map((s) => `<label><input type="checkbox" name="scope" value="${s}" ${s === "tape:read" ? "checked" : ""}> ${s}</label>`).join(" ");
    const app = show(`<section class="card" aria-labelledby="t"><h2 id="t">Keys and tokens</h2>
      <div id="list" role="status">Loading…</div></section>
      <section class="card" aria-labelledby="k"><h2 id="k">New API key</h2>
        <form id="new-key"><fieldset><legend>Scopes</legend>${boxes}</fieldset>
        <p><label for="key-kind">Kind</label><select id="key-kind"><option value="secret">secret</option>
          <option value="publishable">publishable (events:write from named origins)</option></select>
        <label for="key-label">Label</label><input id="key-label">
        <label for="key-origins">Allowed origins</label><input id="key-origins" placeholder="https://shop.example.com"></p>
        <button class="primary">Create key</button></form><div id="key-out" role="status"></div></section>
      <section class="card" aria-labelledby="tk"><h2 id="tk">New token</h2>
        <form id="new-token"><fieldset><legend>Scopes</legend>${boxes}</fieldset>
        <p><label for="ttl">Lifetime (seconds)</label><input id="ttl" type="number" value="900" min="1"></p>
        <button class="primary">Mint token</button></form><div id="token-out" role="status"></div></section>`);
    const scopes = (form) => [...form.querySelectorAll("input[name=scope]:checked")].map((i) => i.value);
    $("#new-key", app).addEventListener("submit", async (e) => {
      e.preventDefault();
      const kind = $("#key-kind", app).value;
      const body = kind === "publishable"
        ? { kind, allowed_origins: $("#key-origins", app).value.split(/[\s,]+/).filter(Boolean) }
        : { scopes: scopes(e.target) };
      if ($("#key-label", app).value) body.label = $("#key-label", app).value;
      try {
        const key = await api("/v1/keys", { method: "POST", body });
        $("#key-out", app).innerHTML = `<p>Key <code>${esc(key.id)}</code> made. Its secret is shown once:</p><p class="secret">${esc(key.token ?? key.key)}</p>`;
        listKeys(app);
      } catch (err) {
        failure($("#key-out", app), err);
      }
    });
    $("#new-token", app).addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const t = await api("/v1/tokens", { method: "POST", body: { scopes: scopes(e.target), ttl_seconds: Number($("#ttl", app).value) } });
        $("#token-out", app).innerHTML = `<p>Valid until ${esc(t.expires_at)}:</p><p class="secret">${esc(t.token)}</p>`;
      } catch (err) {
        failure($("#token-out", app), err);
      }
    });
    await listKeys(app);
  },
};

async function listRules(app) {
  const list = $("#list", app);
  try {
    const { rules } = await api("/v1/rules");
    list.removeAttribute("role");
    list.innerHTML = rules.length
      ? `<table><thead><tr><th scope="col">Name</th><th scope="col">Active</th><th scope="col">Id</th><th scope="col">Actions</th></tr></thead><tbody>
        ${rules.map((r) => `<tr><td>${esc(r.name)}</td><td>${r.active ? "yes" : "no"}</td><td><code>${esc(r.id)}</code></td>
          <td><a href="#rules/${encodeURIComponent(r.id)}">Edit</a> <button data-deliveries="${esc(r.id)}">Deliveries</button>
          <button data-delete="${esc(r.id)}">Delete</button></td></tr>`).join("")}</tbody></table>
        <p><a href="#rules/new">New rule</a></p>`
      : `<p class="muted">No rules yet: make one below.</p>`;
    list.querySelectorAll("[data-deliveries]").forEach((b) => b.addEventListener("click", () => deliveries(app, b.dataset.deliveries)));
    list.querySelectorAll("[data-delete]").forEach((b) => b.addEventListener("click", async () => {
      try {
        await api(`/v1/rules/${encodeURIComponent(b.dataset.delete)}`, { method: "DELETE" });
        listRules(app);
      } catch (e) {
        failure(list, e);
      }
    }));
  } catch (e) {
    failure(list, e);
  }
}

async function deliveries(app, id) {
  const out = $("#deliveries", app);
  out.textContent = "Loading…";
  try {
    const { deliveries: rows } = await api(`/v1/rules/${encodeURIComponent(id)}/deliveries?limit=50`);
    out.innerHTML = rows.length
      ? `<table><caption class="muted">Firings of ${esc(id)}, newest first</caption><thead><tr><th scope="col">Fired</th><th scope="col">Person</th><th scope="col">Event</th><th scope="col">Actions</th></tr></thead><tbody>
        ${rows.map((d) => `<tr><td>${esc(new Date(d.fired_at).toLocaleString())}</td><td>${esc(d.person)}</td>
          <td>${esc(d.triggering_event.type)}</td><td>${d.actions.map((a) => `${esc(a.type)}: ${esc(a.status)} (${esc(a.attempts)} attempt(s)${a.latency_ms != null ? `, ${esc(a.latency_ms)} ms` : ""})`).join("<br>")}</td></tr>`).join("")}
        </tbody></table>`
      : `<p>No firings of ${esc(id)} in the last 7 days.</p>`;
    out.focus?.();
  } catch (e) {
    failure(out, e);
  }
}

async function listViews(app) {
  const list = $("#list", app);
  try {
    const { views } = await api("/v1/views");
    list.removeAttribute("role");
    list.innerHTML = views.length
      ? `<table><thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Version</th><th scope="col"></th></tr></thead><tbody>
        ${views.map((v) => `<tr><td>${esc(v.name)}</td><td><code>${esc(v.id)}</code></td><td>${esc(v.latest)}</td>
          <td><a href="#views/${encodeURIComponent(v.id)}">Edit</a></td></tr>`).join("")}</tbody></table><p><a href="#views/new">New view</a></p>`
      : `<p class="muted">No views yet: make one below.</p>`;
  } catch (e) {
    failure(list, e);
  }
}

async function listKeys(app) {
  const list = $("#list", app);
  try {
    const { keys } = await api("/v1/keys");
    list.removeAttribute("role");
    list.innerHTML = `<table><thead><tr><th scope="col">Id</th><th scope="col">Kind</th><th scope="col">Label</th><th scope="col">Scopes</th><th scope="col">State</th><th scope="col"></th></tr></thead><tbody>
      ${keys.map((k) => `<tr><td><code>${esc(k.id)}</code></td><td>${esc(k.kind)}</td><td>${esc(k.label)}</td><td>${esc(k.scopes.join(", "))}</td>
        <td>${k.revoked_at ? `revoked ${esc(k.revoked_at)}` : "active"}</td>
        <td>${k.revoked_at ? "" : `<button data-revoke="${esc(k.id)}">Revoke</button>`}</td></tr>`).join("")}</tbody></table>`;
    list.querySelectorAll("[data-revoke]").forEach((b) => b.addEventListener("click", async () => {
      if (!confirm(`Revoke key ${b.dataset.revoke}?`)) return;
      try {
        await api(`/v1/keys/${encodeURIComponent(b.dataset.revoke)}`, { method: "DELETE" });
        listKeys(app);
      } catch (e) {
        failure(list, e);
      }
    }));
  } catch (e) {
    failure(list, e);
  }
}

function route() {
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  $("#sign-in").hidden = signedIn;
  $("#app").hidden = !signedIn;
  $("#nav").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  if (!signedIn) {
    stopFeed?.abort();
    return;
  }
  const [name, ...rest] = (location.hash.slice(1) || "live").split("/");
  const page = pages[name] ? name : "live";
  if (page !== "live") stopFeed?.abort();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#${page}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  pages[page](decodeURIComponent(rest.join("/")));
  document.title = `${$("#nav a[aria-current]").textContent} · CJaaS console`;
  $("#app h2")?.focus();
}

$("#sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const credential = $("#credential").value.trim();
  const problem = $("#sign-in-problem");
  problem.textContent = "";
  const response = await fetch("/v1/analytics/status", { headers: { authorization: `Bearer ${credential}` } });
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    problem.textContent = body.detail || "That credential is not valid.";
    return;
  }
  sessionStorage.setItem(KEY, credential);
  $("#credential").value = "";
  route();
});

$("#sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  location.hash = "";
  route();
  $("#credential").focus();
});

window.addEventListener("hashchange", route);
route();
