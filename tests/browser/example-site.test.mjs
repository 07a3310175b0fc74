// The reference site as a new user runs it: scripts/example-site starts the embedded
// default and serves web/examples/insurance-site with a freshly minted publishable key;
// a visitor clicks through home, quote, pricing and checkout, and the journey is on the
// live stream and on the Tape, linked to the customer who identified at checkout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { launchBrowser, repoRoot } from "./support.mjs";

let script, browser, output = "";
let cjaas, siteUrl, adminKey;

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function freePort() {
  return new Promise((done) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

before(async () => {
  const [port, sitePort] = [await freePort(), await freePort()];
  script = spawn(join(repoRoot, "scripts/example-site"), ["--port", port, "--site-port", sitePort], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  script.stdout.on("data", (chunk) => (output += chunk));
  script.stderr.on("data", (chunk) => (output += chunk));
  const deadline = Date.now() + 60000;
  while (!output.includes("Ctrl-C stops both")) {
    if (script.exitCode !== null || Date.now() > deadline) throw new Error(`example-site did not start:\n${output}`);
    await sleep(100);
  }
  siteUrl = output.match(/example site\): (http:\/\/\S+)\//)[1];
  cjaas = output.match(/embedded default\):\s+(http:\/\/\S+)/)[1];
  adminKey = output.match(/export CJAAS_KEY=(\S+)/)[1];
  assert.match(output, /curl -N http:\/\/127\.0\.0\.1:\d+\/v1\/stream/);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (script && script.exitCode === null) {
    script.kill("SIGTERM");
    await new Promise((done) => script.once("exit", done));
  }
});

async function journey(person) {
  const response = await fetch(`${cjaas}/v1/persons/${encodeURIComponent(person)}/events?limit=1000`, {
    headers: { authorization: `Bearer ${adminKey}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()).events;
}

/** Reads the tenant's live stream (SSE) into `seen` until `stop()`. */
function watchStream() {
  const controller = new AbortController();
  const seen = { text: "" };
  const done = fetch(`${cjaas}/v1/stream`, {
    headers: { authorization: `Bearer ${adminKey}` },
    signal: controller.signal,
  })
    .then(async (response) => {
      assert.equal(response.status, 200);
      for await (const chunk of response.body) seen.text += Buffer.from(chunk).toString("utf8");
    })
    .catch((error) => {
      if (error.name !== "AbortError") throw error;
    });
  return { seen, stop: () => (controller.abort(), done) };
}

test("a visitor's click-through of the example site arrives on the stream and the Tape", async () => {
  const stream = watchStream();
  const page = await browser.newPage();
  await page.goto(siteUrl + "/");
  const anon = await page.evaluate(async () => {
    while (!window.cjaas?.version) await new Promise((done) => setTimeout(done, 20));
    return window.cjaas.anonymousId();
  });

  await Promise.all([page.waitForNavigation(), page.click("#hero-quote")]);
  await page.type("#name", "Ada Lovelace");
  await page.type("#email", "ada@example.com");
  await page.type("#postcode", "1011 AB");
  await page.select("#cover", "home");
  await Promise.all([page.waitForNavigation(), page.click("#quote-submit")]);
  await page.click("#yearly");
  await Promise.all([page.waitForNavigation(), page.click("#plan-comfort")]);
  assert.equal(await page.$eval("#plan", (s) => s.value), "comfort");
  await page.type("#email", "ada@example.com");
  await page.type("#card", "4242424242424242");
  await Promise.all([page.waitForNavigation(), page.click("#checkout-submit")]);
  assert.match(await page.title(), /Welcome aboard/);

  const expected = [
    "page",
    "Get Quote Clicked",
    "page",
    "Quote Requested",
    "page",
    "page",
    "Plan Selected",
    "page",
    "identify",
    "Policy Purchased",
    "page",
  ];
  let events = [];
  for (const deadline = Date.now() + 20000; Date.now() < deadline; await sleep(200)) {
    events = await journey("ada@example.com");
    if (events.length >= expected.length) break;
  }
  await sleep(1000);
  events = await journey("ada@example.com");
  assert.deepEqual(
    events.map((e) => e.type),
    expected,
  );
  assert.equal(new Set(events.map((e) => e.id)).size, events.length);
  assert.deepEqual(
    events.filter((e) => e.type === "page").map((e) => e.data.properties.path + e.data.properties.search),
    ["/", "/quote.html", "/pricing.html", "/pricing.html?billing=yearly", "/checkout.html?plan=comfort", "/thanks.html"],
  );
  const persons = events.map((e) => e.person);
  assert.deepEqual(persons.slice(0, 8), Array(8).fill(anon), "the anonymous visit");
  assert.deepEqual(persons.slice(8), Array(3).fill("ada@example.com"), "after identify");
  const quote = events[3].data.properties;
  assert.deepEqual(quote.fields, { postcode: "1011 AB", coverage: "home" });
  assert.deepEqual(events[9].data.properties.fields, { plan: "comfort" });
  assert.equal(events[6].data.properties.plan, "comfort");
  const everything = JSON.stringify(events);
  for (const secret of ["Ada Lovelace", "4242424242424242"]) {
    assert.ok(!everything.includes(secret), `${secret} is never sent`);
  }

  await sleep(500);
  await stream.stop();
  for (const type of ["Get Quote Clicked", "Quote Requested", "Plan Selected", "Policy Purchased"]) {
    assert.ok(stream.seen.text.includes(type), `the live stream shows ${type}`);
  }
  await page.close();
});
