// app.js: the dashboard shell — sign-in, the navigation, the tenant picker
// for all-tenant keys, and the hash router that mounts one page at a time.
// Each page module exports mount(ctx, params) → {update?(params): bool, unmount?()}.
import { currentSession, setUnauthorizedHandler } from "./api.js";
import { initSignIn, signOutAndThen } from "./signin.js";
import { $, $$, h, fill, showError } from "./dom.js";
import { parseHash } from "./router.js";
import { loadSession, Session } from "./role.js";
import * as events from "./events.js";

// PAGES names every page, the permission its navigation entry needs and
// its module (events is loaded with the shell for a fast first paint; the
// others when first opened).
export const PAGES = {
  events: { title: "Events", perm: "events.read", load: async () => events },
  insights: { title: "Insights", perm: "events.read", load: () => import("./insights.js") },
  alerts: { title: "Alerts", perm: "events.read", load: () => import("./alerts.js") },
  integrity: { title: "Integrity", perm: "events.read", load: () => import("./integrity.js") },
  settings: { title: "Settings", perm: "settings.manage", load: () => import("./settings.js") },
};

let session = null;
let current = null; // {name, view}
let generation = 0;

const TENANT = "trail.tenant";
function tenant() { return session && session.allTenants ? (sessionStorage.getItem(TENANT) || "") : ""; }

function unmount() {
  if (current && current.view && current.view.unmount) current.view.unmount();
  current = null;
}

export function showSignIn(message = "") {
  unmount();
  session = null;
  $("#signin").hidden = false;
  $("#page").hidden = true;
  $("#nav").hidden = true;
  $("#whoami").hidden = true;
  $("#signout").hidden = true;
  $("#signin-message").textContent = message;
  $("#key").value = "";
  $("#key").focus();
}

function renderNav() {
  const nav = $("#nav");
  nav.replaceChildren(...Object.entries(PAGES).filter(([, p]) => session.can(p.perm))
    .map(([name, p]) => h("a", { href: "#/" + name, dataset: { page: name } }, p.title)));
  nav.hidden = false;
  const who = $("#whoami");
  fill(who, h("span", { class: "role", id: "role" }, session.role),
    session.allTenants ? h("label", { class: "tenant-pick" }, "Tenant ",
      h("input", { id: "tenant", name: "tenant", value: tenant(), placeholder: "default", size: 12,
        onchange: (ev) => { sessionStorage.setItem(TENANT, ev.target.value.trim()); route(true); } })) : null);
  who.hidden = false;
}

// route mounts the page the hash names, or lets the mounted page update
// itself when only its parameters changed.
async function route(force = false) {
  if (!session) return;
  const { page, params } = parseHash(location.hash);
  for (const a of $$("#nav a")) a.toggleAttribute("aria-current", a.dataset.page === page);
  if (!force && current && current.name === page && current.view && current.view.update && current.view.update(params)) return;
  unmount();
  const gen = ++generation;
  const el = $("#page");
  el.replaceChildren();
  const spec = PAGES[page];
  if (!spec) { el.append(h("p", { class: "error", role: "alert" }, `No page “${page}”.`)); return; }
  document.title = spec.title + " · trail";
  try {
    const mod = await spec.load();
    if (gen !== generation) return;
    current = { name: page, view: null };
    current.view = mod.mount({ session, tenant, el }, params) || {};
  } catch (err) {
    const p = h("p", { class: "error", role: "alert" });
    showError(p, err);
    el.append(p);
  }
}

// showApp shows the pages for a signed-in session (the answer of
// GET or POST /v1/session when given; otherwise it is asked for).
export async function showApp(signedIn) {
  $("#signin").hidden = true;
  try {
    session = signedIn && signedIn.role ? new Session(signedIn.role, signedIn.tenant || "", signedIn.name || "") : await loadSession();
  } catch (err) {
    if (!$("#signin").hidden) return; // a 401: back at sign-in already
    $("#signin").hidden = false;
    showError($("#signin-message"), err);
    return;
  }
  $("#signout").hidden = false;
  renderNav();
  $("#page").hidden = false;
  await route(true);
}

export function start() {
  let booting = true; // until GET /v1/session answers, a 401 (of the prefetch) is not news
  setUnauthorizedHandler((err) => { if (!booting) showSignIn(err.message || "Your session has ended; sign in again."); });
  initSignIn((s) => showApp(s));
  $("#signout").addEventListener("click", () => signOutAndThen(() => showSignIn("Signed out.")));
  window.addEventListener("hashchange", () => route());
  const sess = currentSession().catch(() => null);
  const { page, params } = parseHash(location.hash);
  if (page === "events") events.prefetch(params, sessionStorage.getItem(TENANT) || "");
  sess.then((s) => { booting = false; return s ? showApp(s) : showSignIn(); });
}

start();
