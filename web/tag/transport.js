// Batching and delivery to the Segment-compatible `POST /v1/batch`.
//
// - Messages queue in memory and in localStorage (bounded), so a reload or an offline
//   spell loses nothing; each keeps its messageId, so a resend is deduplicated on the Tape.
// - A batch leaves FLUSH_INTERVAL ms after the first message, or at once with FLUSH_AT
//   messages; one request at a time, `fetch` with keepalive.
// - When the page is hidden or unloaded, whatever is left goes by `sendBeacon`.
// - Failures retry with exponential back-off (Retry-After is honoured); a 400 is dropped
//   (it can never succeed); a 401/403 pauses sending until init() gives a new key.
// - The body is text/plain with the key inside (`writeKey`): a simple request, so no
//   CORS preflight.
import { loadQueue, saveQueue, MAX_QUEUE } from "./store.js";

export const FLUSH_AT = 20;
export const FLUSH_INTERVAL = 1000;
/** Bytes per request: under the 64 KiB that keepalive and sendBeacon allow. */
const MAX_BODY = 60000;
/** The server's limit per message. */
export const MAX_MESSAGE = 32768;
const BACKOFF_BASE = 1000;
const BACKOFF_MAX = 60000;

const bytes = (text) => new TextEncoder().encode(text).length;

let queue = [];
const inFlight = new Set();
const done = new Set();
let timer = null;
let attempt = 0;
let paused = false;
let target = null;

/** Starts delivery to `host` with `key`; again with a new key after a refusal. */
export function start(host, key) {
  const first = !target;
  target = { url: host + "/v1/batch", key };
  paused = false;
  if (first) {
    addEventListener("online", () => {
      attempt = 0;
      schedule(0);
    });
    sync();
  }
  schedule(0);
}

/** Stops sending and forgets the queue (consent withdrawn). */
export function stop() {
  paused = true;
  queue = [];
  clearTimeout(timer);
  timer = null;
}

/** Queues a message; false when it is too large to ever be accepted. */
export function enqueue(message) {
  if (bytes(JSON.stringify(message)) > MAX_MESSAGE) {
    console.warn("cjaas: a message over 32 KiB was dropped", message.type);
    return false;
  }
  queue.push(message);
  sync();
  schedule(pending().length >= FLUSH_AT ? 0 : FLUSH_INTERVAL);
  return true;
}

/** Merges the stored queue (from earlier pages or other tabs) and stores the result. */
function sync() {
  const ids = new Set(queue.map((m) => m.messageId));
  for (const m of loadQueue()) {
    if (!ids.has(m.messageId) && !done.has(m.messageId)) {
      queue.push(m);
      ids.add(m.messageId);
    }
  }
  if (queue.length > MAX_QUEUE) queue = queue.slice(-MAX_QUEUE);
  saveQueue(queue);
}

function forget(batch) {
  const ids = new Set(batch.map((m) => m.messageId));
  ids.forEach((id) => done.add(id));
  queue = queue.filter((m) => !ids.has(m.messageId));
  saveQueue(queue);
}

const pending = () => queue.filter((m) => !inFlight.has(m.messageId));

/** Sets the timer to `delay`, unless one is set already and this is no urgent call (or
 *  the tag is backing off). */
function schedule(delay) {
  if (timer && (delay > 0 || attempt)) return;
  clearTimeout(timer);
  timer = setTimeout(flush, delay);
}

function nextBatch() {
  const batch = [];
  let size = 200;
  for (const m of pending()) {
    const n = bytes(JSON.stringify(m)) + 64;
    if (batch.length && (batch.length >= FLUSH_AT || size + n > MAX_BODY)) break;
    batch.push(m);
    size += n;
  }
  return batch;
}

function body(batch) {
  const sentAt = new Date().toISOString();
  return JSON.stringify({ batch: batch.map((m) => ({ ...m, sentAt })), sentAt, writeKey: target.key });
}

const canSend = () => target && !paused && navigator.onLine !== false;

/** Sends the next batch now (one request at a time). */
export function flush() {
  clearTimeout(timer);
  timer = null;
  if (!canSend() || inFlight.size) return;
  const batch = nextBatch();
  if (batch.length) send(batch);
}

async function send(batch) {
  batch.forEach((m) => inFlight.add(m.messageId));
  let status = 0;
  let retryAfter = 0;
  try {
    const response = await fetch(target.url, {
      method: "POST",
      body: body(batch),
      headers: { "content-type": "text/plain" },
      keepalive: true,
      credentials: "omit",
    });
    status = response.status;
    retryAfter = Number(response.headers.get("retry-after")) || 0;
  } catch {}
  batch.forEach((m) => inFlight.delete(m.messageId));
  settle(batch, status, retryAfter);
}

function settle(batch, status, retryAfter) {
  if (status === 401 || status === 403) {
    paused = true;
    console.warn(`cjaas: the key was refused (${status}); check data-key and its allowed origins`);
    return;
  }
  if (status >= 200 && status < 300) {
    attempt = 0;
  } else if (status === 0 || status === 408 || status === 429 || status >= 500) {
    attempt++;
    const wait = Math.min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    schedule(Math.max(wait, retryAfter * 1000));
    return;
  } else {
    console.warn(`cjaas: ${batch.length} message(s) refused (${status}) and dropped`);
  }
  forget(batch);
  if (pending().length) schedule(0);
}

/** The page is going away (or hidden): hands what is left to sendBeacon. */
export function flushOnHide() {
  if (!canSend()) return;
  for (let batch = nextBatch(); batch.length; batch = nextBatch()) {
    let handed = false;
    try {
      handed = navigator.sendBeacon(target.url, new Blob([body(batch)], { type: "text/plain" }));
    } catch {}
    if (!handed) return;
    forget(batch);
  }
}
