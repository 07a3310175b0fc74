// The harness itself: chromium starts, a page on another origin loads, and it can reach
// the embedded default (its health route answers a simple cross-origin GET).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, serveStatic, launchBrowser } from "./support.mjs";

let server, site, browser, root;

before(async () => {
  server = await startServer();
  root = mkdtempSync(join(tmpdir(), "cjaas-site-"));
  writeFileSync(join(root, "index.html"), "<!doctype html><title>harness</title><h1>ok</h1>");
  site = await serveStatic(root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

test("chromium loads a page served on another origin than the embedded default", async () => {
  assert.ok(server.key, "the first start prints the dev tenant's admin key");
  assert.notEqual(new URL(site.url).origin, new URL(server.url).origin);
  const page = await browser.newPage();
  await page.goto(site.url + "/");
  assert.equal(await page.title(), "harness");
  assert.equal(await page.$eval("h1", (h1) => h1.textContent), "ok");
});
