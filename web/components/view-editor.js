// <cjaas-view-editor [view-id="…"]>: a form that builds a view (its attributes:
// aggregations of a field, with a filter and a window, or CEL expressions), saves it
// through the API (a PUT makes a new version), and shows each problem of a
// `422 invalid_view` beside the attribute and input it concerns.
import { html } from "lit";
import { EditorElement, formStyles, text, choice } from "./form.js";
import { enc } from "./base.js";

const AGGREGATIONS = ["latest", "first", "count", "sum", "min", "max", "avg", "distinct", "last_n", "exists", "first_seen", "last_seen"];
const AGGREGATION_OPTIONS = [...AGGREGATIONS.map((a) => [a, a]), ["expression", "(CEL expression)"]];
// Which input of an attribute a problem `code` is about.
const COLUMN = {
  invalid_attribute_name: "name", duplicate_attribute: "name", mixed_attribute: "aggregation",
  missing_aggregation: "aggregation", unknown_aggregation: "aggregation", missing_field: "field",
  invalid_pointer: "field", invalid_window: "window", invalid_limit: "limit", invalid_filter: "type",
  unknown_operator: "type", invalid_condition: "type", expression_too_long: "expression",
  invalid_expression: "expression", expression_too_deep: "expression", unknown_reference: "expression", cycle: "expression",
};

const blank = () => ({ name: "", aggregation: "latest", field: "", type: "", window: "", limit: "", expression: "" });

export class CjaasViewEditor extends EditorElement {
  static properties = { viewId: { type: String, attribute: "view-id" }, _view: { state: true } };
  static styles = formStyles;

  constructor() {
    super();
    this.viewId = "";
    this._view = { name: "", description: "", attributes: [blank()] };
  }

  updated(changed) {
    if (this.ready(changed, ["viewId", "baseUrl", "credential"]) && this.viewId && this.credential) this._load();
  }

  async _load() {
    const stored = await this.run(() => this.api(`/v1/views/${enc(this.viewId)}`));
    const view = stored?.definition;
    if (!view) return;
    const attributes = (view.attributes ?? []).map((a) => ({
      name: a.name, aggregation: a.expression ? "expression" : a.aggregation ?? "latest", field: a.field ?? "",
      type: a.filter?.type ?? "", window: a.window ?? "", limit: a.limit == null ? "" : String(a.limit), expression: a.expression ?? "",
    }));
    this._view = { name: view.name, description: view.description ?? "", attributes };
  }

  /** The view JSON the form describes. */
  get json() {
    const v = this._view;
    const attributes = v.attributes.map((a) => {
      if (a.aggregation === "expression") return { name: a.name, expression: a.expression };
      const out = { name: a.name, aggregation: a.aggregation };
      if (a.field) out.field = a.field;
      if (a.type) out.filter = { type: a.type };
      if (a.window) out.window = a.window;
      if (a.limit) out.limit = Number(a.limit);
      return out;
    });
    return { name: v.name, ...(v.description ? { description: v.description } : {}), attributes };
  }

  fieldKeys() {
    const keys = ["name", "attributes"];
    this._view.attributes.forEach((a, i) =>
      ["name", "aggregation", "field", "type", "window", "limit", "expression"].forEach((c) => keys.push(`attributes/${i}/${c}`)),
    );
    return keys;
  }

  /** A view problem names the attribute (by `name`) and its `code` the input. */
  placeProblem(p, keys) {
    if (p.attribute === undefined) return p.code === "invalid_name" ? "name" : "attributes";
    const attrs = this._view.attributes;
    const matches = attrs.map((a, i) => (a.name === p.attribute ? i : -1)).filter((i) => i >= 0);
    if (!matches.length) return "attributes";
    const i = p.code === "duplicate_attribute" ? matches[matches.length - 1] : matches[0];
    let column = COLUMN[p.code] ?? "name";
    if (attrs[i].aggregation === "expression" && column !== "name") column = "expression";
    const key = `attributes/${i}/${column}`;
    return keys.includes(key) ? key : `attributes/${i}/name`;
  }

  _setAttr(i, patch) {
    const attributes = this._view.attributes.map((a, j) => (j === i ? { ...a, ...patch } : a));
    this._view = { ...this._view, attributes };
  }

  _submit(e) {
    e.preventDefault();
    this.save(this.viewId ? "PUT" : "POST", this.viewId ? `/v1/views/${enc(this.viewId)}` : "/v1/views", this.json);
  }

  render() {
    if (this._state === "loading") return this.renderState("");
    const v = this._view;
    return html`<form @submit=${this._submit} novalidate aria-label="View">
      <h3>${this.viewId ? `Edit view ${this.viewId} (saving makes a new version)` : "New view"}</h3>
      <div class="row">
        ${this.field("name", "Name", text(v.name, (name) => (this._view = { ...v, name }), { required: true }))}
        ${this.field("description", "Description", text(v.description, (description) => (this._view = { ...v, description })))}
      </div>
      ${v.attributes.map((a, i) => this._attribute(a, i))}
      ${this.problemsFor("attributes").length
        ? html`<p class="problem" role="alert">${this.problemsFor("attributes").map((p) => `${p.attribute ?? ""} ${p.detail}`).join("; ")}</p>`
        : null}
      <div><button type="button" @click=${() => (this._view = { ...v, attributes: [...v.attributes, blank()] })}>Add attribute</button></div>
      ${this.renderFooter(this.json, (saved) => `Saved view ${saved.id}, version ${saved.version}.`)}
    </form>`;
  }

  _attribute(a, i) {
    const key = (c) => `attributes/${i}/${c}`;
    const set = (c) => (value) => this._setAttr(i, { [c]: value });
    const expression = a.aggregation === "expression";
    return html`<fieldset>
      <legend>Attribute ${i + 1}${a.name ? `: ${a.name}` : ""}</legend>
      <div class="row">
        ${this.field(key("name"), "Name", text(a.name, set("name"), { placeholder: "ltv" }))}
        ${this.field(key("aggregation"), "Aggregation", choice(a.aggregation, AGGREGATION_OPTIONS, set("aggregation")))}
        ${expression
          ? this.field(key("expression"), "Expression (CEL)", text(a.expression, set("expression"), { placeholder: "ltv * 1.5" }))
          : html`
              ${this.field(key("field"), "Field (JSON pointer)", text(a.field, set("field"), { placeholder: "/data/total" }))}
              ${this.field(key("type"), "Only events of type", text(a.type, set("type"), { placeholder: "com.example.order.paid" }))}
              ${this.field(key("window"), "Window", text(a.window, set("window"), { placeholder: "30d" }))}
              ${["distinct", "last_n"].includes(a.aggregation)
                ? this.field(key("limit"), "Limit", text(a.limit, set("limit"), { type: "number" }))
                : null}`}
        <button type="button" aria-label="Remove attribute ${i + 1}" ?disabled=${this._view.attributes.length === 1}
          @click=${() => (this._view = { ...this._view, attributes: this._view.attributes.filter((_, j) => j !== i) })}>Remove</button>
      </div>
    </fieldset>`;
  }
}

customElements.define("cjaas-view-editor", CjaasViewEditor);
