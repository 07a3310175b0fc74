// What the two editors share: fields that show the API's problems beside themselves,
// and the save call, which keeps a 422's `errors` for the fields to show.
import { html, css } from "lit";
import { CjaasElement, shared } from "./base.js";

export const formStyles = [
  shared,
  css`
    form { display: grid; gap: 10px; }
    fieldset { border: 1px solid #d5dae2; border-radius: 6px; padding: 8px 10px; display: grid; gap: 8px; }
    legend { font-weight: 600; padding: 0 4px; }
    .field { display: grid; gap: 2px; }
    .field label { font-size: 13px; font-weight: 600; }
    .field.invalid input, .field.invalid select, .field.invalid textarea { border-color: #a01616; }
    .row { display: flex; gap: 10px; flex-wrap: wrap; align-items: flex-start; }
    .row > button, .row > label { margin-top: 22px; }
    .actions { display: flex; gap: 8px; align-items: center; }
    .saved { color: #0b5a2b; }
    details pre { background: #f6f8fb; padding: 8px; border-radius: 4px; overflow: auto; max-height: 260px; }
    h3 { margin: 0; font-size: 15px; }
  `,
];

let ids = 0;

export class EditorElement extends CjaasElement {
  static properties = {
    _problems: { state: true },
    _saved: { state: true },
    _saving: { state: true },
  };

  constructor() {
    super();
    this._problems = [];
    this._saved = null;
    this._saving = false;
    this._uid = `f${++ids}`;
    this._state = "ready";
  }

  /** The problems for `key`, a field of the form (each problem goes to one field). */
  problemsFor(key) {
    return this._placed().get(key) ?? [];
  }

  /** Problems no field of the form names (shown at the top, with their field). */
  otherProblems() {
    return this._placed().get(null) ?? [];
  }

  _placed() {
    const keys = this.fieldKeys();
    const placed = new Map();
    for (const p of this._problems) {
      const key = this.placeProblem(p, keys);
      if (!placed.has(key)) placed.set(key, []);
      placed.get(key).push(p);
    }
    return placed;
  }

  /** A labelled input (from `control(id, describedBy)`) with the problems of `key`. */
  field(key, label, control) {
    const id = `${this._uid}-${key.replace(/[^A-Za-z0-9_-]/g, "-")}`;
    const problems = this.problemsFor(key);
    const described = problems.length ? `${id}-problem` : undefined;
    return html`<div class="field ${problems.length ? "invalid" : ""}" data-field=${key}>
      <label for=${id}>${label}</label>
      ${control(id, described, problems.length > 0)}
      ${problems.length
        ? html`<p class="problem" id=${described} role="alert">${problems.map((p) => p.detail).join("; ")}</p>`
        : null}
    </div>`;
  }

  /** Sends `body`; on success emits `cjaas-saved` with the stored document. */
  async save(method, path, body) {
    this._saving = true;
    this._saved = null;
    this._problems = [];
    this._error = null;
    this._state = "ready";
    try {
      const stored = await this.api(path, { method, body });
      this._saved = stored;
      this.dispatchEvent(new CustomEvent("cjaas-saved", { detail: stored, bubbles: true, composed: true }));
      return stored;
    } catch (e) {
      this._problems = e.errors ?? [];
      this._error = e;
      this._state = "error";
      return undefined;
    } finally {
      this._saving = false;
    }
  }

  renderFooter(json, savedText) {
    const others = this.otherProblems();
    return html`
      ${this._state === "error"
        ? html`<div class="state error" role="alert">
            ${this._error?.message}
            ${others.length
              ? html`<ul>${others.map((p) => html`<li>${p.field ?? p.attribute ?? ""} ${p.detail}</li>`)}</ul>`
              : null}
          </div>`
        : null}
      <div class="actions">
        <button class="primary" type="submit" ?disabled=${this._saving}>${this._saving ? "Saving…" : "Save"}</button>
        ${this._saved ? html`<span class="saved" role="status">${savedText(this._saved)}</span>` : null}
      </div>
      <details><summary>JSON sent to the API</summary><pre>${JSON.stringify(json, null, 2)}</pre></details>`;
  }
}

/** A text input bound to `value`, calling `set(value)` on input. */
export function text(value, set, { type = "text", placeholder = "", required = false } = {}) {
  return (id, described, invalid) => html`<input id=${id} type=${type} .value=${value ?? ""} placeholder=${placeholder}
    ?required=${required} aria-invalid=${invalid ? "true" : "false"} aria-describedby=${described ?? ""}
    @input=${(e) => set(e.target.value)} />`;
}

/** A select of `options` ([value, label] pairs) bound to `value`. */
export function choice(value, options, set) {
  return (id, described, invalid) => html`<select id=${id} aria-invalid=${invalid ? "true" : "false"}
    aria-describedby=${described ?? ""} @change=${(e) => set(e.target.value)}>
    ${options.map(([v, label]) => html`<option value=${v} ?selected=${v === value}>${label}</option>`)}
  </select>`;
}
