// <cjaas-profile person="…" view="…">: the profile's attributes; clicking one explains it
// with the events (id, channel) that made its value.
import { html, css } from "lit";
import { CjaasElement, shared, enc } from "./base.js";

export class CjaasProfile extends CjaasElement {
  static properties = {
    person: { type: String },
    view: { type: String },
    _profile: { state: true },
    _explained: { state: true },
    _open: { state: true },
  };

  static styles = [
    shared,
    css`
      h3 { margin: 0 0 6px; font-size: 15px; }
      dl { display: grid; grid-template-columns: minmax(120px, max-content) 1fr; margin: 0; border: 1px solid #d5dae2;
        border-radius: 6px; overflow: hidden; }
      dt, dd { margin: 0; padding: 6px 10px; border-bottom: 1px solid #eef0f4; }
      dt button { border: 0; padding: 0; background: none; color: #1f56c2; text-decoration: underline; text-align: left; }
      dd { font-variant-numeric: tabular-nums; word-break: break-word; }
      dl > div { display: contents; }
      .explain { margin-top: 6px; padding: 6px 8px; border-radius: 4px; background: #f6f8fb; font-size: 13px; }
      .explain ul { margin: 4px 0; padding-left: 18px; }
      .meta { font-size: 12px; margin-top: 6px; }
    `,
  ];

  constructor() {
    super();
    this.person = "";
    this.view = "";
    this._profile = null;
    this._explained = null;
    this._open = null;
  }

  updated(changed) {
    if (this.ready(changed, ["person", "view", "baseUrl", "credential"])) this.load();
  }

  idleText() {
    if (!this.person) return "Choose a person to see their profile.";
    if (!this.view) return "Choose a view to fold the profile with.";
    return "Waiting for a credential.";
  }

  async load() {
    this._profile = null;
    this._explained = null;
    this._open = null;
    if (!this.person || !this.view || !this.credential) {
      this._state = "idle";
      return;
    }
    const body = await this.run(
      () => this.api(`/v1/persons/${enc(this.person)}/profile?view=${enc(this.view)}`),
      (b) => Object.keys(b?.profile?.attributes ?? {}).length === 0,
    );
    if (body) this._profile = body.profile;
  }

  async _explain(name) {
    this._open = this._open === name ? null : name;
    if (this._explained || !this._open) return;
    try {
      const body = await this.api(`/v1/persons/${enc(this.person)}/profile?view=${enc(this.view)}&explain=true`);
      this._explained = body.profile.events ?? {};
    } catch (e) {
      this._explained = { [name]: e };
    }
  }

  render() {
    const p = this._profile;
    return html`<h3>Profile of ${this.person || "…"}</h3>
      ${p
        ? html`<dl>
              ${Object.entries(p.attributes).map(([name, value]) => this._attribute(name, value))}
            </dl>
            <p class="meta muted">Ids: ${(p.group ?? [p.person]).join(", ")} · ${p.stats?.events_read ?? 0} events read</p>`
        : this.renderState("This view has no attributes.")}`;
  }

  _attribute(name, value) {
    const open = this._open === name;
    const used = this._explained?.[name];
    return html`<div><dt>
        <button aria-expanded=${open} aria-controls="explain-${name}" @click=${() => this._explain(name)}>${name}</button>
      </dt>
      <dd>${value === null || value === undefined ? html`<span class="muted">–</span>` : format(value)}
      ${open
        ? html`<div class="explain" id="explain-${name}" role="region" aria-label="Events behind ${name}">
            ${used instanceof Error
              ? html`<span role="alert" class="problem">${used.message}</span>`
              : used === undefined
                ? this._explained
                  ? html`<span class="muted">Computed without events (an expression or no match).</span>`
                  : html`<span role="status">Loading…</span>`
                : html`${used.length} event(s) made this value:
                    <ul>${used.map((e) => html`<li><code>${e.id}</code> from <code>${e.source}</code></li>`)}</ul>`}
          </div>`
        : null}</dd></div>`;
  }
}

function format(value) {
  if (typeof value === "object") return html`<code>${JSON.stringify(value)}</code>`;
  return String(value);
}

customElements.define("cjaas-profile", CjaasProfile);
