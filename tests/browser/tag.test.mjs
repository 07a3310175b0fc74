// The CJaaS browser tag in real headless Chromium: a site on another origin loads
// /v1/tag.js from a fresh embedded default with a publishable key bound to the site's
// origin; what the visitor does must arrive on the Tape, in order, exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startServer, serveStatic, launchBrowser, api, repoRoot } from "./support.mjs";

let server, site, foreign, browser, root, key;

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function writeSite() {
  const tag = (extra = "") => `<script src="${server.url}/v1/tag.js" data-key="${key}"${extra}></script>`;
  const page = (title, body, extra) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${tag(extra)}</head><body>${body}</body></html>`;
  const files = {
    "index.html": page(
      "Home",
      `<h1>Home</h1>
       <button id="cta" data-cjaas-track="CTA Clicked" data-cjaas-prop-plan="gold"><span>Get a quote</span></button>
       <button id="plain">Not tracked</button>
       <a id="about" href="/about.html" data-cjaas-track="About Link">About us</a>`,
    ),
    "about.html": page("About", "<h1>About</h1>"),
    "spa.html": page("SPA start", "<h1>SPA</h1>"),
    "form.html": page(
      "Quote form",
      `<form id="quote" method="post" action="/thanks.html" data-cjaas-track="Quote Requested">
         <input name="email" id="email">
         <input name="zip" id="zip" data-cjaas-field>
         <select name="cover" id="cover" data-cjaas-field="coverage"><option>basic</option><option>full</option></select>
         <input type="password" name="pin" id="pin" data-cjaas-field>
         <button id="send" type="submit">Send</button>
       </form>`,
    ),
    "thanks.html": page("Thanks", "<h1>Thanks</h1>"),
    "consent.html": page(
      "Consent",
      `<button id="cta" data-cjaas-track="CTA Clicked">Go</button>`,
      ` data-consent="required"`,
    ),
  };
  for (const [name, html] of Object.entries(files)) writeFileSync(join(root, name), html);
}

before(async () => {
  server = await startServer();
  root = mkdtempSync(join(tmpdir(), "cjaas-tag-site-"));
  site = await serveStatic(root);
  foreign = await serveStatic(root);
  const minted = await api(server, "POST", "/v1/keys", {
    body: { kind: "publishable", allowed_origins: [site.url] },
  });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  key = minted.body.token;
  assert.match(key, /^cjp_/);
  writeSite();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await foreign?.close();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh browser profile (own cookies and storage); `sent` collects the batch requests. */
async function visitor({ gpc = false, skewMs = 0 } = {}) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  if (skewMs) {
    await page.evaluateOnNewDocument((skew) => {
      const RealDate = Date;
      window.Date = class extends RealDate {
        constructor(...args) {
          super(...(args.length ? args : [RealDate.now() + skew]));
        }
        static now() {
          return RealDate.now() + skew;
        }
      };
    }, skewMs);
  }
  if (gpc) {
    await page.evaluateOnNewDocument(() =>
      Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true, configurable: true }),
    );
  }
  const sent = [];
  page.on("request", (request) => {
    if (request.url().startsWith(server.url + "/v1/batch")) sent.push(request);
  });
  return { context, page, sent };
}

async function journey(person) {
  const response = await api(server, "GET", `/v1/persons/${encodeURIComponent(person)}/events?limit=1000`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.events;
}

/** The journey once it holds `n` events, and still after a pause (nothing extra arrives). */
async function settled(person, n) {
  const deadline = Date.now() + 20000;
  let events = [];
  while (Date.now() < deadline) {
    events = await journey(person);
    if (events.length >= n) break;
    await sleep(100);
  }
  await sleep(1500);
  events = await journey(person);
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, "each event once");
  return events;
}

const types = (events) => events.map((e) => e.type);
const paths = (events) => events.filter((e) => e.type === "page").map((e) => e.data.properties.path);
const anonymousId = (page) => page.evaluate(() => window.cjaas.anonymousId());

test("CJaaS serves the tag: cacheable, with an ETag, under 8 KB gzipped", async () => {
  const response = await fetch(server.url + "/v1/tag.js");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.match(response.headers.get("cache-control"), /^public, max-age=\d+/);
  const etag = response.headers.get("etag");
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  const body = Buffer.from(await response.arrayBuffer());
  assert.ok(body.equals(readFileSync(join(repoRoot, "web/dist/tag.js"))), "the embedded bundle is web/dist/tag.js");
  const gzipped = gzipSync(body, { level: 9 }).length;
  console.log(`tag.js: ${body.length} bytes, ${gzipped} bytes gzip -9`);
  assert.ok(gzipped <= 8192, `${gzipped} bytes gzipped`);
  const again = await fetch(server.url + "/v1/tag.js", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
});

test("page views, tracked clicks and a full navigation reach the Tape in order", async () => {
  const { context, page } = await visitor();
  await page.goto(site.url + "/index.html");
  const anon = await anonymousId(page);
  assert.match(anon, /^[0-9a-f-]{36}$/);
  await page.click("#cta span");
  await page.click("#plain");
  await Promise.all([page.waitForNavigation(), page.click("#about")]);
  assert.equal(await anonymousId(page), anon, "the anonymous id survives the navigation");
  const cookie = (await context.cookies(site.url)).find((c) => c.name === "cjaas_aid");
  assert.equal(cookie?.value, anon, "kept in a first-party cookie");

  const events = await settled(anon, 4);
  assert.deepEqual(types(events), ["page", "CTA Clicked", "About Link", "page"]);
  assert.deepEqual(paths(events), ["/index.html", "/about.html"]);
  assert.ok(events.every((e) => e.person === anon && e.source === "segment"));
  const [home, click, link, about] = events.map((e) => e.data);
  assert.equal(home.properties.title, "Home");
  assert.equal(home.properties.url, site.url + "/index.html");
  assert.deepEqual(click.properties, { text: "Get a quote", id: "cta", plan: "gold" });
  assert.equal(link.properties.href, site.url + "/about.html");
  assert.equal(about.context.page.referrer, site.url + "/index.html");
  for (const message of [home, click, link, about]) {
    assert.deepEqual(message.context.library, { name: "cjaas-tag", version: "1.0.0" });
    assert.match(message.context.userAgent, /Chrome/);
    assert.ok(message.sentAt && message.timestamp && message.messageId);
    assert.equal(message.anonymousId, anon);
    assert.equal(message.writeKey, undefined);
  }
  assert.equal(events[1].id, click.messageId, "the messageId is the event id");
  await context.close();
});

test("SPA history changes are page views; a replaceState to the same URL is not", async () => {
  const { context, page } = await visitor();
  await page.goto(site.url + "/spa.html");
  const anon = await anonymousId(page);
  await page.evaluate(() => {
    history.pushState({}, "", "/spa/step-2?plan=gold");
    document.title = "Step 2";
  });
  await page.evaluate(() => history.replaceState({ scrolled: true }, ""));
  await sleep(100);
  await page.evaluate(() => history.back());
  const events = await settled(anon, 3);
  assert.deepEqual(types(events), ["page", "page", "page"]);
  assert.deepEqual(paths(events), ["/spa.html", "/spa/step-2", "/spa.html"]);
  assert.equal(events[1].data.properties.title, "Step 2");
  assert.equal(events[1].data.properties.search, "?plan=gold");
  assert.equal(events[1].data.properties.referrer, site.url + "/spa.html");
  await context.close();
});

test("a form submit sends only the marked fields, never a password", async () => {
  const { context, page } = await visitor();
  await page.goto(site.url + "/form.html");
  const anon = await anonymousId(page);
  await page.type("#email", "secret@example.com");
  await page.type("#zip", "1011 AB");
  await page.select("#cover", "full");
  await page.type("#pin", "hunter2");
  await Promise.all([page.waitForNavigation(), page.click("#send")]);
  const events = await settled(anon, 3);
  assert.deepEqual(types(events), ["page", "Quote Requested", "page"]);
  assert.deepEqual(events[1].data.properties, {
    formId: "quote",
    action: site.url + "/thanks.html",
    method: "post",
    fields: { zip: "1011 AB", coverage: "full" },
  });
  const everything = JSON.stringify(events);
  assert.ok(!everything.includes("secret@example.com"), "an unmarked field is never sent");
  assert.ok(!everything.includes("hunter2"), "a password is never sent");
  await context.close();
});

test("identify links the anonymous visit to the user; later events carry the userId", async () => {
  const { context, page } = await visitor();
  await page.goto(site.url + "/index.html");
  const anon = await anonymousId(page);
  await page.click("#cta");
  await page.evaluate(() => {
    window.cjaas.identify("user-tag-1", { plan: "pro" });
    window.cjaas.track("Signed In", { method: "password" });
  });
  await page.reload();
  assert.equal(await page.evaluate(() => window.cjaas.userId()), "user-tag-1", "kept across pages");
  const events = await settled("user-tag-1", 5);
  assert.deepEqual(types(events), ["page", "CTA Clicked", "identify", "Signed In", "page"]);
  assert.deepEqual(
    events.map((e) => e.person),
    [anon, anon, "user-tag-1", "user-tag-1", "user-tag-1"],
  );
  assert.deepEqual(events[2].data.traits, { plan: "pro" });
  assert.equal(events[2].data.anonymousId, anon);
  const aliases = await api(server, "GET", "/v1/persons/user-tag-1/aliases");
  assert.deepEqual(aliases.body.aliases, [anon]);
  await context.close();
});

test("closing the page delivers what is queued (pagehide beacon)", async () => {
  const { context, page } = await visitor();
  await page.goto(site.url + "/index.html");
  const anon = await anonymousId(page);
  await page.click("#cta");
  // Well inside the 1 s batching interval: nothing has been sent yet.
  await page.close();
  const events = await settled(anon, 2);
  assert.deepEqual(types(events), ["page", "CTA Clicked"]);
  await context.close();
});

test("with Global Privacy Control the tag sends and stores nothing", async () => {
  const { context, page, sent } = await visitor({ gpc: true });
  await page.goto(site.url + "/index.html");
  assert.equal(await page.evaluate(() => navigator.globalPrivacyControl), true);
  await page.click("#cta");
  await page.evaluate(() => {
    window.cjaas.identify("gpc-user");
    window.cjaas.track("Should Not Send");
  });
  await sleep(2000);
  assert.equal(sent.length, 0);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  assert.equal((await context.cookies(site.url)).length, 0);
  assert.equal((await journey("gpc-user")).length, 0);
  await context.close();
});

test("with consent required nothing is stored or sent until cjaas.consent(true)", async () => {
  const { context, page, sent } = await visitor();
  await page.goto(site.url + "/consent.html");
  await page.click("#cta");
  await sleep(2000);
  assert.equal(sent.length, 0, "nothing before consent");
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  assert.equal((await context.cookies(site.url)).length, 0);

  await page.evaluate(() => window.cjaas.consent(true));
  const anon = await anonymousId(page);
  assert.deepEqual(types(await settled(anon, 2)), ["page", "CTA Clicked"], "the held events go once consented");
  await page.reload();
  assert.deepEqual(types(await settled(anon, 3)), ["page", "CTA Clicked", "page"], "consent is remembered");

  await page.evaluate(() => window.cjaas.consent(false));
  assert.equal((await context.cookies(site.url)).length, 0, "withdrawing forgets the id");
  await page.click("#cta");
  await page.reload();
  await page.click("#cta");
  assert.equal((await settled(anon, 3)).length, 3, "nothing after consent is withdrawn");
  await context.close();
});

test("offline: the queue survives, flushes when back online and after a reload, once each", async () => {
  const { context, page } = await visitor();
  await page.goto(site.url + "/index.html");
  const anon = await anonymousId(page);
  await settled(anon, 1);
  const queued = () => page.evaluate(() => JSON.parse(localStorage.getItem("cjaas.q") || "[]").length);
  // DevTools' offline emulation (navigator.onLine and the online/offline events follow it).
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  const setOffline = (offline) =>
    cdp.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  await setOffline(true);
  await page.click("#cta");
  await page.click("#cta");
  await sleep(1500);
  assert.equal(await queued(), 2, "kept while offline");
  await setOffline(false);
  assert.deepEqual(types(await settled(anon, 3)), ["page", "CTA Clicked", "CTA Clicked"]);
  assert.equal(await queued(), 0);

  await setOffline(true);
  await page.evaluate(() => window.cjaas.track("Offline Then Closed"));
  await sleep(1200);
  assert.equal(await queued(), 1);
  await page.close();
  const next = await context.newPage();
  await next.goto(site.url + "/about.html");
  const events = await settled(anon, 5);
  assert.deepEqual(types(events), ["page", "CTA Clicked", "CTA Clicked", "Offline Then Closed", "page"]);
  await context.close();
});

test("a page on an origin the key does not allow is refused", async () => {
  const { context, page, sent } = await visitor();
  const warnings = [];
  page.on("console", (message) => message.type() === "warn" && warnings.push(message.text()));
  const refused = new Promise((done) =>
    page.on("response", (r) => r.url().startsWith(server.url + "/v1/batch") && done(r.status())),
  );
  await page.goto(foreign.url + "/index.html");
  const anon = await anonymousId(page);
  assert.equal(await refused, 403);
  // The refusal is readable by the page (CORS allows it), with its code.
  const [status, problem] = await page.evaluate(
    async (url, writeKey) => {
      const body = JSON.stringify({ writeKey, batch: [{ type: "track", event: "Probe", anonymousId: "probe" }] });
      const response = await fetch(url + "/v1/batch", { method: "POST", headers: { "content-type": "text/plain" }, body });
      return [response.status, await response.json()];
    },
    server.url,
    key,
  );
  assert.equal(status, 403);
  assert.equal(problem.code, "origin_not_allowed");
  await page.click("#cta");
  await sleep(1500);
  assert.equal(sent.length, 2, "the tag stops after a refusal (the other request is the probe)");
  assert.ok(warnings.some((w) => w.includes("the key was refused (403)")), warnings.join("\n"));
  assert.equal((await journey(anon)).length, 0);
  assert.equal((await journey("probe")).length, 0);
  await context.close();
});

test("a device clock an hour fast: the Tape has the real time (sentAt corrects the skew)", async () => {
  const { context, page } = await visitor({ skewMs: 3600_000 });
  await page.goto(site.url + "/index.html");
  const anon = await anonymousId(page);
  await page.click("#cta");
  const events = await settled(anon, 2);
  for (const event of events) {
    const deviceAhead = Date.parse(event.data.timestamp) - Date.now();
    assert.ok(deviceAhead > 3500_000, `the device said ${event.data.timestamp}`);
    assert.ok(Math.abs(Date.parse(event.time) - Date.now()) < 60_000, `on the Tape at ${event.time}`);
  }
  await context.close();
});
