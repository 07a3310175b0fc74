// What the tag tracks by itself: page views (the first, and each SPA history change),
// clicks on `[data-cjaas-track]` elements, and form submits (with only the fields marked
// `data-cjaas-field`, never a password or a file).

const TEXT_LIMIT = 200;

/** The part of the URL that makes a page: path, query, and a hash route (`#/…`, `#!…`). */
export function pageKey() {
  const hash = /^#[/!]/.test(location.hash) ? location.hash : "";
  return location.pathname + location.search + hash;
}

export function trackPages(page) {
  let last = null;
  const check = () => {
    const key = pageKey();
    if (key === last) return;
    last = key;
    page();
  };
  for (const method of ["pushState", "replaceState"]) {
    const original = history[method];
    history[method] = function (...args) {
      const result = original.apply(this, args);
      // After the router has run, so that the title is the new page's.
      setTimeout(check, 0);
      return result;
    };
  }
  addEventListener("popstate", () => setTimeout(check, 0));
  addEventListener("hashchange", () => setTimeout(check, 0));
  check();
}

/** `data-cjaas-prop-plan="gold"` on the element becomes `{plan: "gold"}`. */
function props(element) {
  const out = {};
  for (const { name, value } of element.attributes) {
    if (name.startsWith("data-cjaas-prop-")) {
      out[name.slice(16).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
    }
  }
  return out;
}

export function trackClicks(track) {
  document.addEventListener(
    "click",
    (event) => {
      const element = event.target instanceof Element && event.target.closest("[data-cjaas-track]");
      if (!element || element instanceof HTMLFormElement) return;
      const name = element.getAttribute("data-cjaas-track");
      if (!name) return;
      const properties = { text: (element.innerText || element.value || "").trim().slice(0, TEXT_LIMIT) };
      if (element.id) properties.id = element.id;
      if (typeof element.href === "string" && element.href) properties.href = element.href;
      track(name, { ...properties, ...props(element) });
    },
    true,
  );
}

/** A marked field's value: `data-cjaas-field="plan"` names it, else its name or id. */
function fields(form) {
  const out = {};
  for (const field of form.querySelectorAll("[data-cjaas-field]")) {
    const type = (field.type || "").toLowerCase();
    if (type === "password" || type === "file" || field.disabled) continue;
    const key = field.getAttribute("data-cjaas-field") || field.name || field.id;
    if (!key) continue;
    if (type === "checkbox") out[key] = field.checked;
    else if (type === "radio") {
      if (field.checked) out[key] = field.value;
    } else if (field.multiple && field.selectedOptions) out[key] = [...field.selectedOptions].map((o) => o.value);
    else if ("value" in field) out[key] = String(field.value).slice(0, 1000);
  }
  return out;
}

export function trackForms(track) {
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || form.hasAttribute("data-cjaas-ignore")) return;
      // getAttribute: a field named "id" or "action" shadows the form's own properties.
      const raw = form.getAttribute("action");
      const action = raw ? new URL(raw, location.href) : null;
      const properties = {
        formId: form.getAttribute("id") || undefined,
        formName: form.getAttribute("name") || undefined,
        action: action ? action.origin + action.pathname : undefined,
        method: (form.getAttribute("method") || "get").toLowerCase(),
        fields: fields(form),
        ...props(form),
      };
      track(form.getAttribute("data-cjaas-track") || "Form Submitted", properties);
    },
    true,
  );
}
