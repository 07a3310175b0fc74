// <cjaas-rule-editor [rule-id="…"]>: a form that builds a rule (an event, count or
// absence condition and its actions), saves it through the API, and shows each
// problem of a `422 invalid_rule` beside the field its `field` path names.
import { html } from "lit";
import { EditorElement, formStyles, text, choice } from "./form.js";
import { enc } from "./base.js";

const KINDS = [["event", "An event arrives"], ["count", "At least n events within a window"], ["absence", "An event, and no follow-up within a window"]];
const ACTIONS = [["webhook", "Webhook"], ["recommendation", "Recommendation"], ["enrichment", "Enrichment"], ["publish", "Publish on the bus"]];
const ACTION_FIELD = { webhook: ["url", "URL"], enrichment: ["url", "URL"], recommendation: ["action", "Action id"], publish: ["name", "Name"] };
const OPS = [["", "(any)"], ["eq", "="], ["ne", "≠"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"], ["contains", "contains"], ["exists", "exists"]];

export class CjaasRuleEditor extends EditorElement {
  static properties = { ruleId: { type: String, attribute: "rule-id" }, _rule: { state: true } };
  static styles = formStyles;

  constructor() {
    super();
    this.ruleId = "";
    this._rule = {
      name: "", active: true, cooldown: "0", kind: "count",
      type: "", whereField: "", whereOp: "", whereValue: "", atLeast: "3", within: "10m", missing: "",
      actions: [{ type: "webhook", value: "" }],
    };
  }

  updated(changed) {
    if (this.ready(changed, ["ruleId", "baseUrl", "credential"]) && this.ruleId && this.credential) this._load();
  }

  async _load() {
    const rule = await this.run(() => this.api(`/v1/rules/${enc(this.ruleId)}`));
    if (rule) this._rule = fromRule(rule);
  }

  _set(patch) {
    this._rule = { ...this._rule, ...patch };
  }

  _setAction(i, patch) {
    const actions = this._rule.actions.map((a, j) => (j === i ? { ...a, ...patch } : a));
    this._set({ actions });
  }

  /** The rule JSON the form describes. */
  get json() {
    const r = this._rule;
    const filter = { type: r.type };
    if (r.whereField || r.whereOp) {
      filter.where = { field: r.whereField, op: r.whereOp || "eq" };
      if (r.whereOp !== "exists") filter.where.value = parseValue(r.whereValue);
    }
    const when =
      r.kind === "event" ? { event: filter }
      : r.kind === "count" ? { count: { of: filter, at_least: Number(r.atLeast), within: r.within } }
      : { absence: { after: filter, missing: { type: r.missing }, within: r.within } };
    return {
      name: r.name,
      active: r.active,
      cooldown_seconds: Number(r.cooldown || 0),
      when,
      actions: r.actions.map((a) => ({ type: a.type, [ACTION_FIELD[a.type][0]]: a.value })),
    };
  }

  fieldKeys() {
    const r = this._rule;
    const sel = r.kind === "count" ? "when/count/of" : r.kind === "absence" ? "when/absence/after" : "when/event";
    const keys = ["name", "cooldown_seconds", "when", `${sel}/type`, `${sel}/where/field`, `${sel}/where/op`, `${sel}/where/value`];
    if (r.kind === "count") keys.push("when/count/at_least", "when/count/within");
    if (r.kind === "absence") keys.push("when/absence/missing/type", "when/absence/within");
    r.actions.forEach((a, i) => keys.push(`actions/${i}/type`, `actions/${i}/${ACTION_FIELD[a.type][0]}`));
    keys.push("actions");
    return keys;
  }

  /** The form field a problem's `field` names: itself, or the closest field above it. */
  placeProblem(p, keys) {
    const field = p.field ?? "";
    const alias = { "when/count": "when/count/at_least", "when/count/of": "when/count/of/type", "when/absence": "when/absence/within" };
    for (let f = alias[field] ?? field; f; f = f.includes("/") ? f.slice(0, f.lastIndexOf("/")) : "") {
      if (keys.includes(f)) return f;
      if (/^actions\/\d+$/.test(f) && keys.includes(`${f}/type`)) return `${f}/type`;
    }
    return null;
  }

  _submit(e) {
    e.preventDefault();
    this.save(this.ruleId ? "PUT" : "POST", this.ruleId ? `/v1/rules/${enc(this.ruleId)}` : "/v1/rules", this.json);
  }

  render() {
    const r = this._rule;
    const sel = r.kind === "count" ? "when/count/of" : r.kind === "absence" ? "when/absence/after" : "when/event";
    if (this._state === "loading") return this.renderState("");
    return html`<form @submit=${this._submit} novalidate aria-label="Rule">
      <h3>${this.ruleId ? `Edit rule ${this.ruleId}` : "New rule"}</h3>
      <div class="row">
        ${this.field("name", "Name", text(r.name, (name) => this._set({ name }), { required: true }))}
        ${this.field("cooldown_seconds", "Cooldown (seconds)", text(r.cooldown, (cooldown) => this._set({ cooldown }), { type: "number" }))}
        <label><input type="checkbox" .checked=${r.active} @change=${(e) => this._set({ active: e.target.checked })} /> Active</label>
      </div>
      <fieldset>
        <legend>When</legend>
        ${this.field("when", "Condition", choice(r.kind, KINDS, (kind) => this._set({ kind })))}
        <div class="row">
          ${this.field(`${sel}/type`, r.kind === "absence" ? "After an event of type" : "Event type", text(r.type, (type) => this._set({ type }), { placeholder: "com.example.page.viewed" }))}
          ${this.field(`${sel}/where/field`, "Where field (JSON pointer)", text(r.whereField, (whereField) => this._set({ whereField }), { placeholder: "/data/path" }))}
          ${this.field(`${sel}/where/op`, "Operator", choice(r.whereOp, OPS, (whereOp) => this._set({ whereOp })))}
          ${this.field(`${sel}/where/value`, "Value", text(r.whereValue, (whereValue) => this._set({ whereValue }), { placeholder: "/pricing" }))}
        </div>
        ${r.kind === "count"
          ? html`<div class="row">
              ${this.field("when/count/at_least", "At least", text(r.atLeast, (atLeast) => this._set({ atLeast }), { type: "number" }))}
              ${this.field("when/count/within", "Within", text(r.within, (within) => this._set({ within }), { placeholder: "10m" }))}
            </div>`
          : null}
        ${r.kind === "absence"
          ? html`<div class="row">
              ${this.field("when/absence/missing/type", "Missing event type", text(r.missing, (missing) => this._set({ missing }), { placeholder: "com.example.order.paid" }))}
              ${this.field("when/absence/within", "Within", text(r.within, (within) => this._set({ within }), { placeholder: "30m" }))}
            </div>`
          : null}
      </fieldset>
      <fieldset>
        <legend>Then</legend>
        ${r.actions.map((a, i) => {
          const [member, label] = ACTION_FIELD[a.type];
          return html`<div class="row">
            ${this.field(`actions/${i}/type`, `Action ${i + 1}`, choice(a.type, ACTIONS, (type) => this._setAction(i, { type })))}
            ${this.field(`actions/${i}/${member}`, label, text(a.value, (value) => this._setAction(i, { value })))}
            <button type="button" aria-label="Remove action ${i + 1}" ?disabled=${r.actions.length === 1}
              @click=${() => this._set({ actions: r.actions.filter((_, j) => j !== i) })}>Remove</button>
          </div>`;
        })}
        ${this.problemsFor("actions").length
          ? html`<p class="problem" role="alert">${this.problemsFor("actions").map((p) => p.detail).join("; ")}</p>`
          : null}
        <div><button type="button" @click=${() => this._set({ actions: [...r.actions, { type: "publish", value: "" }] })}>Add action</button></div>
      </fieldset>
      ${this.renderFooter(this.json, (saved) => `Saved rule ${saved.id}.`)}
    </form>`;
  }
}

function parseValue(raw) {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function fromRule(rule) {
  const w = rule.when ?? {};
  const kind = w.count ? "count" : w.absence ? "absence" : "event";
  const filter = w.count?.of ?? w.absence?.after ?? w.event ?? {};
  return {
    name: rule.name, active: rule.active, cooldown: String(rule.cooldown_seconds ?? 0), kind,
    type: filter.type ?? "", whereField: filter.where?.field ?? "", whereOp: filter.where?.op ?? "",
    whereValue: filter.where?.value === undefined ? "" : typeof filter.where.value === "string" ? filter.where.value : JSON.stringify(filter.where.value),
    atLeast: String(w.count?.at_least ?? 3), within: w.count?.within ?? w.absence?.within ?? "10m",
    missing: w.absence?.missing?.type ?? "",
    actions: (rule.actions ?? []).map((a) => ({ type: a.type, value: a[ACTION_FIELD[a.type]?.[0]] ?? "" })),
  };
}

customElements.define("cjaas-rule-editor", CjaasRuleEditor);
