// app.js: the dashboard shell — sign-in, the events page and event detail.
import { getKey, setKey, clearKey, apiJSON, apiFetch, query, streamSSE, download, setUnauthorizedHandler, AuthError } from "./api.js";
import { verifyEventProof } from "./proof.js";

const $ = (sel) => document.querySelector(sel);
let PAGE = 100;

// setPageSize changes how many events a page loads (the self-test uses 2).
export function setPageSize(n) { PAGE = n; }

let cursor = "";
let tail = null; // AbortController of the live tail
let verifierKey = null;

export function showSignIn(message = "") {
  stopTail();
  clearKey();
  $("#signin").hidden = false;
  $("#events").hidden = true;
  $("#detail").hidden = true;
  $("#signout").hidden = true;
  $("#signin-message").textContent = message;
  $("#key").value = "";
  $("#key").focus();
}

export async function showEvents() {
  $("#signin").hidden = true;
  $("#events").hidden = false;
  $("#signout").hidden = false;
  await search();
}

// filters returns the current filter as API query parameters.
export function filters() {
  const f = new FormData($("#filters"));
  const iso = (v) => (v ? new Date(v).toISOString() : "");
  return { q: f.get("q").trim(), tenant: f.get("tenant").trim(), from: iso(f.get("from")), to: iso(f.get("to")) };
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text || "";
  if (cls) td.className = cls;
  tr.append(td);
}

function row(e) {
  const tr = document.createElement("tr");
  tr.tabIndex = 0;
  tr.dataset.id = e.id;
  cell(tr, e.time ? new Date(e.time).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "");
  cell(tr, e.action);
  cell(tr, e.actor ? e.actor.name || e.actor.id : "");
  cell(tr, e.outcome, e.outcome);
  cell(tr, e.severity);
  cell(tr, e.resource ? [e.resource.type, e.resource.id].filter(Boolean).join(":") : "");
  cell(tr, e.source ? e.source.ip : "");
  const open = () => showDetail(e.id, e.tenant);
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
  return tr;
}

function failed(err) {
  if (err instanceof AuthError) return; // already back at sign-in
  $("#events-error").textContent = err.message;
}

// search runs the query afresh (more=false) or fetches the next page.
export async function search(more = false) {
  $("#events-error").textContent = "";
  const tbody = $("#results tbody");
  if (!more) { cursor = ""; tbody.replaceChildren(); }
  try {
    const res = await apiJSON("/v1/events" + query({ ...filters(), limit: PAGE, cursor }));
    for (const e of res.events || []) tbody.append(row(e));
    cursor = res.next_cursor || "";
    $("#more").hidden = !cursor;
    $("#status").textContent = `${tbody.rows.length} events${cursor ? " (more available)" : ""}`;
  } catch (err) { failed(err); }
}

export function stopTail() {
  if (tail) { tail.abort(); tail = null; }
  const live = $("#live");
  if (live) live.checked = false;
}

// startTail streams new events matching the filter into the top of the table.
export function startTail() {
  stopTail();
  $("#live").checked = true;
  const ctl = new AbortController();
  tail = ctl;
  const f = filters();
  const path = "/v1/stream" + query({ q: f.q, tenant: f.tenant });
  streamSSE(path, (msg) => {
    if (msg.event !== "event") return;
    const tr = row(JSON.parse(msg.data));
    tr.classList.add("new");
    $("#results tbody").prepend(tr);
  }, ctl.signal).catch((err) => { if (!ctl.signal.aborted) { failed(err); stopTail(); } });
  return ctl;
}

// renderJSON writes v as indented JSON into parent, wrapping the values at
// the masked paths in <span class="masked">.
function renderJSON(parent, v, masked, path = "", indent = "") {
  const text = (s) => parent.append(s);
  if (Array.isArray(v) || (v && typeof v === "object")) {
    const arr = Array.isArray(v);
    const entries = arr ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    if (!entries.length) { text(arr ? "[]" : "{}"); return; }
    text(arr ? "[\n" : "{\n");
    entries.forEach(([k, x], i) => {
      const p = path ? `${path}.${k}` : k;
      text(indent + "  " + (arr ? "" : JSON.stringify(k) + ": "));
      if (masked.has(p)) {
        const span = document.createElement("span");
        span.className = "masked";
        span.title = "masked at ingest";
        renderJSON(span, x, masked, p, indent + "  ");
        parent.append(span);
      } else renderJSON(parent, x, masked, p, indent + "  ");
      text((i < entries.length - 1 ? "," : "") + "\n");
    });
    text(indent + (arr ? "]" : "}"));
    return;
  }
  text(JSON.stringify(v));
}

async function getVerifierKey() {
  if (verifierKey === null) {
    try { verifierKey = await (await fetch("/v1/log/key")).text(); } catch { verifierKey = ""; }
  }
  return verifierKey;
}

// showDetail opens one event and checks its inclusion proof in the browser.
// It resolves to the verification result.
export async function showDetail(id, tenant) {
  const d = $("#detail");
  d.hidden = false;
  $("#detail-id").textContent = id;
  const proofEl = $("#proof");
  proofEl.className = "proof";
  proofEl.textContent = "checking inclusion proof…";
  $("#detail-json").replaceChildren();
  $("#masked").textContent = "";
  try {
    const res = await apiJSON(`/v1/events/${encodeURIComponent(id)}` + query({ proof: 1, tenant: filters().tenant || tenant }));
    const masked = new Set(res.event.masked || []);
    renderJSON($("#detail-json"), res.event, masked);
    if (masked.size) $("#masked").textContent = "Masked at ingest (highlighted): " + [...masked].join(", ");
    const v = await verifyEventProof(res, await getVerifierKey());
    proofEl.className = "proof " + (v.ok ? "ok" : "bad");
    proofEl.textContent = (v.ok ? "✓ " : "✗ ") + v.message;
    d.scrollIntoView({ block: "nearest" });
    return v;
  } catch (err) {
    if (!(err instanceof AuthError)) { proofEl.className = "proof bad"; proofEl.textContent = err.message; }
    return { ok: false, message: err.message };
  }
}

// exportAs downloads the current filter's export in format.
export function exportAs(format) {
  const f = filters();
  const ext = { ndjson: "ndjson", csv: "csv", bundle: "zip" }[format];
  return download("/v1/export" + query({ ...f, format }), `trail-export.${ext}`).catch((err) => { failed(err); throw err; });
}

export function start() {
  setUnauthorizedHandler((err) => showSignIn(err.message || "Your key was not accepted."));
  $("#signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setKey($("#key").value);
    showEvents();
  });
  $("#signout").addEventListener("click", () => showSignIn("Signed out."));
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search();
    if (tail) startTail(); // restart with the new filter
  });
  $("#live").addEventListener("change", (ev) => (ev.target.checked ? startTail() : stopTail()));
  $("#more").addEventListener("click", () => search(true));
  for (const b of document.querySelectorAll("[data-format]")) b.addEventListener("click", () => exportAs(b.dataset.format).catch(() => {}));
  $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; });
  if (getKey()) showEvents(); else showSignIn();
}

// apiFetch is re-exported for the self-test page.
export { apiFetch };

if (!document.documentElement.dataset.selftest) start();
