// Training: state, progress toward the first training, model versions with their metrics, the
// learning curve (GET /report), "Train now". Refreshes itself while work is queued or running.
import { api, project } from "./api.js";
import { fmt, h, when } from "./dom.js";
import { learningCurve } from "./chart.js";

export const id = "training";
export const title = "Training";

export async function load(ctx) {
  const [state, versions, report] = await Promise.all([
    api.get(project(ctx.id, "/training")), api.get(project(ctx.id, "/model-versions")), api.get(project(ctx.id, "/report"))]);
  return { state, versions: versions.versions || [], report };
}

// Polled while the panel is open (training starts on its own once enough tasks are accepted):
// every second while work is queued or running, every 2 s otherwise.
export function refreshAfter(data) {
  return data.state.state === "queued" || data.state.state === "training" ? 1000 : 2000;
}

function metricsText(metrics) {
  return Object.entries(metrics || {}).filter(([k]) => k !== "method")
    .map(([k, v]) => `${k} ${v !== null && typeof v === "object"
      ? Object.entries(v).map(([a, b]) => `${a}: ${fmt(b)}`).join(", ") : fmt(v)}`).join(" · ");
}

function versionsTable(versions) {
  if (!versions.length) return h("p", { class: "muted" }, "No model version yet.");
  return h("table", { class: "list", id: "versions" },
    h("thead", {}, h("tr", {}, ["Version", "Created", "Model", "Trained on", "Metrics", "Evaluation", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, versions.map((v) => h("tr", { class: v.active ? "active" : null, dataset: { version: v.model_version } },
      h("td", {}, v.model_version), h("td", {}, when(v.created_at)), h("td", {}, v.model || "–"),
      h("td", { class: "num" }, v.n_train), h("td", {}, metricsText(v.metrics)),
      h("td", {}, (v.metrics && v.metrics.method) || "–"),
      h("td", {}, v.active ? h("span", { class: "badge ok" }, "active") : "")))));
}

export function view(data, ctx) {
  const { state, versions, report } = data;
  const message = h("p", { class: "status", role: "status", id: "train-status" });
  const trainNow = h("button", { type: "button", id: "train-now", disabled: !ctx.admin, onclick: async () => {
    message.textContent = "Queuing…";
    try {
      await api.post(project(ctx.id, "/train"));
      message.textContent = "Queued.";
      ctx.rerender();
    } catch (e) {
      message.textContent = e.message;
      message.className = "status error";
    }
  } }, "Train now");
  const min = state.min_completions || 0;
  const running = state.state === "queued" || state.state === "training";
  const savings = report.estimated_savings;
  return h("div", { class: "card" },
    h("h2", {}, "Training"),
    h("dl", { class: "facts" },
      h("dt", {}, "State"), h("dd", {}, h("span", { class: `badge state-${state.state}`, id: "train-state" }, state.state),
        running ? h("span", { class: "muted" }, " work in progress…") : null),
      h("dt", {}, "Accepted tasks"), h("dd", {}, h("span", { id: "accepted" }, `${state.accepted_tasks} (the first training needs ${min})`), " ",
        h("progress", { max: String(Math.max(1, min)), value: String(Math.min(state.accepted_tasks, Math.max(1, min))) })),
      h("dt", {}, "Completions"), h("dd", {}, String(state.completions)),
      h("dt", {}, "Active model version"), h("dd", { id: "active-version" }, state.model_version || "none yet"),
      state.last_error ? [h("dt", {}, "Last error"), h("dd", { class: "error", id: "last-error" }, state.last_error)] : null),
    h("p", {}, trainNow, " ", message),
    h("h3", {}, "Model versions"), versionsTable(versions),
    h("h3", {}, "Learning curve"), learningCurve(report),
    savings ? h("p", { class: "muted", id: "savings" },
      `Estimated: ${savings.labels_used} labels used where random sampling would need about ${savings.random_would_need} ` +
      `(${savings.labels_saved} saved). Basis: ${savings.basis}`) : null);
}
