// <cjaas-journey person="…">: a person's journey across channels and alias ids, in event
// time. Pages back through history as the user scrolls up, follows the live stream (and
// resumes it with Last-Event-ID), and expands an event to show its data. Only the rows
// in view are in the DOM, so long journeys scroll smoothly.
import { html, css } from "lit";
import { CjaasElement, shared, enc } from "./base.js";
import { follow } from "./sse.js";

const ROW = 40;
const LINE = 17;
const MAX_LINES = 14;
const OVERSCAN = 8;
const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

export class CjaasJourney extends CjaasElement {
  static properties = {
    person: { type: String },
    pageSize: { type: Number, attribute: "page-size" },
    live: { type: String },
    streamUrl: { type: String, attribute: "stream-url" },
    _rows: { state: true },
    _top: { state: true },
    _older: { state: true },
    _liveState: { state: true },
    _expanded: { state: true },
  };

  static styles = [
    shared,
    css`
      header { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; flex-wrap: wrap; }
      h3 { margin: 0; font-size: 15px; }
      .badge { font-size: 12px; padding: 1px 6px; border-radius: 10px; background: #e4e8ee; color: #2b3342; }
      .badge.live { background: #d9f2e3; color: #0b5a2b; }
      .badge.reconnecting, .badge.error { background: #fde7cc; color: #7a3d00; }
      .scroller { position: relative; height: var(--cjaas-journey-height, 420px); overflow-y: auto;
        border: 1px solid #d5dae2; border-radius: 6px; background: #fff; contain: strict; }
      .rows { position: absolute; left: 0; right: 0; top: 0; }
      .row { border-bottom: 1px solid #eef0f4; box-sizing: border-box; overflow: hidden; contain: layout paint style; }
      .row > button { display: grid; grid-template-columns: 150px 1fr auto; gap: 8px; width: 100%;
        height: ${ROW}px; border: 0; border-radius: 0; text-align: left; align-items: center; background: none; }
      .row > button:hover { background: #f5f7fa; }
      .time { color: #4a5467; font-variant-numeric: tabular-nums; font-size: 12px; }
      .type { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .chan { font-size: 12px; color: #4a5467; white-space: nowrap; }
      .alias { margin-left: 6px; font-size: 11px; padding: 0 5px; border-radius: 8px; background: #efe6fb; color: #4b2685; }
      pre { margin: 0 8px 8px 158px; padding: 6px 8px; background: #f6f8fb; border-radius: 4px; overflow: auto;
        max-height: ${MAX_LINES * LINE}px; }
    `,
  ];

  constructor() {
    super();
    this.person = "";
    this.pageSize = 200;
    this.live = "on";
    this.streamUrl = "";
    this._rows = [];
    this._top = 0;
    this._older = null;
    this._liveState = "off";
    this._expanded = new Set();
    this._keys = new Set();
    this._offsets = [0];
    this._loadingOlder = false;
  }

  /** The events shown, in event-time order. */
  get events() {
    return this._rows.map((r) => r.event);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._stop?.abort();
  }

  updated(changed) {
    if (this.ready(changed, ["person", "baseUrl", "credential", "pageSize", "live", "streamUrl"])) this._start();
  }

  async _start() {
    this._stop?.abort();
    this._rows = [];
    this._keys = new Set();
    this._expanded = new Set();
    this._older = null;
    this._liveState = "off";
    if (!this.person || !this.credential) {
      this._state = "idle";
      return;
    }
    const stop = (this._stop = new AbortController());
    if (this.live !== "off") this._follow(stop.signal);
    const page = await this.run(
      () => this._page(null, stop.signal),
      () => this._rows.length === 0,
    );
    if (page && !stop.signal.aborted) {
      await this.updateComplete;
      const scroller = this.renderRoot.querySelector(".scroller");
      if (scroller) scroller.scrollTop = scroller.scrollHeight;
    }
  }

  idleText() {
    return this.person ? "Waiting for a credential." : "Choose a person to see their journey.";
  }

  /** One page of history, newest first from `cursor`; adds it and keeps the next cursor. */
  async _page(cursor, signal) {
    const size = Math.min(Math.max(this.pageSize || 200, 1), 1000);
    const query = `order=desc&limit=${size}` + (cursor ? `&cursor=${enc(cursor)}` : "");
    const body = await this.api(`/v1/persons/${enc(this.person)}/events?${query}`, { signal });
    if (signal.aborted) return body;
    this._add(body.events);
    this._older = body.next_cursor ?? null;
    return body;
  }

  async _follow(signal) {
    let ids = [this.person];
    try {
      const links = await this.api(`/v1/persons/${enc(this.person)}/aliases`, { signal });
      if (Array.isArray(links?.group) && links.group.length) ids = links.group.slice(0, 4);
    } catch {}
    // In AWS the live stream is the `stream` function's URL (StreamUrl), not the API's.
    const base = (this.streamUrl || this.baseUrl || "").replace(/\/$/, "");
    for (const id of ids) {
      follow(`${base}/v1/persons/${enc(id)}/stream`, {
        credential: this.credential,
        signal,
        onState: (state) => (this._liveState = state),
        onEvent: (message) => {
          if (message.event !== "cloudevent") return;
          try {
            const scroller = this.renderRoot.querySelector(".scroller");
            const atEnd = !scroller || scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - ROW;
            this._add([JSON.parse(message.data)]);
            if (this._state === "empty") this._state = "ready";
            if (atEnd) this.updateComplete.then(() => scroller && (scroller.scrollTop = scroller.scrollHeight));
          } catch {}
        },
      });
    }
  }

