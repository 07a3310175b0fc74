// The console at `/` and the reference at `/docs`, in real Chromium, against a fresh
// embedded default seeded through the API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launchBrowser, api, journeyEvents, sendEvents, eventually, seriousViolations, screenshot,
} from "./support.mjs";

let server, browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const events = [];
  [3, 3, 2, 1].forEach((n, i) => events.push(...journeyEvents(`visitor-${i}`,
    [["page.viewed", 50, { path: "/pricing" }], ["cart.added", 45], ["order.paid", 40, { total: 49 }]].slice(0, n))));
  events.push(...journeyEvents("alice", [["page.viewed", 30, { path: "/pricing" }], ["order.paid", 10, { total: 99 }]]));
  await sendEvents(server, events);
  assert.equal((await api(server, "POST", "/v1/funnels", {
    body: { name: "purchase", steps: ["page.viewed", "cart.added", "order.paid"], within_seconds: 3600 },
  })).status, 201);
  assert.equal((await api(server, "POST", "/v1/views", {
    body: { name: "value", attributes: [{ name: "ltv", filter: { type: "order.paid" }, field: "/data/total", aggregation: "sum" }, { name: "visits", aggregation: "count" }] },
  })).status, 201);
  const rule = await api(server, "POST", "/v1/rules", {
    body: { name: "vip call", when: { event: { type: "call.started" } }, actions: [{ type: "recommendation", action: "offer-callback" }] },
  });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));
  server.rule = rule.body.id;
  await eventually(async () => (await api(server, "GET", "/v1/persons/alice/events")).body.events?.length === 2, { what: "the Tape" });
  await eventually(async () => (await api(server, "GET", "/v1/persons/visitor-3/events")).body.events?.length === 1, { what: "the Tape" });
  assert.equal((await api(server, "POST", "/v1/analytics/runs")).status, 202);
  await eventually(async () => (await api(server, "GET", "/v1/analytics?window=7d")).body.persons === 5, { what: "the analytics run" });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openConsole() {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(server.url + "/");
  return page;
}

async function signIn(page) {
  await page.type("#credential", server.key);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#nav:not([hidden])");
}

/** What has the focus, through shadow roots: "tag#id.text" for assertions. */
const focused = (page) => page.evaluate(() => {
  let el = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  const label = el.labels?.[0]?.textContent ?? el.getAttribute("aria-label") ?? el.textContent;
  return `${el.tagName.toLowerCase()}|${el.id}|${(label ?? "").trim().slice(0, 60)}`;
});

/** Presses Tab (at most 60 times) until the focus matches `pattern`. */
async function tabTo(page, pattern) {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    const now = await focused(page);
    if (pattern.test(now)) return now;
  }
  throw new Error(`Tab never reached ${pattern} (last: ${await focused(page)})`);
}

test("the console works with a keyboard only: sign in, a person's journey, a rule, a token", async () => {
  const page = await openConsole();
  assert.match(await tabTo(page, /^input\|credential/), /API key or token/);
  await page.keyboard.type(server.key);
  await page.keyboard.press("Enter");
  await eventually(async () => /^h2\|[^|]*\|Live feed/.test(await focused(page)), { what: "focus on the Live feed heading" });

  await tabTo(page, /^a\|\|People$/);
  await page.keyboard.press("Enter");
  await eventually(async () => /^h2\|[^|]*\|People/.test(await focused(page)), { what: "focus on People" });
  await tabTo(page, /^input\|person/);
  await page.keyboard.type("alice");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("cjaas-journey")?.shadowRoot.querySelectorAll(".row").length === 2);
  await tabTo(page, /^button\|\|[\s\S]*page\.viewed/);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("cjaas-journey").shadowRoot.querySelector("pre")?.textContent.includes("/pricing"));
  await tabTo(page, /^button\|\|ltv$/);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("cjaas-profile").shadowRoot.querySelector(".explain code"));

  await tabTo(page, /^a\|\|Rules$/);
  await page.keyboard.press("Enter");
  await tabTo(page, /^input\|.*\|Name$/);
  await page.keyboard.type("pricing keyboard rule");
  await tabTo(page, /^input\|.*\|Event type$/);
  await page.keyboard.type("page.viewed");
  await tabTo(page, /^input\|.*\|URL$/);
  await page.keyboard.type("https://hooks.example.com/cjaas");
  await page.keyboard.press("Enter");
  const saved = await eventually(() => page.evaluate(() => document.querySelector("cjaas-rule-editor").shadowRoot.querySelector(".saved")?.textContent));
  const id = saved.match(/rule-[a-z0-9]+/)[0];
  assert.equal((await api(server, "GET", `/v1/rules/${id}`)).body.name, "pricing keyboard rule");

  await tabTo(page, /^a\|\|Keys and tokens$/);
  await page.keyboard.press("Enter");
  await tabTo(page, /^button\|\|Mint token$/);
  await page.keyboard.press("Enter");
  const token = await eventually(() => page.$eval("#token-out", (el) => el.querySelector(".secret")?.textContent));
  assert.equal((await api(server, "GET", "/v1/persons/alice/events", { credential: token })).status, 200);

  await tabTo(page, /^button\|sign-out/);
  await page.keyboard.press("Enter");
  assert.equal(await page.$eval("#sign-in", (el) => el.hidden), false);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the credential is kept in sessionStorage only, and not in another tab", async () => {
  const page = await openConsole();
  await signIn(page);
  const stored = await page.evaluate(() => ({
    session: sessionStorage.getItem("cjaas.credential"),
    local: localStorage.length,
    cookies: document.cookie,
  }));
  assert.deepEqual(stored, { session: server.key, local: 0, cookies: "" });
  const other = await openConsole();
  assert.equal(await other.$eval("#sign-in", (el) => el.hidden), false, "a new tab asks again");
  await other.close();
  await page.reload();
  assert.equal(await page.$eval("#sign-in", (el) => el.hidden), true, "a reload of the tab keeps the session");
  await page.close();
});

