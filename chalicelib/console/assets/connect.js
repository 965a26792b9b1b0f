// Connect Label Studio: what to paste into Label Studio's "Connect model" (admin only).
import { api, ApiError, project, root } from "./api.js";
import { h } from "./dom.js";

export const id = "connect";
export const title = "Connect Label Studio";

export async function load(ctx) {
  try {
    return await api.get(project(ctx.id, "/labelstudio"));
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return { forbidden: e.message };
    throw e;
  }
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
    h("p", { class: "muted" }, linked ? `Linked: ${JSON.stringify(linked)}` : "Not linked yet: Label Studio links on its first /setup."));
}