  /** Adds events not shown yet, each at its place in event time. */
  _add(events) {
    const rows = this._rows.slice();
    for (const event of events) {
      const key = `${event.source}\u0000${event.id}`;
      if (this._keys.has(key)) continue;
      this._keys.add(key);
      const t = Date.parse(event.time) || 0;
      let lo = 0;
      let hi = rows.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (rows[mid].t <= t) lo = mid + 1;
        else hi = mid;
      }
      rows.splice(lo, 0, { key, t, event });
    }
    this._rows = rows;
  }

  _json(row) {
    if (!row.json) {
      const { specversion, ...rest } = row.event;
      row.json = JSON.stringify(rest, null, 2);
      row.lines = Math.min(row.json.split("\n").length, MAX_LINES);
    }
    return row.json;
  }

  _height(row) {
    if (!this._expanded.has(row.key)) return ROW;
    this._json(row);
    return ROW + row.lines * LINE + 20;
  }

  willUpdate(changed) {
    if (!changed.has("_rows") && !changed.has("_expanded")) return;
    const offsets = new Array(this._rows.length + 1);
    offsets[0] = 0;
    for (let i = 0; i < this._rows.length; i++) offsets[i + 1] = offsets[i] + this._height(this._rows[i]);
    this._offsets = offsets;
  }

  _onScroll(e) {
    const scroller = e.currentTarget;
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = null;
      this._top = scroller.scrollTop;
      this._viewport = scroller.clientHeight;
      if (scroller.scrollTop < ROW * 5) this._loadOlder();
    });
  }

  async _loadOlder() {
    if (!this._older || this._loadingOlder) return;
    this._loadingOlder = true;
    const scroller = this.renderRoot.querySelector(".scroller");
    const before = this._offsets[this._offsets.length - 1];
    try {
      await this._page(this._older, this._stop.signal);
      await this.updateComplete;
      const added = this._offsets[this._offsets.length - 1] - before;
      scroller.scrollTop += added;
      this._top = scroller.scrollTop;
    } catch (e) {
      if (e.name !== "AbortError") {
        this._error = e;
        this._state = "error";
      }
    } finally {
      this._loadingOlder = false;
    }
  }

  _toggle(row) {
    const expanded = new Set(this._expanded);
    if (expanded.has(row.key)) expanded.delete(row.key);
    else expanded.add(row.key);
    this._expanded = expanded;
  }

  _first(top) {
    let lo = 0;
    let hi = this._rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this._offsets[mid + 1] <= top) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  render() {
    const state = this.renderState("No events for this person yet.");
    const height = this._viewport || 420;
    const first = Math.max(this._first(this._top) - OVERSCAN, 0);
    const last = Math.min(this._first(this._top + height) + OVERSCAN, this._rows.length);
    const total = this._offsets[this._rows.length];
    const visible = this._rows.slice(first, last);
    return html`
      <header>
        <h3>Journey of ${this.person || "…"}</h3>
        <span class="badge">${this._rows.length} events</span>
        ${this.live !== "off"
          ? html`<span class="badge ${this._liveState}" role="status" aria-live="polite">live: ${this._liveState}</span>`
          : null}
        ${this._older ? html`<button @click=${this._loadOlder}>Load older events</button>` : null}
      </header>
      ${this._state === "ready" || this._rows.length
        ? html`
            ${this._state === "error" ? state : null}
            <div class="scroller" tabindex="0" role="region" aria-label="Events, oldest first" @scroll=${this._onScroll}>
              <div style="height:${total}px" aria-hidden="true"></div>
              <div class="rows" role="list" style="transform:translateY(${this._offsets[first]}px)">
                ${visible.map((row) => this._renderRow(row))}
              </div>
            </div>`
        : state}
    `;
  }

  _renderRow(row) {
    const open = this._expanded.has(row.key);
    const e = row.event;
    const alias = e.person && e.person !== this.person;
    return html`<div class="row" role="listitem" style="height:${this._height(row)}px" data-type=${e.type}
      data-time=${e.time}>
      <button aria-expanded=${open} @click=${() => this._toggle(row)}>
        <span class="time">${(row.label ??= TIME.format(row.t))}</span>
        <span class="type">${e.type}</span>
        <span class="chan">${e.source}${alias ? html`<span class="alias" title="alias id">${e.person}</span>` : null}</span>
      </button>
      ${open ? html`<pre tabindex="0" aria-label="event data">${this._json(row)}</pre>` : null}
    </div>`;
  }
}

customElements.define("cjaas-journey", CjaasJourney);
