// <cjaas-flow window="7d">: a Sankey of the analytics report, from entry points through
// the transitions to exits, with the valleys of doom (the biggest drop-offs) in red.
// Clicking (or Enter on) a step lists the steps before and after it, with counts.
import { html, svg, css } from "lit";
import { sankey, sankeyLinkHorizontal, sankeyLeft } from "d3-sankey";
import { CjaasElement, shared, enc, pct } from "./base.js";

const ENTRY = "(entry)";
const EXIT = "(exit)";
// How many of the report's valleys (highest exit rate first) are highlighted: a third
// of the steps, at least one, at most three.
const valleyCount = (steps) => Math.min(3, Math.max(1, Math.round(steps / 3)));
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7"];

export class CjaasFlow extends CjaasElement {
  static properties = {
    window: { type: String },
    _report: { state: true },
    _selected: { state: true },
  };

  static styles = [
    shared,
    css`
      header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; margin-bottom: 6px; }
      h3 { margin: 0; font-size: 15px; }
      svg { display: block; width: 100%; height: auto; background: #fff; border: 1px solid #d5dae2; border-radius: 6px; }
      .node rect { fill: #4f6fa8; stroke: #2d4572; }
      .node.valley rect { fill: #c62828; stroke: #7f1515; }
      .node.edge rect { fill: #7d8797; stroke: #4a5467; }
      .node:focus-visible rect, .node.selected rect { stroke: #f0a500; stroke-width: 3; }
      .node { cursor: pointer; outline: none; }
      .node text { font-size: 12px; fill: #1d2330; }
      .link { fill: none; stroke-opacity: 0.35; }
      .link:hover, .link.hot { stroke-opacity: 0.7; }
      .legend { font-size: 12px; }
      .legend i { display: inline-block; width: 10px; height: 10px; background: #c62828; margin-right: 4px; }
      .panel { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-top: 8px; }
      .panel h4, section h4 { margin: 4px 0; font-size: 13px; }
      section { margin-top: 10px; }
      td.n { text-align: right; font-variant-numeric: tabular-nums; }
    `,
  ];

  constructor() {
    super();
    this.window = "7d";
    this._report = null;
    this._selected = null;
  }

  updated(changed) {
    if (this.ready(changed, ["window", "baseUrl", "credential"])) this.load();
  }

  async load() {
    this._selected = null;
    if (!this.credential) {
      this._state = "idle";
      return;
    }
    const report = await this.run(
      () => this.api(`/v1/analytics?window=${enc(this.window || "7d")}`),
      (r) => !r?.event_types?.length,
    );
    this._report = report ?? null;
  }

  /** The Sankey graph: the report's entries, transitions and exits, without the links
   *  that would close a loop (a Sankey cannot draw cycles; they are listed instead). */
  _graph() {
    const r = this._report;
    const types = r.event_types.map((t) => t.type);
    const index = new Map([[ENTRY, 0], ...types.map((t, i) => [t, i + 1]), [EXIT, types.length + 1]]);
    const links = [];
    const loops = [];
    for (const e of r.entry_points) links.push({ source: ENTRY, target: e.type, value: e.sessions });
    const out = new Map(types.map((t) => [t, []]));
    for (const t of r.transitions) out.get(t.from)?.push(t);
    // Depth-first from the entries, keeping only forward and cross edges.
    const state = new Map();
    const visit = (type) => {
      state.set(type, "open");
      for (const t of out.get(type) ?? []) {
        if (!index.has(t.to)) continue;
        if (state.get(t.to) === "open" || t.to === type) loops.push(t);
        else {
          links.push({ source: t.from, target: t.to, value: t.count });
          if (!state.has(t.to)) visit(t.to);
        }
      }
      state.set(type, "done");
    };
    for (const e of r.entry_points) if (!state.has(e.type)) visit(e.type);
    for (const t of types) if (!state.has(t)) visit(t);
    for (const e of r.exit_points) links.push({ source: e.type, target: EXIT, value: e.sessions });
    const nodes = [...index.keys()].map((name) => ({ name }));
    const used = new Set(links.flatMap((l) => [l.source, l.target]));
    return {
      nodes: nodes.filter((n) => used.has(n.name) || types.includes(n.name)),
      links,
      loops,
    };
  }

  render() {
    const r = this._report;
    return html`<header>
        <h3>Journey flow · ${this.window}</h3>
        ${r ? html`<span class="muted">${r.sessions} sessions of ${r.persons} persons, computed ${new Date(r.computed_at).toLocaleString()}</span>
            <span class="legend"><i></i>valley of doom (highest exit rate)</span>` : null}
      </header>
      ${this._state === "ready" && r ? this._chart() : this.renderState("No events in this window yet.")}`;
  }

