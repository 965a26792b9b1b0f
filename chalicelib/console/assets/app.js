// The console: sign-in, routing (#/...), the project list and the per-project panels.
// A panel is a module exporting {id, title, load(ctx) -> data, view(data, ctx) -> Node,
// refreshAfter(data) -> ms or null (optional)}:
// adding one is a new module and a line in PANELS.
import { api, ApiError, project as projectPath, token } from "./api.js";
import { h, replace } from "./dom.js";
import * as connect from "./connect.js";
import * as ml from "./ml.js";
import * as projects from "./projects.js";
import * as tasks from "./tasks.js";
import * as tokens from "./tokens.js";
import * as training from "./training.js";
import * as tryit from "./tryit.js";

const PANELS = [ml, training, tasks, tryit, connect];
const main = () => document.getElementById("main");

// Timings the browser test reads: per panel, the API time and the time from the API's answer to
// the panel being on screen.
const metrics = { timings: [] };
window.activelabelConsole = metrics;

const session = { admin: false, role: null };
let routeSeq = 0;
let refreshTimer = null;

async function whoAmI() {
  // No route says which role a token has: GET /api/tokens answers admins only, so a 403 there
  // means reader or annotator, both read-only in this console.
  await api.get("api/projects?limit=1");
  try {
    await api.get("api/tokens");
    session.admin = true;
    session.role = "admin";
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403) throw e;
    session.admin = false;
    session.role = "read-only";
  }
}

function signInView(message) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true,
    placeholder: "al_… or the admin token" });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "card signin", id: "signin" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API token. It stays in this browser tab (sessionStorage) and is sent only to this API."),
    h("div", { class: "field" }, h("label", { for: "token" }, "API token"), input), error,
    h("button", { type: "submit" }, "Sign in"));
  input.id = "token";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    try {
      await whoAmI();
    } catch (e) {
      token.clear();
      error.textContent = e.message;
      return;
    }
    header();
    go("#/projects");
  });
  return form;
}

function header() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!token.get()) {
    replace(nav);
    replace(who);
    return;
  }
  replace(nav, h("a", { href: "#/projects" }, "Projects"),
    session.admin ? h("a", { href: "#/tokens" }, "Tokens") : null);
  replace(who, h("span", { class: `badge role-${session.admin ? "admin" : "readonly"}`, id: "role" },
    session.admin ? "admin" : "read-only"),
  h("button", { type: "button", class: "link", id: "signout", onclick: () => {
    token.clear();
    header();
    go("#/");
  } }, "Sign out"));
}

function stopRefresh() {
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = null;
}

// Load a panel's data, then render it; records the timings and marks it data-ready.
async function showPanel(section, panel, ctx, seq) {
  const t0 = performance.now();
  let data;
  try {
    data = await panel.load(ctx);
  } catch (e) {
    if (seq !== routeSeq) return;
    if (section.dataset.ready === "true" && panel.refreshAfter) {
      // a refresh that failed: keep what is shown and try again
      refreshTimer = setTimeout(() => { if (seq === routeSeq) showPanel(section, panel, ctx, seq); }, 3000);
      return;
    }
    replace(section, h("p", { class: "error", role: "alert" }, e.message));
    section.dataset.ready = "error";
    return;
  }
  if (seq !== routeSeq) return;
  const tApi = performance.now();
  const node = panel.view(data, ctx);
  replace(section, node);
  section.dataset.ready = "true";
  const tReady = performance.now();
  metrics.timings.push({ panel: panel.id, api_ms: tApi - t0, ready_after_api_ms: tReady - tApi });
  const delay = panel.refreshAfter ? panel.refreshAfter(data) : null;
  if (delay) {
    refreshTimer = setTimeout(() => { if (seq === routeSeq) showPanel(section, panel, ctx, seq); }, delay);
  }
}

async function projectView(id, panelId, seq) {
  const panel = PANELS.find((p) => p.id === panelId) || PANELS[0];
  const tabs = h("nav", { class: "tabs", "aria-label": "project" },
    PANELS.map((p) => h("a", { href: `#/projects/${encodeURIComponent(id)}/${p.id}`,
      class: p === panel ? "active" : null, "aria-current": p === panel ? "page" : null }, p.title)));
  const title = h("h1", {}, `Project ${id}`);
  const section = h("section", { class: "panel", id: `panel-${panel.id}`, dataset: { panel: panel.id } },
    h("p", { class: "muted" }, "Loading…"));
  replace(main(), h("p", { class: "crumbs" }, h("a", { href: "#/projects" }, "Projects"), " / ", id),
    title, tabs, section);
  let proj;
  try {
    proj = await api.get(projectPath(id));
  } catch (e) {
    replace(section, h("p", { class: "error", role: "alert" }, e.message));
    return;
  }
  if (seq !== routeSeq) return;
  title.textContent = proj.title || `Project ${id}`;
  const ctx = { id, project: proj, admin: session.admin,
    rerender: () => { stopRefresh(); showPanel(section, panel, ctx, seq); } };
  await showPanel(section, panel, ctx, seq);
}

async function simpleView(panel, seq) {
  const section = h("section", { class: "panel", id: `panel-${panel.id}`, dataset: { panel: panel.id } },
    h("p", { class: "muted" }, "Loading…"));
  replace(main(), section);
  const ctx = { admin: session.admin, open: (id) => { location.hash = `#/projects/${encodeURIComponent(id)}/ml`; },
    rerender: () => showPanel(section, panel, ctx, seq) };
  await showPanel(section, panel, ctx, seq);
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;  // the hashchange listener routes
}

export async function route() {
  stopRefresh();
  const seq = ++routeSeq;
  if (!token.get()) {
    replace(main(), signInView());
    return;
  }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "projects" && parts[1]) return projectView(parts[1], parts[2], seq);
  if (parts[0] === "tokens" && session.admin) return simpleView(tokens, seq);
  return simpleView(projects, seq);
}

async function start() {
  if (token.get()) {
    try {
      await whoAmI();
    } catch (e) {
      token.clear();
      header();
      replace(main(), signInView(e.message));
      return;
    }
  }
  header();
  window.addEventListener("hashchange", route);
  route();
}

start();
