// DOM helpers. Every string reaches the page as a text node or an attribute value, never parsed
// as HTML (tests/functional/test_console_assets.py checks the sources for the HTML sinks).

const SVG_NS = "http://www.w3.org/2000/svg";

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.setAttribute("class", value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

// h("p", {class: "x"}, "text", child, ...): an element with text children
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendChildren(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, attrs);
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  appendChildren(el, children);
  return el;
}

// A form field: label, control, help and an error line the API's message goes to.
export function field(key, label, control, help) {
  const id = `f-${key.replace(/[^a-z0-9_-]/gi, "-")}`;
  control.id = id;
  const error = h("p", { class: "error", role: "alert", dataset: { errorFor: key } });
  control.setAttribute("aria-describedby", `${id}-error`);
  error.id = `${id}-error`;
  return h("div", { class: "field", dataset: { field: key } },
    h("label", { for: id }, label), control, help ? h("p", { class: "help" }, help) : null, error);
}

// Show an API error at the field it names (`Field`, e.g. "ml.agreement_threshold"), else in `fallback`.
export function showError(form, err, fallback) {
  for (const p of form.querySelectorAll("p.error")) p.textContent = "";
  for (const f of form.querySelectorAll(".field.invalid")) f.classList.remove("invalid");
  const name = (err && err.field ? String(err.field) : "").replace(/^ml\./, "");
  let target = null;
  for (const f of form.querySelectorAll(".field")) {
    if (name && (f.dataset.field === name || name.startsWith(`${f.dataset.field}.`) ||
                 name.startsWith(`${f.dataset.field}[`))) {
      target = f;
      break;
    }
  }
  const message = err ? err.message : "";
  if (target) {
    target.classList.add("invalid");
    target.querySelector("p.error").textContent = message;
  } else if (fallback) {
    fallback.textContent = message;
  }
  return target;
}

export function clearErrors(form) {
  showError(form, null, null);
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(digits);
  return String(value);
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}
