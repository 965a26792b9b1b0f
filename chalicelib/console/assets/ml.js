// Machine Learning: thresholds, "Choose model" (only the models that fit the label config),
// "Add custom model", sampling. Saved with PUT /ml; the API's error is shown at the field it names.
import { api, project } from "./api.js";
import { clearErrors, field, h, replace, showError } from "./dom.js";

export const id = "ml";
export const title = "Machine Learning";

const SAMPLING = [
  ["auto", "Auto (diverse margin)"], ["diverse_margin", "Diverse margin"], ["margin", "Margin"],
  ["least_confidence", "Least confidence"], ["entropy", "Entropy"], ["badge", "BADGE"],
  ["random", "Random"], ["sequential", "Sequential (import order)"],
];

// One entry per setting: adding a setting to the page is one line here.
const SETTINGS = [
  { key: "min_completions", label: "Minimal number of completions", kind: "int",
    help: "Accepted tasks needed before the first training." },
  { key: "agreement_threshold", label: "Collaborators agreement threshold", kind: "number", step: "0.05",
    help: "0 to 1: how much a task's completions must agree for it to be accepted." },
  { key: "overlap", label: "Overlap", kind: "int", help: "Completions wanted per task." },
  { key: "retrain_every", label: "Retrain every", kind: "int", help: "Newly accepted tasks between retrainings." },
  { key: "sampling", label: "Sampling", kind: "select", options: SAMPLING,
    help: "How the next task to label is chosen." },
  { key: "first_batch_size", label: "First batch size", kind: "int", optional: true,
    help: "Tasks labeled before the first model (blank: the minimal number of completions)." },
];

export async function load(ctx) {
  const [settings, models] = await Promise.all([api.get(project(ctx.id, "/ml")), api.get(project(ctx.id, "/models"))]);
  return { settings, models };
}

// A number input's value as the API should see it: a number when it reads as one, else the raw
// text (so the API's own validation message names the problem), null for a blank optional field.
function readNumber(input, spec) {
  const raw = input.value.trim();
  if (raw === "" && spec.optional) return null;
  if (raw !== "" && !Number.isNaN(Number(raw))) return Number(raw);
  return raw;
}

function settingControl(spec, value, disabled) {
  if (spec.kind === "select") {
    return h("select", { name: spec.key, disabled },
      spec.options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
  }
  return h("input", { type: "number", name: spec.key, step: spec.step || "1", disabled,
    value: value === null || value === undefined ? "" : String(value) });
}

function modelChoice(models, current, disabled) {
  const choices = models.map((m) => h("label", { class: "choice", dataset: { model: m.name } },
    h("input", { type: "radio", name: "model", value: m.name, checked: m.name === current, disabled }),
    h("span", { class: "choice-title" }, m.title || m.name),
    h("span", { class: "muted" }, ` ${m.name} · ${m.data_types.join(", ")} → ${m.control_types.join(", ")}`),
    m.description ? h("span", { class: "help" }, m.description) : null));
  choices.push(h("label", { class: "choice", dataset: { model: "custom" } },
    h("input", { type: "radio", name: "model", value: "custom", checked: current === "custom", disabled }),
    h("span", { class: "choice-title" }, "Custom model"),
    h("span", { class: "help" }, "A Label Studio ML backend of your own, reached by URL (checked with /health and /setup on save).")));
  return h("fieldset", { class: "models", id: "models" }, h("legend", {}, "Choose model"), choices);
}

export function view(data, ctx) {
  const { settings, models: listing } = data;
  const models = listing.models || [];
  const disabled = !ctx.admin;
  const current = settings.model || (models[0] && models[0].name) || null;
  const inputs = {};
  const status = h("p", { class: "status", id: "ml-status", role: "status" });
  const formError = h("p", { class: "error", role: "alert" });

  const settingFields = SETTINGS.map((spec) => {
    inputs[spec.key] = settingControl(spec, settings[spec.key], disabled);
    return field(spec.key, spec.label, inputs[spec.key], spec.help);
  });

  const choose = modelChoice(models, current, disabled);
  const target = h("select", { name: "target", disabled });
  const targetField = field("target", "Target (the control to learn)", target,
    "Several controls fit this model: choose the one it learns.");
  const backend = settings.custom_backend || {};
  const url = h("input", { type: "url", name: "url", value: backend.url || "", disabled, placeholder: "http://host:9090" });
  const user = h("input", { type: "text", name: "basic_auth_user", value: backend.basic_auth_user || "", disabled, autocomplete: "off" });
  const pass = h("input", { type: "password", name: "basic_auth_pass", value: backend.basic_auth_pass || "", disabled, autocomplete: "new-password" });
  const health = h("p", { class: "health", id: "backend-health" },
    settings.model === "custom" && backend.url ? `Connected to ${backend.url}: /health and /setup answered when it was saved.` : "");
  const custom = h("fieldset", { class: "custom", id: "custom-backend" }, h("legend", {}, "Add custom model"),
    field("custom_backend.url", "Backend URL", url),
    field("custom_backend.basic_auth_user", "Basic auth user (optional)", user),
    field("custom_backend.basic_auth_pass", "Basic auth password (optional)", pass),
    health);

  const chosen = () => {
    const checked = choose.querySelector("input[name=model]:checked");
    return checked ? checked.value : null;
  };
  const syncModel = () => {
    const name = chosen();
    const model = models.find((m) => m.name === name);
    const targets = (model && model.targets) || [];
    replace(target, h("option", { value: "" }, "The first control the model fits"),
      targets.map((t) => h("option", { value: t.control, selected: t.control === settings.target },
        `${t.control} (${t.control_type} on ${t.object})`)));
    targetField.hidden = targets.length < 2;
    custom.hidden = name !== "custom";
  };
  choose.addEventListener("change", syncModel);
  syncModel();

  const unsupported = (listing.unsupported_controls || []).map((c) =>
    h("li", {}, `${c.control || c.name} (${c.control_type || c.type || "control"}): ${c.reason}`));

  const form = h("form", { class: "card", id: "ml-form" },
    h("h2", {}, "Machine Learning"),
    disabled ? h("p", { class: "muted readonly-note" }, "Read-only token: these settings can be changed with an admin token.") : null,
    h("div", { class: "grid" }, settingFields),
    models.length ? null : h("p", { class: "muted" }, "No built-in model fits this label config: use a custom model."),
    choose, targetField,
    unsupported.length ? h("div", { class: "note" }, h("p", {}, "Controls that need a custom model:"), h("ul", {}, unsupported)) : null,
    custom, formError, status,
    h("button", { type: "submit", id: "ml-save", disabled }, "Save"));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    formError.textContent = "";
    status.textContent = "Saving…";
    const body = {};
    for (const spec of SETTINGS) {
      body[spec.key] = spec.kind === "select" ? inputs[spec.key].value : readNumber(inputs[spec.key], spec);
    }
    const name = chosen();
    if (name) body.model = name;
    body.target = !targetField.hidden && target.value ? target.value : null;
    if (name === "custom") {
      body.custom_backend = { url: url.value.trim() };
      if (user.value) {
        body.custom_backend.basic_auth_user = user.value;
        body.custom_backend.basic_auth_pass = pass.value;
      }
    }
    try {
      const saved = await api.put(project(ctx.id, "/ml"), body);
      status.textContent = "Saved.";
      if (saved.model === "custom") {
        health.textContent = `Healthy: ${saved.custom_backend.url} answered /health and /setup.`;
        health.className = "health ok";
      }
    } catch (e) {
      status.textContent = "";
      showError(form, e, formError);
    }
  });
  return form;
}
