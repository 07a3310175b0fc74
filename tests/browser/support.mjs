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
export async function startServer({ args = [], env = {} } = {}) {
  const binary = process.env.CJAAS_LOCAL_BIN ?? join(repoRoot, "target/debug/cjaas-local");
  const dataDir = mkdtempSync(join(tmpdir(), "cjaas-browser-"));
  const child = spawn(binary, ["--data-dir", dataDir, "--addr", "127.0.0.1:0", ...args], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const url = await waitFor(() => output.match(/listening on (http:\/\/[0-9.:]+)/)?.[1], child, () => output);
  const key = output.match(/cjk_dev_[A-Za-z0-9_-]+/)?.[0];
  const token = output.match(/cjt_[A-Za-z0-9_.-]+/)?.[0];
  return {
    url,
    key,
    token,
    dataDir,
    log: () => output,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((done) => (child.exitCode !== null ? done() : child.once("exit", done)));
      rmSync(dataDir, { recursive: true, force: true });
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
    close: () => new Promise((done) => server.close(done)),
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
