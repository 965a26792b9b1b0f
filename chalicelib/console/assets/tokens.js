// Tokens (admin): create with a role and projects (the secret is shown once), list, revoke.
import { api } from "./api.js";
import { field, h, showError, when } from "./dom.js";

export const id = "tokens";
export const title = "Tokens";

export async function load() {
  return api.get("api/tokens");
}

export function view(data, ctx) {
  const name = h("input", { type: "text", name: "name", required: true });
  const role = h("select", { name: "role" }, ["reader", "annotator", "admin"].map((r) => h("option", { value: r }, r)));
  const projects = h("input", { type: "text", name: "projects", value: "*", placeholder: "* or 1, 2, 3" });
  const secret = h("div", { id: "new-token" });
  const formError = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", id: "token-form" },
    h("h2", {}, "New token"),
    h("div", { class: "grid" }, field("name", "Name", name), field("role", "Role", role),
      field("projects", "Projects", projects, "* for every project, or project ids separated by commas.")),
    formError, h("button", { type: "submit", id: "create-token" }, "Create token"), secret);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const scope = projects.value.trim() === "*" ? "*" : projects.value.split(",").map((p) => p.trim()).filter(Boolean);
    try {
      const made = await api.post("api/tokens", { name: name.value, role: role.value, projects: scope });
      ctx.rerender().then(() => {
        const box = document.getElementById("new-token");
        if (box) box.append(h("p", { class: "note" }, "The secret is shown only now: ", h("code", { id: "token-secret" }, made.token)));
      });
    } catch (e) {
      showError(form, e, formError);
    }
  });
  const rows = (data.tokens || []).map((t) => h("tr", { dataset: { token: t.id } },
    h("td", {}, t.name), h("td", {}, t.role), h("td", {}, Array.isArray(t.projects) ? t.projects.join(", ") : String(t.projects)),
    h("td", {}, when(t.created_at)), h("td", {}, t.created_by || ""),
    h("td", {}, h("button", { type: "button", class: "danger", onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api.del(`api/tokens/${encodeURIComponent(t.id)}`);
        ctx.rerender();
      } catch (e) {
        formError.textContent = e.message;
        ev.target.disabled = false;
      }
    } }, "Revoke"))));
  return h("div", {}, h("h1", {}, "Tokens"), form,
    h("div", { class: "card" }, h("h2", {}, "Tokens"),
      rows.length ? h("table", { class: "list", id: "tokens" },
        h("thead", {}, h("tr", {}, ["Name", "Role", "Projects", "Created", "By", ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, rows)) : h("p", { class: "muted" }, "No token yet.")));
}
