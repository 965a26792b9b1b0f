// Tasks: import Label Studio tasks (a JSON list) and list them. Task data is shown as text.
import { api, project } from "./api.js";
import { field, fmt, h, showError } from "./dom.js";

export const id = "tasks";
export const title = "Tasks";

export async function load(ctx) {
  return api.get(project(ctx.id, "/tasks?limit=50"));
}

function dataCell(data) {
  return Object.entries(data || {}).map(([k, v]) =>
    h("div", { class: "data" }, h("span", { class: "key" }, `${k}: `), typeof v === "string" ? v : JSON.stringify(v)));
}

function predictionOf(task) {
  const last = (task.predictions || [])[task.predictions.length - 1];
  if (!last) return "";
  const values = [];
  for (const r of last.result || []) {
    const v = r.value || {};
    values.push(...(v.choices || v.labels || []));
  }
  return `${values.join(", ")}${typeof last.score === "number" ? ` (${fmt(last.score, 2)})` : ""}`;
}

export function view(data, ctx) {
  const tasks = data.tasks || [];
  const withPredictions = tasks.some((t) => (t.predictions || []).length);  // imported with predictions
  const input = h("textarea", { name: "tasks", rows: 6, spellcheck: "false", disabled: !ctx.admin,
    placeholder: '[{"data": {"text": "a task"}}, {"data": {"text": "another"}}]' });
  const status = h("p", { class: "status", role: "status", id: "import-status" });
  const formError = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", id: "import-form" },
    h("h2", {}, "Import tasks"),
    field("tasks", "Tasks (Label Studio JSON: a list of {\"data\": {...}})", input), formError, status,
    h("button", { type: "submit", disabled: !ctx.admin, id: "import" }, "Import"));
  let importKey = null;  // the Idempotency-Key of the text being imported (docs/api.md)
  let keyedText = null;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (input.value !== keyedText) [importKey, keyedText] = [crypto.randomUUID(), input.value];
    let body;
    try {
      body = JSON.parse(input.value);
    } catch (e) {
      showError(form, { field: "tasks", message: `not valid JSON: ${e.message}` }, formError);
      return;
    }
    try {
      // one key per import: resending the same form after an error finishes it, never a copy
      const answer = await api.post(project(ctx.id, "/tasks"), body, { "Idempotency-Key": importKey });
      keyedText = null;  // imported: the same text again is a new import
      status.textContent = `Imported ${answer.task_ids.length} tasks.`;
      ctx.rerender();
    } catch (e) {
      showError(form, e, formError);
    }
  });
  const table = tasks.length
    ? h("table", { class: "list", id: "tasks" },
      h("thead", {}, h("tr", {}, ["ID", "Data", "Completions", "Accepted", "Agreement"].map((x) => h("th", {}, x)),
        withPredictions ? h("th", {}, "Prediction") : null)),
      h("tbody", {}, tasks.map((t) => h("tr", { dataset: { task: t.id } },
        h("td", { class: "num" }, t.id), h("td", {}, dataCell(t.data)), h("td", { class: "num" }, t.total_annotations ?? 0),
        h("td", {}, t.is_labeled ? "yes" : ""), h("td", { class: "num" }, fmt(t.agreement, 2)),
        withPredictions ? h("td", {}, predictionOf(t)) : null))))
    : h("p", { class: "muted" }, "No task yet.");
  return h("div", {}, form, h("div", { class: "card" }, h("h2", {}, "Tasks"), table,
    data.next ? h("p", { class: "muted" }, "Showing the first 50 tasks.") : null));
}
