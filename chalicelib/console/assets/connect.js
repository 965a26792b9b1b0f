// Connect Label Studio: what to paste into Label Studio's "Connect model" (admin only).
import { api, ApiError, project, root } from "./api.js";
import { h } from "./dom.js";

export const id = "connect";
export const title = "Connect Label Studio";

export async function load(ctx) {
  try {
    const [connection, ml] = await Promise.all([api.get(project(ctx.id, "/labelstudio")), api.get(project(ctx.id, "/ml"))]);
    return { ...connection, ml, projectId: ctx.id };
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return { forbidden: e.message };
    throw e;
  }
}

// ml.labelstudio_stream: Label Studio's own labeling stream follows activelabel.
function streamSwitch(data) {
  const on = Boolean(data.ml && data.ml.labelstudio_stream);
  const box = h("input", { type: "checkbox", id: "ls-stream", checked: on, disabled: !data.linked });
  const status = h("p", { class: "muted", id: "ls-stream-status" },
    data.linked ? (on ? "On." : "Off.") : "Available once Label Studio is linked (it sends its API token on its first /setup).");
  box.addEventListener("change", async () => {
    status.textContent = "Saving…";
    try {
      const saved = await api.put(project(data.projectId, "/ml"), { labelstudio_stream: box.checked });
      status.textContent = saved.labelstudio_stream ? "On: Label Studio's settings follow in a few seconds." : "Off: Label Studio's sampling is being restored.";
    } catch (e) {
      box.checked = !box.checked;
      status.textContent = e.message;
    }
  });
  return h("div", { class: "card" },
    h("h2", {}, "Label Studio's labeling stream"),
    h("label", {}, box, " Label Studio serves tasks in activelabel's order"),
    h("p", {}, "When on, activelabel sets the linked Label Studio project's task sampling to \"Uncertainty sampling\" " +
      "(least confident prediction of the active version first; what it found there comes back when turned off), " +
      "shows tasks whose label activelabel suspects to a second annotator first, and, with auto-labelling on, writes " +
      "its auto labels as annotations made from predictions named activelabel-auto-v<n>."),
    status);
}

function copyable(label, value, idName) {
  return [h("dt", {}, label), h("dd", {}, h("code", { id: idName }, value))];
}

export function view(data) {
  if (data.forbidden) {
    return h("div", { class: "card" }, h("h2", {}, "Connect Label Studio"),
      h("p", { class: "muted readonly-note" }, "The connection carries a credential: it is shown to admin tokens only."));
  }
  const url = new URL(`${root}${(data.url_path || "/ls/").replace(/^\//, "")}`, location.origin).href;
  const linked = data.linked;
  return h("div", { class: "card" },
    h("h2", {}, "Connect Label Studio"),
    h("p", {}, "In Label Studio: Settings → Model → Connect model, with these values."),
    h("dl", { class: "facts" },
      copyable("Backend URL", url, "ls-url"),
      copyable("Authentication", data.auth_method || "BASIC_AUTH", "ls-auth"),
      copyable("Basic auth user", data.basic_auth_user, "ls-user"),
      copyable("Basic auth password", data.basic_auth_pass, "ls-pass"),
      Object.entries(data.webhook_headers || {}).map(([k, v]) => copyable(`Webhook header ${k}`, v, `ls-header-${k.toLowerCase()}`))),
    h("p", { class: "muted" }, linked ? `Linked: ${JSON.stringify(linked)}` : "Not linked yet: Label Studio links on its first /setup."),
    streamSwitch(data));
}
