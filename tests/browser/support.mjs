// Shared harness for the real-browser tests: a fresh embedded default per suite, a static
// file server on another origin, and Debian's chromium driven by puppeteer-core.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, extname, normalize, resolve } from "node:path";
import puppeteer from "puppeteer-core";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** Starts `cjaas-local` on a free port with a fresh data folder.
 *  Returns { url, key, token, dataDir, log(), stop() }; `key` is the dev tenant's admin key. */
export async function startServer({ args = [], env = {}, dataDir, addr = "127.0.0.1:0" } = {}) {
  const binary = process.env.CJAAS_LOCAL_BIN ?? join(repoRoot, "target/debug/cjaas-local");
  dataDir ??= mkdtempSync(join(tmpdir(), "cjaas-browser-"));
  const child = spawn(binary, ["--data-dir", dataDir, "--addr", addr, ...args], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  // The banner ends with the development token's line; the key (first start only) comes
  // before it, after the address: wait for the whole banner, not just the address.
  const url = await waitFor(
    () => /export CJAAS_TOKEN=\S+\n/.test(output) && output.match(/listening on (http:\/\/[0-9.:]+)/)?.[1],
    child,
    () => output,
  );
  const key = output.match(/cjk_dev_[A-Za-z0-9_-]+/)?.[0];
  const token = output.match(/cjt_[A-Za-z0-9_.-]+/)?.[0];
  return {
    url,
    key,
    token,
    dataDir,
    log: () => output,
    async stop({ keepData = false } = {}) {
      child.kill("SIGTERM");
      await new Promise((done) => (child.exitCode !== null ? done() : child.once("exit", done)));
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
    /** Stops the server and starts it again on the same address and data (a dropped
     *  connection for every client); resolves to the new server handle. */
    async restart() {
      await this.stop({ keepData: true });
      const again = await startServer({ args, env, dataDir, addr: new URL(url).host });
      return Object.assign(again, { key });
    },
  };
}

async function waitFor(probe, child, log, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value) return value;
    if (child.exitCode !== null) throw new Error(`cjaas-local exited during startup:\n${log()}`);
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`cjaas-local did not start within ${timeoutMs} ms:\n${log()}`);
}

const contentTypes = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** Serves `root` on 127.0.0.1 (a different origin from the CJaaS server), with
 *  `/index.html` for folders. `routes` maps a path to a function (req, res) for extras.
 *  Returns { url, close() }. */
export async function serveStatic(root, routes = {}) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (routes[path]) return routes[path](req, res);
    let file = normalize(join(root, path));
    if (!file.startsWith(normalize(root))) return res.writeHead(403).end();
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": contentTypes[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    // Chromium keeps connections alive: close them too, or close() waits for its timeout.
    close: () => new Promise((done) => {
      server.close(done);
      server.closeAllConnections();
    }),
  };
}

/** Launches Debian's chromium (CHROMIUM_PATH, else /usr/bin/chromium), headless. */
export async function launchBrowser() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
}

/** Calls the CJaaS API with a credential; returns { status, headers, body } (JSON when it parses). */
export async function api(server, method, path, { body, credential = server.key, headers = {} } = {}) {
  const response = await fetch(server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${credential}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed };
}

// ---- Helpers of the component and console tests ----

/** CloudEvents for `person`: `steps` is a list of [type, minutes ago, data?]. */
export function journeyEvents(person, steps, { source = "https://shop.example.com/web", prefix = person } = {}) {
  const now = Date.now();
  return steps.map(([type, minutesAgo, data = {}], i) => ({
    specversion: "1.0",
    id: `${prefix}-${i}`,
    source,
    type,
    person,
    time: new Date(now - minutesAgo * 60000).toISOString(),
    data,
  }));
}

/** Sends `events` in batches of 500; throws unless every batch is accepted. */
export async function sendEvents(server, events) {
  for (let i = 0; i < events.length; i += 500) {
    const response = await api(server, "POST", "/v1/events", {
      body: events.slice(i, i + 500),
      headers: { "content-type": "application/cloudevents-batch+json" },
    });
    if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${JSON.stringify(response.body)}`);
  }
}

/** Waits until `probe()` resolves truthy (polling every 100 ms). */
export async function eventually(probe, { timeoutMs = 15000, what = "a condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** A page on the CJaaS origin whose document is `body` (served by request interception,
 *  so the components and the API calls are the server's own, same-origin). */
export async function componentPage(browser, server, body, { width = 1100, height = 800 } = {}) {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  const url = `${server.url}/__test__/page.html`;
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    if (request.url() === url) {
      return request.respond({
        status: 200,
        contentType: "text/html; charset=utf-8",
        body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>component test</title>
          <script src="/v1/components.js"></script></head><body style="font-family:system-ui;margin:16px">
          <main>${body}</main></body></html>`,
      });
    }
    return request.continue();
  });
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(url);
  await page.evaluate((key) => {
    for (const el of document.querySelectorAll("main > *")) el.credential = key;
  }, server.key);
  return page;
}

const axeSource = readFileSync(join(repoRoot, "tests/browser/node_modules/axe-core/axe.min.js"), "utf8");

/** axe-core's violations of impact serious or critical on the page (shadow DOM included). */
export async function seriousViolations(page, context = "html") {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async (context) => {
    const result = await window.axe.run(context, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  }, context);
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Saves a PNG into docs/images when CJAAS_SCREENSHOTS=1 (so plain runs leave the tree alone). */
export async function screenshot(target, name) {
  if (process.env.CJAAS_SCREENSHOTS !== "1") return;
  const options = target.constructor.name.includes("Page") ? { fullPage: true } : {};
  await target.screenshot({ path: join(repoRoot, "docs/images", `${name}.png`), ...options });
}
