// Try it: a text (or a task JSON) -> the prediction with its score, in Label Studio's result format.
import { api, project } from "./api.js";
import { field, fmt, h, replace, showError } from "./dom.js";

export const id = "try";
export const title = "Try it";

// The first $variable of the label config: where a pasted text goes.
function firstVariable(labelConfig) {
  const doc = new DOMParser().parseFromString(labelConfig || "", "application/xml");
  for (const el of doc.getElementsByTagName("*")) {
    const v = el.getAttribute("value");
    if (v && v.startsWith("$")) return v.slice(1);
  }
  return "text";
}

export async function load() {
  return {};
}

function resultView(answer) {
  return (answer.results || []).map((r) => {
    const values = [];
    for (const item of r.result || []) {
      const v = item.value || {};
      values.push(...(v.choices || v.labels || []), ...(v.text || []));
      if (typeof v.rating === "number") values.push(`rating ${v.rating}`);
      if (typeof v.number === "number") values.push(String(v.number));
    }
    return h("div", { class: "prediction" },
      h("p", {}, h("strong", { class: "predicted" }, values.join(", ") || "(no label)"),
        ` score ${fmt(r.score)} · model version ${r.model_version || answer.model_version || "–"}`),
      h("pre", { class: "json" }, JSON.stringify(r.result, null, 2)));
  });
}

export function view(_data, ctx) {
  const variable = firstVariable(ctx.project.label_config);
  const input = h("textarea", { name: "input", rows: 5, spellcheck: "false",
    placeholder: `A ${variable}, or a task: {"data": {"${variable}": "..."}}` });
  const out = h("div", { id: "prediction" });
  const formError = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", id: "try-form" },
    h("h2", {}, "Try it"),
    field("tasks", `Text (goes to $${variable}) or a task JSON`, input), formError,
    h("button", { type: "submit", id: "predict" }, "Predict"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(out);
    formError.textContent = "";
    let task = null;
    const raw = input.value.trim();
    if (raw.startsWith("{")) {
      try {
        task = JSON.parse(raw);
      } catch {
        task = null;
      }
    }
    if (!task || typeof task.data !== "object") task = { data: { [variable]: input.value } };
    try {
      replace(out, resultView(await api.post(project(ctx.id, "/predict"), { tasks: [task] })));
    } catch (e) {
      showError(form, e, formError);
    }
  });
  return form;
}
