// The project list and "New project" (title + label config).
import { api } from "./api.js";
import { field, h, showError, when } from "./dom.js";

export const id = "projects";
export const title = "Projects";

export async function load() {
  return api.get("api/projects?limit=100");
}

function row(p) {
  return h("tr", { dataset: { project: p.id } },
    h("td", {}, h("a", { href: `#/projects/${encodeURIComponent(p.id)}/ml` }, p.title || `Project ${p.id}`)),
    h("td", { class: "num" }, p.id),
    h("td", { class: "num" }, p.task_count ?? p.tasks_count ?? "–"),
    h("td", {}, when(p.created_at)));
}

function createForm(ctx) {
  const titleInput = h("input", { type: "text", name: "title", required: true, disabled: !ctx.admin });
  const config = h("textarea", { name: "label_config", rows: 8, spellcheck: "false", disabled: !ctx.admin,
    placeholder: '<View>\n  <Text name="text" value="$text"/>\n  <Choices name="label" toName="text">\n    <Choice value="ham"/>\n    <Choice value="spam"/>\n  </Choices>\n</View>' });
  const status = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", id: "new-project" },
    h("h2", {}, "New project"),
    field("title", "Title", titleInput),
    field("label_config", "Label config (Label Studio XML)", config,
      "The models offered on the Machine Learning tab are the ones that fit this config."),
    status,
    h("button", { type: "submit", disabled: !ctx.admin }, "Create project"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const created = await api.post("api/projects", { title: titleInput.value, label_config: config.value });
      ctx.open(created.id);
    } catch (e) {
      showError(form, e, status);
    }
  });
  return form;
}

export function view(data, ctx) {
  const list = data.projects || [];
  return h("div", {},
    h("h1", {}, "Projects"),
    list.length
      ? h("table", { class: "list", id: "projects" },
        h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", {}, "ID"), h("th", {}, "Tasks"), h("th", {}, "Created"))),
        h("tbody", {}, list.map(row)))
      : h("p", { class: "muted" }, "No project yet."),
    data.next ? h("p", { class: "muted" }, "Showing the first 100 projects.") : null,
    ctx.admin ? null : h("p", { class: "muted readonly-note" }, "Read-only token: projects are created with an admin token."),
    createForm(ctx));
}