test("a bad credential gets the API's problem detail at sign-in", async () => {
  const page = await openConsole();
  await page.type("#credential", "cjk_dev_nope_nope");
  await page.keyboard.press("Enter");
  const shown = await eventually(() => page.$eval("#sign-in-problem", (el) => el.textContent));
  const problem = await api(server, "GET", "/v1/analytics/status", { credential: "cjk_dev_nope_nope" });
  assert.equal(shown, problem.body.detail);
  await page.close();
});

test("the live feed shows an event as it arrives, and opens its person", async () => {
  const page = await openConsole();
  await signIn(page);
  await eventually(() => page.$eval("#feed-state", (el) => el.textContent === "live"), { what: "the feed" });
  await sendEvents(server, journeyEvents("carol", [["chat.message", 0, { text: "hi" }]]));
  await page.waitForFunction(() => document.querySelector("#feed li")?.textContent.includes("chat.message"), { timeout: 2000 });
  await screenshot(page, "console-live");
  await page.click("#feed li a");
  await page.waitForFunction(() => document.querySelector("cjaas-journey")?.getAttribute("person") === "carol");
  await page.close();
});

test("rules list with their delivery log; analytics, views and keys render", async () => {
  const page = await openConsole();
  await signIn(page);
  await sendEvents(server, journeyEvents("alice", [["call.started", 0]], { prefix: "call" }));
  await eventually(async () => (await api(server, "GET", `/v1/rules/${server.rule}/deliveries`)).body.deliveries?.length === 1, { what: "a firing" });
  await page.evaluate(() => (location.hash = "rules"));
  await page.waitForSelector(`[data-deliveries="${server.rule}"]`);
  await page.click(`[data-deliveries="${server.rule}"]`);
  const log = await eventually(() => page.$eval("#deliveries", (el) => el.querySelector("table")?.innerText));
  assert.match(log, /alice/);
  assert.match(log, /call\.started/);
  assert.match(log, /recommendation: \w+/);
  await screenshot(page, "console-rules");

  await page.evaluate(() => (location.hash = "analytics"));
  await page.waitForFunction(() => document.querySelector("cjaas-flow")?.shadowRoot.querySelector(".node") &&
    document.querySelector("cjaas-funnel")?.shadowRoot.querySelector("li"));
  await screenshot(page, "console-analytics");
  await page.evaluate(() => (location.hash = "people/alice"));
  await page.waitForFunction(() => document.querySelector("cjaas-profile")?.shadowRoot.querySelector("dd"));
  await page.waitForFunction(() => document.querySelector("cjaas-journey")?.shadowRoot.querySelector(".row"));
  await screenshot(page, "console-people");
  await page.evaluate(() => (location.hash = "views"));
  await page.waitForFunction(() => document.querySelector("#list table"));
  await page.evaluate(() => (location.hash = "keys"));
  await page.waitForFunction(() => document.querySelector("#list table")?.textContent.includes("created with the tenant"));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("axe-core finds no serious or critical violation in any section of the console", async () => {
  const page = await openConsole();
  assert.deepEqual(await seriousViolations(page), [], "sign-in");
  await signIn(page);
  const ready = {
    live: "#feed",
    "people/alice": "cjaas-profile",
    analytics: "cjaas-funnel",
    rules: "#list table",
    views: "#list table",
    keys: "#list table",
  };
  for (const [hash, selector] of Object.entries(ready)) {
    await page.evaluate((hash) => (location.hash = hash), hash);
    await page.waitForSelector(selector);
    await new Promise((done) => setTimeout(done, 700));
    assert.deepEqual(await seriousViolations(page), [], hash);
  }
  await page.close();
});

test("/docs renders the OpenAPI reference with nothing from the network, and its try-it calls this server", async () => {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const foreign = [];
  await page.setRequestInterception(true);
  page.on("request", (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith("data:")) {
      foreign.push(r.url());
      return r.abort();
    }
    return r.continue();
  });
  await page.goto(server.url + "/docs");
  await page.waitForSelector(".opblock", { timeout: 15000 });
  const spec = await (await fetch(server.url + "/docs/openapi.yaml")).text();
  assert.match(spec, /^openapi: 3\.1\.0/);
  await screenshot(page, "docs");
  // Try GET /healthz.
  await page.waitForSelector("#operations-operations-health");
  await page.click("#operations-operations-health .opblock-summary-control");
  // "Try it out" is on from the start (tryItOutEnabled).
  await page.waitForSelector("#operations-operations-health .execute");
  await page.click("#operations-operations-health .execute");
  const code = await page.waitForSelector("#operations-operations-health .live-responses-table tbody .response-col_status");
  assert.equal((await code.evaluate((el) => el.textContent)).trim(), "200");
  const url = await page.$eval("#operations-operations-health .request-url pre", (el) => el.textContent);
  assert.equal(url.trim(), `${server.url}/healthz`);
  assert.deepEqual(foreign, []);
  await page.close();
});
