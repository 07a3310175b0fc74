// What the tag keeps on the device: the anonymous id (a first-party cookie, mirrored in
// localStorage), the user id after identify, the consent decision, and the offline
// queue of unsent messages. Storage can be missing or full (private modes, quotas): every
// access is guarded, and the tag then keeps things in memory for the page's life.

const PREFIX = "cjaas.";
const COOKIE = "cjaas_aid";
const YEAR_SECONDS = 31536000;
/** Most messages kept unsent; past it the oldest are dropped. */
export const MAX_QUEUE = 200;

const memory = {};

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function read(name) {
  try {
    const value = storage()?.getItem(PREFIX + name);
    if (value != null) return value;
  } catch {}
  return memory[name] ?? null;
}

/** Writes (or, with null, removes) a value; false when storage refused it. */
export function write(name, value) {
  if (value == null) delete memory[name];
  else memory[name] = value;
  try {
    const s = storage();
    if (!s) return false;
    if (value == null) s.removeItem(PREFIX + name);
    else s.setItem(PREFIX + name, value);
    return true;
  } catch {
    return false;
  }
}

export function readCookie() {
  const match = document.cookie.match(/(?:^|;\s*)cjaas_aid=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

export function writeCookie(value) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  const life = value == null ? 0 : YEAR_SECONDS;
  document.cookie = `${COOKIE}=${encodeURIComponent(value ?? "")}; path=/; max-age=${life}; SameSite=Lax${secure}`;
}

/** A random UUID (v4), also on plain-http pages where crypto.randomUUID is missing. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The queue as stored (another tab may have changed it since). */
export function loadQueue() {
  try {
    const parsed = JSON.parse(storage()?.getItem(PREFIX + "q") ?? "[]");
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** Stores the queue, best effort: when the quota is full, the oldest half is left out
 *  (the page still holds every message in memory). */
export function saveQueue(queue) {
  let kept = queue.slice(-MAX_QUEUE);
  for (let tries = 0; tries < 4; tries++) {
    try {
      storage()?.setItem(PREFIX + "q", JSON.stringify(kept));
      return;
    } catch {
      kept = kept.slice(Math.ceil(kept.length / 2));
    }
  }
}

/** Forgets everything the tag stored (consent withdrawn). */
export function clearAll() {
  for (const name of ["aid", "uid", "q", "consent"]) write(name, null);
  writeCookie(null);
}
