// The CJaaS browser tag, served at /v1/tag.js:
//
//   <script async src="https://cjaas.example.com/v1/tag.js" data-key="cjp_…"></script>
//
// Options come from the script tag's data attributes (data-key, data-host,
// data-consent="required") and/or cjaas.init({key, host, consent, trackPages,
// trackClicks, trackForms}). The API: cjaas.track(name, properties),
// cjaas.identify(userId, traits), cjaas.page(name?, properties?), cjaas.alias(userId,
// previousId?), cjaas.reset(), cjaas.consent(granted), cjaas.flush().
//
// Privacy: with navigator.globalPrivacyControl the tag sends and stores nothing. With
// consent required it stores and sends nothing until cjaas.consent(true), holding the
// page's events in memory meanwhile; cjaas.consent(false) forgets what it stored and
// stops, on this device, until consent(true).
import { read, write, readCookie, writeCookie, uuid, clearAll, MAX_QUEUE } from "./store.js";
import * as transport from "./transport.js";
import { pageKey, trackPages, trackClicks, trackForms } from "./autotrack.js";

const VERSION = "1.0.0";
const script = document.currentScript || document.querySelector('script[src*="/v1/tag.js"]');
const attr = (name) => script?.getAttribute("data-" + name) || undefined;

const state = {
  options: null,
  consent: null,
  anonymousId: null,
  userId: null,
  url: null,
  referrer: document.referrer,
  held: [],
  early: [],
  lastTime: 0,
};

const gpc = () => navigator.globalPrivacyControl === true;
const awaitingConsent = () => state.options.consentRequired && state.consent !== "1";
const allowed = () => !gpc() && state.consent !== "0" && !awaitingConsent();

function loadIds() {
  if (allowed()) {
    state.anonymousId = readCookie() || read("aid") || state.anonymousId || uuid();
    state.userId = state.userId || read("uid");
    saveIds();
  } else {
    state.anonymousId ||= uuid();
  }
}

function saveIds() {
  if (!allowed()) return;
  writeCookie(state.anonymousId);
  write("aid", state.anonymousId);
  write("uid", state.userId);
}

function pageProperties() {
  const url = location.origin + pageKey();
  if (url !== state.url) {
    if (state.url) state.referrer = state.url;
    state.url = url;
  }
  return { path: location.pathname, referrer: state.referrer, search: location.search, title: document.title, url };
}

function context() {
  return {
    page: pageProperties(),
    userAgent: navigator.userAgent,
    locale: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: screen.width, height: screen.height },
    library: { name: "cjaas-tag", version: VERSION },
  };
}

// Strictly increasing on the page, so calls made in the same millisecond keep their
// order on the Tape, which is in event time.
function timestamp() {
  state.lastTime = Math.max(Date.now(), state.lastTime + 1);
  return new Date(state.lastTime).toISOString();
}

function emit(type, fields) {
  if (gpc() || state.consent === "0") return;
  const message = {
    type,
    messageId: uuid(),
    anonymousId: state.anonymousId,
    ...(state.userId ? { userId: state.userId } : {}),
    timestamp: timestamp(),
    context: context(),
    ...fields,
  };
  if (awaitingConsent()) {
    if (state.held.length < MAX_QUEUE) state.held.push(message);
  } else {
    transport.enqueue(message);
  }
}

const object = (value) => (value && typeof value === "object" ? value : {});

function track(name, properties) {
  if (typeof name !== "string" || !name) throw new TypeError("track needs an event name");
  emit("track", { event: name, properties: object(properties) });
}

function page(name, properties) {
  if (typeof name === "object") [name, properties] = [undefined, name];
  emit("page", { ...(name ? { name: String(name) } : {}), properties: { ...pageProperties(), ...object(properties) } });
}

function identify(userId, traits) {
  if (typeof userId === "object" && userId) [userId, traits] = [null, userId];
  if (userId != null && userId !== "") {
    state.userId = String(userId);
    saveIds();
  }
  emit("identify", { traits: object(traits) });
}

function alias(userId, previousId) {
  if (userId == null || userId === "") throw new TypeError("alias needs a user id");
  const previous = previousId ?? state.userId ?? state.anonymousId;
  state.userId = String(userId);
  emit("alias", { userId: state.userId, previousId: String(previous) });
  saveIds();
}

/** A new visitor on this device (after a logout): new anonymous id, no user id. */
function reset() {
  state.userId = null;
  state.anonymousId = uuid();
  saveIds();
}

function consent(granted) {
  if (gpc()) return;
  if (!granted) {
    state.consent = "0";
    state.held = [];
    transport.stop();
    clearAll();
    write("consent", "0");
    return;
  }
  state.consent = "1";
  write("consent", "1");
  loadIds();
  for (const m of state.held) m.anonymousId = state.anonymousId;
  start();
  state.held.splice(0).forEach(transport.enqueue);
}

function start() {
  transport.start(state.options.host, state.options.key);
}

function init(options = {}) {
  const host = (options.host || attr("host") || (script?.src ? new URL(script.src).origin : location.origin)).replace(/\/+$/, "");
  const key = options.key || options.writeKey || attr("key");
  if (state.options) {
    // A new key (a fresh short-lived token, say) or host; delivery resumes with it.
    Object.assign(state.options, { host, key: key || state.options.key });
    if (allowed()) start();
    return;
  }
  const mode = options.consent ?? attr("consent");
  state.options = { host, key, consentRequired: mode === "required" || mode === true };
  if (gpc()) return;
  if (!key) {
    console.warn("cjaas: no key: set data-key on the script tag or call cjaas.init({key})");
    state.options = null;
    return;
  }
  state.consent = read("consent");
  loadIds();
  if (allowed()) start();
  addEventListener("pagehide", transport.flushOnHide);
  document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && transport.flushOnHide());
  state.early.splice(0).forEach(([name, args]) => api[name](...args));
  if (options.trackPages !== false) trackPages(() => page());
  if (options.trackClicks !== false) trackClicks((name, properties) => api.track(name, properties));
  if (options.trackForms !== false) trackForms((name, properties) => api.track(name, properties));
}

/** Calls before init wait for it; errors in a call never break the page. */
const method = (name, fn) => (...args) => {
  if (!state.options) return void state.early.push([name, args]);
  try {
    fn(...args);
  } catch (error) {
    console.warn("cjaas:", error.message);
  }
};

const api = {
  version: VERSION,
  init,
  track: method("track", track),
  page: method("page", page),
  identify: method("identify", identify),
  alias: method("alias", alias),
  reset: method("reset", reset),
  consent: method("consent", consent),
  flush: () => transport.flush(),
  anonymousId: () => state.anonymousId,
  userId: () => state.userId,
};

if (!window.cjaas?.version) {
  // Calls queued by the optional inline stub: window.cjaas = {q: [[name, args], …]}.
  const stub = window.cjaas;
  const calls = Array.isArray(stub) ? stub : Array.isArray(stub?.q) ? stub.q : [];
  window.cjaas = api;
  const initCall = calls.find(([name]) => name === "init");
  for (const [name, args] of calls) if (name !== "init" && api[name]) api[name](...args);
  if (initCall || attr("key")) init(initCall?.[1]?.[0]);
}
