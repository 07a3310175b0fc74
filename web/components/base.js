// What every CJaaS component shares: `base-url` and `credential` (attributes or
// properties), calls to the API that turn a problem response into an error carrying its
// `detail` and `errors`, and the loading / empty / error states.
import { LitElement, html, css } from "lit";

/** A failed API call: the problem body's `detail` (or the HTTP status), with its `errors`. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the API answered ${status}`);
    this.status = status;
    this.code = problem?.code;
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

export const shared = css`
  :host { display: block; font: 14px/1.4 system-ui, sans-serif; color: #1d2330; }
  [hidden] { display: none !important; }
  .state { padding: 12px; border-radius: 6px; background: #f3f5f8; color: #3c4657; }
  .state.error { background: #fdecec; color: #8a1c1c; }
  button { font: inherit; cursor: pointer; border: 1px solid #8792a6; background: #fff; color: #1d2330;
    border-radius: 4px; padding: 4px 10px; }
  button.primary { background: #1f56c2; border-color: #1f56c2; color: #fff; }
  button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible,
  [tabindex]:focus-visible { outline: 3px solid #f0a500; outline-offset: 1px; }
  input, select, textarea { font: inherit; border: 1px solid #8792a6; border-radius: 4px; padding: 4px 6px;
    background: #fff; color: #1d2330; }
  table { border-collapse: collapse; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e1e5eb; }
  .muted { color: #586174; }
  .problem { color: #a01616; font-size: 13px; margin: 2px 0 0; }
  code, pre { font: 12px/1.45 ui-monospace, monospace; }
`;

export class CjaasElement extends LitElement {
  static properties = {
    baseUrl: { type: String, attribute: "base-url" },
    credential: { type: String },
    _state: { state: true },
    _error: { state: true },
  };

  constructor() {
    super();
    this.baseUrl = "";
    this.credential = "";
    this._state = "idle";
    this._error = null;
  }

  /** Calls the API; resolves to the parsed JSON body, rejects with an ApiError. */
  async api(path, { method = "GET", body, signal, headers = {} } = {}) {
    const base = (this.baseUrl || "").replace(/\/$/, "");
    let response;
    try {
      response = await fetch(base + path, {
        method,
        signal,
        headers: {
          ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(0, { detail: `cannot reach CJaaS at ${base || location.origin}: ${e.message}` });
    }
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  /** Runs `load` with the loading / error states; `isEmpty(result)` picks the empty state. */
  async run(load, isEmpty = () => false) {
    this._state = "loading";
    this._error = null;
    try {
      const result = await load();
      this._state = isEmpty(result) ? "empty" : "ready";
      return result;
    } catch (e) {
      if (e.name === "AbortError") return undefined;
      this._error = e;
      this._state = "error";
      return undefined;
    }
  }

  /** The loading, empty or error message, or nothing when ready. */
  renderState(emptyText) {
    switch (this._state) {
      case "loading":
        return html`<p class="state" role="status" aria-live="polite">Loading…</p>`;
      case "empty":
        return html`<p class="state" role="status">${emptyText}</p>`;
      case "error":
        return html`<p class="state error" role="alert">${this._error?.message}</p>`;
      case "idle":
        return html`<p class="state" role="status">${this.idleText()}</p>`;
      default:
        return null;
    }
  }

  idleText() {
    return "Waiting for a credential.";
  }

  /** Whether any of `names` changed in `changed` and the element can call the API. */
  ready(changed, names) {
    return names.some((n) => changed.has(n)) && this.isConnected;
  }
}

export const enc = encodeURIComponent;

/** "1.2 s", "3 min", "2 h 5 min" for a duration in ms. */
export function duration(ms) {
  if (ms == null) return "–";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.round(h / 24)} d`;
}

export const pct = (x) => `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`;
