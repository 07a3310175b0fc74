// RudderStack's browser SDK (@rudderstack/analytics-js, its bundled UMD build) in real
// headless Chromium, on a site of another origin, pointed at a fresh embedded default as
// both its config URL and its data plane: it loads /sourceConfig, then its calls reach
// the Tape once each, with the anonymous visit linked to the identified user.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, serveStatic, launchBrowser, api, eventually, repoRoot } from "./support.mjs";

const SDK = join(repoRoot, "tests/browser/node_modules/@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js");

let server, site, foreign, browser, root, key;

before(async () => {
  server = await startServer();
  root = mkdtempSync(join(tmpdir(), "cjaas-rudderstack-site-"));
  const sdk = (_req, res) => res.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(SDK));
  site = await serveStatic(root, { "/rsa.js": sdk });
  foreign = await serveStatic(root, { "/rsa.js": sdk });
  const minted = await api(server, "POST", "/v1/keys", {
    body: { kind: "publishable", allowed_origins: [site.url] },
  });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  key = minted.body.token;
  // index.html sends with the SDK's default transport (XHR), beacon.html with
  // navigator.sendBeacon (its useBeacon option; the queue flushed every half second).
  const page = (user, options) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
    <script src="/rsa.js"></script>
    <script>
      const ra = new rudderanalytics.RudderAnalytics();
      ra.load(${JSON.stringify(key)}, ${JSON.stringify(server.url)}, ${JSON.stringify({ configUrl: server.url, ...options })});
      ra.ready(() => { window.rudderReady = true; });
      ra.page();
      ra.identify(${JSON.stringify(user)}, { plan: "pro" });
      ra.track("Order Completed", { total: 42 });
    </script></head><body><h1>Shop</h1></body></html>`;
  writeFileSync(join(root, "index.html"), page("rs-browser-user", {}));
  writeFileSync(join(root, "beacon.html"), page("rs-beacon-user", { useBeacon: true, beaconQueueOptions: { flushQueueInterval: 500 } }));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await foreign?.close();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Opens the site's page in a fresh profile; returns the page and its CJaaS responses. */
async function visit(origin, file = "index.html") {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const answers = [];
  page.on("response", (r) => {
    if (r.url().startsWith(server.url) && r.request().method() !== "OPTIONS") {
      answers.push({ path: new URL(r.url()).pathname, status: r.status() });
    }
  });
  await page.goto(`${origin}/${file}`);
  return { context, page, answers };
}

/** Waits for the SDK to be ready and for `user`'s three calls (page, identify, track)
 *  on the Tape; returns them. */
async function threeCalls(page, user) {
  await eventually(() => page.evaluate(() => window.rudderReady === true), { what: "the SDK's ready callback" });
  const events = await eventually(async () => {
    const journey = await api(server, "GET", `/v1/persons/${user}/events`);
    return journey.body.events?.length >= 3 && journey.body.events;
  }, { what: "the three calls on the Tape" });
  assert.deepEqual(events.map((e) => e.type).sort(), ["Order Completed", "identify", "page"]);
  return events;
}

/** Nothing is sent twice, even after the SDK's queue has had time to retry. */
async function stillThreeCalls(user) {
  await new Promise((done) => setTimeout(done, 1500));
  assert.equal((await api(server, "GET", `/v1/persons/${user}/events`)).body.events.length, 3);
}

test("RudderStack's browser SDK loads its source config here and its calls reach the Tape once each", async () => {
  const { context, page, answers } = await visit(site.url);
  const events = await threeCalls(page, "rs-browser-user");
  assert.ok(events.every((e) => e.source === "segment"));
  const view = events.find((e) => e.type === "page");
  assert.equal(view.person, view.data.anonymousId, "the page view was sent before identify, as the anonymous visitor");
  assert.equal(events.find((e) => e.type === "Order Completed").data.properties.total, 42);
  // RudderStack's SDK sends identify's traits in the context.
  assert.deepEqual(events.find((e) => e.type === "identify").data.context.traits, { plan: "pro" });
  for (const event of events) {
    assert.match(event.data.context.library.name, /RudderLabs JavaScript SDK/);
    assert.equal(event.id, event.data.messageId, "the messageId is the event id");
  }
  const config = answers.find((a) => a.path.startsWith("/sourceConfig"));
  assert.deepEqual(config, { path: "/sourceConfig/", status: 200 });
  assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers));
  await stillThreeCalls("rs-browser-user");
  await context.close();
});

test("the source config answers the key's own origins only, and the SDK then sends nothing", async () => {
  const { context, page, answers } = await visit(foreign.url);
  await eventually(() => answers.some((a) => a.path.startsWith("/sourceConfig")), { what: "the config request" });
  await new Promise((done) => setTimeout(done, 1000));
  assert.equal(answers.find((a) => a.path.startsWith("/sourceConfig")).status, 403);
  assert.equal(await page.evaluate(() => window.rudderReady === true), false);
  assert.deepEqual(answers.filter((a) => a.path.startsWith("/v1/")), [], "no call was sent");
  const config = await fetch(`${server.url}/sourceConfig?writeKey=${key}`, { headers: { origin: site.url } });
  assert.equal(config.status, 200);
  const body = await config.json();
  assert.equal(body.source.enabled, true);
  assert.deepEqual(body.source.destinations, []);
  await context.close();
});

test("with useBeacon the SDK's beacons (the key in the query, text/plain) reach the Tape once each", async () => {
  const { context, page, answers } = await visit(site.url, "beacon.html");
  await threeCalls(page, "rs-beacon-user");
  const beacons = answers.filter((a) => a.path === "/beacon/v1/batch");
  assert.ok(beacons.length >= 1 && beacons.every((a) => a.status === 200), JSON.stringify(answers));
  assert.deepEqual(answers.filter((a) => /^\/v1\/(track|page|identify)$/.test(a.path)), [], "nothing went by XHR");
  await stillThreeCalls("rs-beacon-user");
  await context.close();
});
