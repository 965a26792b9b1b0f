// Training: state, progress toward the first training, model versions with their metrics and
// status (active, promoted, rejected or held with the reason, pinned; "Make active" rolls back), the
// jobs with their progress (GET /jobs), the learning curve (GET /report), "Train now", and for a
// global admin the deployment's queues and dead letters (GET /api/health/detail, docs/operations.md).
// Refreshes itself while work is queued or running.
import { api, project } from "./api.js";
import { fmt, h, when } from "./dom.js";
import { learningCurve } from "./chart.js";

export const id = "training";
export const title = "Training";

export async function load(ctx) {
  const [state, versions, report, jobs, ml] = await Promise.all([
    api.get(project(ctx.id, "/training")), api.get(project(ctx.id, "/model-versions")), api.get(project(ctx.id, "/report")),
    api.get(project(ctx.id, "/jobs")), api.get(project(ctx.id, "/ml"))]);
  return { state, versions: versions.versions || [], report, jobs: jobs.jobs || [], pinned: ml.pinned_version,
    health: ctx.admin ? await healthOf(ctx.id) : null };
}

// The health view costs five SQS calls: read at most every 15 s; null when the token may not (403).
const HEALTH_EVERY_MS = 15000;
let healthCache = { id: null, at: 0, value: null };

async function healthOf(id) {
  if (healthCache.id === id && Date.now() - healthCache.at < HEALTH_EVERY_MS) return healthCache.value;
  let value = null;
  try {
    value = await api.get(`api/health/detail?project=${encodeURIComponent(id)}`);
  } catch {
    value = null;
  }
  healthCache = { id, at: Date.now(), value };
  return value;
}

function queuesBlock(health) {
  if (!health) return null;
  const depth = (q) => (q.error ? "unreadable" : `${q.waiting} waiting, ${q.in_flight} in flight`);
  return [h("h3", {}, "Queues"),
    h("p", { class: health.dead_letters ? "error" : "muted", id: "dead-letters" },
      `Dead letters: ${health.dead_letters} (status ${health.status}; see docs/operations.md).`),
    h("dl", { class: "facts", id: "queues" }, Object.entries(health.queues || {}).map(([name, q]) =>
      [h("dt", {}, name.replace(/_/g, " ")), h("dd", {}, depth(q))]))];
}

// Polled while the panel is open (training starts on its own once enough tasks are accepted):
// every second while work is queued or running, every 2 s otherwise.
export function refreshAfter(data) {
  const busy = data.state.state === "queued" || data.state.state === "training" ||
    data.jobs.some((j) => j.state === "running");
  return busy ? 1000 : 2000;
}

function metricsText(metrics) {
  return Object.entries(metrics || {}).filter(([k]) => k !== "method" && k !== "features")
    .map(([k, v]) => `${k} ${v !== null && typeof v === "object"
      ? Object.entries(v).map(([a, b]) => `${a}: ${fmt(b)}`).join(", ") : fmt(v)}`).join(" · ");
}

// How the version was evaluated, and for text kinds which features it reads: its own, the project's
// pool representation, or both, as chosen on the validation set (each mode's figure shown).
function evaluationText(v) {
  const method = (v.metrics && v.metrics.method) || "–";
  const features = v.metrics && v.metrics.features;
  if (!features || typeof features !== "object") return method;
  const figures = Object.entries(features.validation || {}).map(([m, q]) => `${m} ${fmt(q)}`).join(" · ");
  return `${method}; features: ${features.chosen}` + (figures ? ` (validation: ${figures})` : "");
}

const STATUS_CLASS = { promoted: "ok", rejected: "state-failed", held: "state-queued", superseded: "" };

// The version's status: active, then what promotion decided (with the reason when it was not
// promoted), and pinned.
function statusCell(v, pinned) {
  const reason = v.decision && v.decision.reason;
  return h("td", { class: "status-cell" },
    v.active ? h("span", { class: "badge ok status-active" }, "active") : null,
    v.status && !(v.active && v.status === "promoted")
      ? [" ", h("span", { class: `badge ${STATUS_CLASS[v.status] || ""} status-${v.status}` }, v.status)] : null,
    pinned ? [" ", h("span", { class: "badge role-admin status-pinned" }, "pinned")] : null,
    reason && v.status !== "promoted" ? h("p", { class: "help reason" }, reason) : null);
}