  _chart() {
    const r = this._report;
    const width = Math.max(this.clientWidth || 760, 480);
    const { nodes, links, loops } = this._graph();
    const height = Math.max(300, nodes.length * 56);
    const layout = sankey()
      .nodeId((d) => d.name)
      .nodeAlign(sankeyLeft)
      .nodeWidth(14)
      .nodePadding(28)
      .extent([[1, 8], [width - 170, height - 8]]);
    const graph = layout({ nodes: nodes.map((n) => ({ ...n })), links: links.map((l) => ({ ...l })) });
    const stats = new Map(r.event_types.map((t) => [t.type, t]));
    const valleys = new Set(
      r.valleys_of_doom.filter((v) => v.exit_rate > 0).slice(0, valleyCount(r.event_types.length)).map((v) => v.type),
    );
    const path = sankeyLinkHorizontal();
    const sel = this._selected;
    return html`
      <svg viewBox="0 0 ${width} ${height}" role="group" aria-label="Sankey of journey steps; each step is a button">
        <g>
          ${graph.links.map(
            (l) => svg`<path class="link ${sel && (l.source.name === sel || l.target.name === sel) ? "hot" : ""}"
              d=${path(l)} stroke=${PALETTE[l.source.index % PALETTE.length]} stroke-width=${Math.max(1, l.width)} data-from=${l.source.name} data-to=${l.target.name}
              data-count=${l.value}><title>${l.source.name} → ${l.target.name}: ${l.value}</title></path>`,
          )}
        </g>
        ${graph.nodes.map((n) => {
          const s = stats.get(n.name);
          const edge = n.name === ENTRY || n.name === EXIT;
          const count = s ? s.events : n.value;
          const label = s ? `${n.name}: ${s.events} events, exit rate ${pct(s.exit_rate)}` : `${n.name}: ${n.value} sessions`;
          return svg`<g class="node ${valleys.has(n.name) ? "valley" : ""} ${edge ? "edge" : ""} ${sel === n.name ? "selected" : ""}"
              tabindex="0" role="button" aria-label=${label} aria-pressed=${sel === n.name}
              data-type=${n.name} data-count=${count} data-valley=${valleys.has(n.name)}
              @click=${() => this._select(n.name)} @keydown=${(e) => this._key(e, n.name)}>
            <rect x=${n.x0} y=${n.y0} width=${n.x1 - n.x0} height=${Math.max(2, n.y1 - n.y0)}></rect>
            <text x=${n.x1 + 6} y=${(n.y0 + n.y1) / 2} dy="0.35em">${n.name} (${count})</text>
          </g>`;
        })}
      </svg>
      ${loops.length
        ? html`<p class="muted">Loops not drawn: ${loops.map((l) => `${l.from} → ${l.to} (${l.count})`).join(", ")}</p>`
        : null}
      ${sel ? this._panel(sel) : html`<p class="muted">Select a step to list what comes before and after it.</p>`}
      ${this._topPaths()}`;
  }

  _key(e, name) {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this._select(name);
    }
  }

  _select(name) {
    this._selected = this._selected === name ? null : name;
  }

  _panel(name) {
    const r = this._report;
    const before = r.transitions.filter((t) => t.to === name).map((t) => [t.from, t.count]);
    const after = r.transitions.filter((t) => t.from === name).map((t) => [t.to, t.count]);
    const entry = r.entry_points.find((e) => e.type === name);
    const exit = r.exit_points.find((e) => e.type === name);
    if (entry) before.push([ENTRY, entry.sessions]);
    if (exit) after.push([EXIT, exit.sessions]);
    if (name === ENTRY) after.push(...r.entry_points.map((e) => [e.type, e.sessions]));
    if (name === EXIT) before.push(...r.exit_points.map((e) => [e.type, e.sessions]));
    const list = (title, rows) => html`<div>
      <h4>${title}</h4>
      ${rows.length
        ? html`<table><thead><tr><th scope="col">Step</th><th scope="col">Count</th></tr></thead><tbody>
            ${rows.sort((a, b) => b[1] - a[1]).map(([step, n]) => html`<tr><td>${step}</td><td class="n">${n}</td></tr>`)}
          </tbody></table>`
        : html`<p class="muted">None.</p>`}
    </div>`;
    return html`<div class="panel" role="region" aria-label="Steps around ${name}" aria-live="polite">
      ${list(`Before ${name}`, before)}${list(`After ${name}`, after)}
    </div>`;
  }

  _topPaths() {
    const paths = this._report.top_paths ?? [];
    if (!paths.length) return null;
    return html`<section>
      <h4>Top paths</h4>
      <table class="paths"><thead><tr><th scope="col">Path</th><th scope="col">Sessions</th></tr></thead><tbody>
        ${paths.map((p) => html`<tr><td>${p.steps.join(" → ")}</td><td class="n">${p.sessions}</td></tr>`)}
      </tbody></table>
    </section>`;
  }
}

customElements.define("cjaas-flow", CjaasFlow);
