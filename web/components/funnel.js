// <cjaas-funnel funnel="…" window="7d">: a funnel report as step bars, with the
// conversion from step 1, the drop-off from the step before and the median time between
// steps. Without `funnel`, it offers the tenant's funnels to choose from.
import { html, css } from "lit";
import { CjaasElement, shared, enc, pct, duration } from "./base.js";

export class CjaasFunnel extends CjaasElement {
  static properties = {
    funnel: { type: String },
    window: { type: String },
    _report: { state: true },
    _funnels: { state: true },
  };

  static styles = [
    shared,
    css`
      header { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
      h3 { margin: 0; font-size: 15px; }
      ol { list-style: none; margin: 0; padding: 0; }
      li { display: grid; grid-template-columns: minmax(140px, 220px) 1fr; gap: 10px; align-items: center; padding: 6px 0;
        border-bottom: 1px solid #eef0f4; }
      .bar { position: relative; height: 26px; background: #eef1f6; border-radius: 4px; }
      .fill { position: absolute; inset: 0 auto 0 0; background: #1f56c2; border-radius: 4px; }
      .bar span { position: absolute; left: 8px; top: 4px; font-weight: 600; color: #fff; mix-blend-mode: normal;
        text-shadow: 0 0 3px #0b2a66; }
      .facts { grid-column: 2; font-size: 12px; color: #4a5467; display: flex; gap: 14px; flex-wrap: wrap; }
      .drop { color: #a01616; }
    `,
  ];

  constructor() {
    super();
    this.funnel = "";
    this.window = "7d";
    this._report = null;
    this._funnels = null;
  }

  updated(changed) {
    if (this.ready(changed, ["funnel", "window", "baseUrl", "credential"])) this.load();
  }

  async load() {
    this._report = null;
    if (!this.credential) {
      this._state = "idle";
      return;
    }
    if (!this.funnel) {
      const list = await this.run(() => this.api("/v1/funnels"), (b) => !b?.funnels?.length);
      this._funnels = list?.funnels ?? [];
      if (this._funnels.length) this.funnel = this._funnels[0].id;
      return;
    }
    const body = await this.run(
      () => this.api(`/v1/funnels/${enc(this.funnel)}/report?window=${enc(this.window || "7d")}`),
      (b) => !b?.funnel?.steps?.length,
    );
    this._report = body?.funnel ?? null;
  }

  render() {
    const f = this._report;
    return html`<header>
        <h3>Funnel ${f ? f.name : ""} · ${this.window}</h3>
        ${this._funnels?.length > 1
          ? html`<label>Funnel <select @change=${(e) => (this.funnel = e.target.value)}>
              ${this._funnels.map((x) => html`<option value=${x.id} ?selected=${x.id === this.funnel}>${x.name}</option>`)}
            </select></label>`
          : null}
      </header>
      ${f && this._state === "ready" ? this._steps(f) : this.renderState("No funnel defined yet.")}`;
  }

  _steps(f) {
    return html`<ol aria-label="Funnel steps">
      ${f.steps.map((s, i) => {
        const previous = i ? f.steps[i - 1].persons : s.persons;
        const dropped = previous - s.persons;
        return html`<li data-type=${s.type} data-persons=${s.persons} data-conversion=${s.conversion}>
          <span><strong>${i + 1}.</strong> ${s.type}</span>
          <div class="bar" role="img" aria-label="${s.persons} persons, ${pct(s.conversion)} of step 1">
            <div class="fill" style="width:${Math.max(s.conversion * 100, 0.5)}%"></div>
            <span>${pct(s.conversion)}</span>
          </div>
          <div class="facts">
            <span>${s.persons} persons</span>
            ${i
              ? html`<span>${pct(s.step_conversion)} of the step before</span>
                  <span class="drop">drop-off ${dropped} (${pct(previous ? dropped / previous : 0)})</span>
                  <span>median time from step ${i}: ${duration(s.median_ms_from_previous)}</span>`
              : html`<span>entered the funnel</span>`}
          </div>
        </li>`;
      })}
    </ol>
    <p class="muted">Within ${duration(f.within_seconds * 1000)} of step 1.</p>`;
  }
}

customElements.define("cjaas-funnel", CjaasFunnel);