function versionsTable(versions, pinned, ctx, message) {
  if (!versions.length) return h("p", { class: "muted" }, "No model version yet.");
  const activate = (v) => async () => {
    message.textContent = `Making ${v.model_version} active…`;
    try {
      const answer = await api.put(project(ctx.id, `/model-versions/${encodeURIComponent(v.model_version)}/active`));
      message.textContent = `${answer.model_version} is active` +
        (answer.preannotation_job ? `; pre-annotation job ${answer.preannotation_job} started.` : ".");
      ctx.rerender();
    } catch (e) {
      message.textContent = e.message;
      message.className = "status error";
    }
  };
  return h("table", { class: "list", id: "versions" },
    h("thead", {}, h("tr", {}, ["Version", "Status", "Created", "Model", "Trained on", "Metrics", "Evaluation", ""]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, versions.map((v) => h("tr", { class: v.active ? "active" : null, dataset: { version: v.model_version } },
      h("td", {}, v.model_version), statusCell(v, pinned !== null && pinned !== undefined && `v${pinned}` === v.model_version),
      h("td", {}, when(v.created_at)), h("td", {}, v.model || "–"),
      h("td", { class: "num" }, v.n_train), h("td", {}, metricsText(v.metrics)),
      h("td", {}, evaluationText(v)),
      h("td", {}, v.active ? "" : h("button", { type: "button", class: "make-active", disabled: !ctx.admin,
        onclick: activate(v) }, "Make active"))))));
}

const JOBS_SHOWN = 20;

function jobsTable(all) {
  if (!all.length) return h("p", { class: "muted" }, "No job yet.");
  const jobs = all.slice(0, JOBS_SHOWN);
  return [all.length > JOBS_SHOWN ? h("p", { class: "muted" }, `The latest ${JOBS_SHOWN} of ${all.length} jobs.`) : null,
    h("table", { class: "list", id: "jobs" },
    h("thead", {}, h("tr", {}, ["Job", "Kind", "State", "Progress", "Predictions", "Started", "Finished", "Error"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, jobs.map((j) => h("tr", { dataset: { job: j.id, state: j.state } },
      h("td", {}, j.id), h("td", {}, j.kind),
      h("td", {}, h("span", { class: `badge state-${j.state === "succeeded" ? "idle" : j.state === "running" ? "training" : "failed"}` }, j.state)),
      h("td", { class: "num progress-cell" }, h("progress", { max: String(Math.max(1, j.total)), value: String(Math.min(j.done + j.failed, Math.max(1, j.total))) }),
        ` ${j.done + j.failed} / ${j.total}`, j.failed ? ` (${j.failed} failed)` : null),
      h("td", { class: "num" }, j.predictions_stored === undefined ? "–" : `${j.predictions_stored} stored` +
        (j.predictions_pushed_to_labelstudio === undefined ? "" : `, ${j.predictions_pushed_to_labelstudio} pushed to Label Studio`)),
      h("td", {}, when(j.started)), h("td", {}, when(j.finished)),
      h("td", { class: j.error ? "error" : null }, j.error || "")))))];
}

export function view(data, ctx) {
  const { state, versions, report, jobs, pinned, health } = data;
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
    h("h3", {}, "Model versions"), versionsTable(versions, pinned, ctx, message),
    h("h3", {}, "Jobs"), jobsTable(jobs),
    queuesBlock(health),
    h("h3", {}, "Learning curve"), learningCurve(report),
    savings ? h("p", { class: "muted", id: "savings" },
      `Estimated: ${savings.labels_used} labels used where random sampling would need about ${savings.random_would_need} ` +
      `(${savings.labels_saved} saved). Basis: ${savings.basis}`) : null);
}
