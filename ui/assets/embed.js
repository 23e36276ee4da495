// embed.js: the embeddable viewer (GET /embed?token=vt_…, docs/embedding.md).
// It reads a viewer token from the page's URL, removes it from the address
// bar and history, and calls the API with it as "Authorization: Bearer vt_…".
// It shares nothing with the dashboard's sign-in: no session storage, no
// cookies (every request is credentials: "omit"), no export, no links out.
// Everything it shows is what the server lets the token read: the tenant
// and filter are enforced there, and the search box only narrows them.
import { query } from "./api.js";
import { readSSE } from "./sse.js";
import { verifyEventProof } from "./proof.js";

const $ = (sel) => document.querySelector(sel);
const PAGE = 50;

let token = "";
let cursor = "";
let loading = false;
let tail = null; // AbortController of the live tail
let verifierKey = null;

// tokenExpiry returns the expiry the token carries (payload bytes 9-16, see
// package viewtoken), or null when it cannot be read. It only schedules the
// "expired" state: the server decides.
export function tokenExpiry(t) {
  try {
    const b64 = t.slice(3).replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    if (bytes.length < 17 || bytes[0] !== 1) return null;
    const secs = Number(new DataView(bytes.buffer).getBigUint64(9));
    return new Date(secs * 1000);
  } catch { return null; }
}

class Expired extends Error {}

// api fetches path with the token and returns the Response when it is 2xx;
// a 401 shows the expired state and throws Expired; other errors throw
// with the server's message.
async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  headers.set("Authorization", "Bearer " + token);
  const res = await fetch(path, { ...opts, headers, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  if (res.ok) return res;
  let message = res.status + " " + res.statusText;
  try { const body = await res.json(); if (body && body.error) message = body.error.message; } catch { /* not JSON */ }
  if (res.status === 401) { expire(message); throw new Expired(message); }
  throw new Error(message);
}

function expire(message) {
  stopTail();
  token = "";
  $("#view").hidden = true;
  $("#detail").hidden = true;
  $("#expired").hidden = false;
  if (message) $("#expired-message").textContent = (/expired/i.test(message) ? "The access token expired. " : "The access token is not valid. ") +
    "Reload the page in your application to open a new view.";
}

function failed(err) { if (!(err instanceof Expired)) $("#error").textContent = err.message; }

function fmtTime(t) { return t ? new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }

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
  cell(tr, fmtTime(e.time));
  cell(tr, e.action);
  cell(tr, e.actor ? e.actor.name || e.actor.id : "");
  cell(tr, e.outcome, e.outcome);
  cell(tr, e.resource ? [e.resource.type, e.resource.name || e.resource.id].filter(Boolean).join(" ") : "");
  cell(tr, e.source ? e.source.ip : "");
  const open = () => showDetail(e.id);
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
  return tr;
}

const q = () => $("#q").value.trim();

// search loads the first page afresh (more=false) or the next one.
export async function search(more = false) {
  if (loading && more) return;
  loading = true;
  $("#error").textContent = "";
  const tbody = $("#events tbody");
  if (!more) { cursor = ""; tbody.replaceChildren(); }
  try {
    const res = await (await api("/v1/events" + query({ q: q(), limit: PAGE, cursor }))).json();
    for (const e of res.events || []) tbody.append(row(e));
    cursor = res.next_cursor || "";
    $("#more").hidden = !cursor;
    $("#end").hidden = !!cursor || tbody.rows.length === 0;
    $("#status").textContent = tbody.rows.length === 0 ? "No events." : `${tbody.rows.length} events${cursor ? "" : " (all)"}`;
  } catch (err) { failed(err); } finally { loading = false; }
}

export function stopTail() {
  if (tail) { tail.abort(); tail = null; }
  const live = $("#live");
  if (live) live.checked = false;
}

// startTail streams new matching events into the top of the table.
export function startTail() {
  stopTail();
  $("#live").checked = true;
  const ctl = new AbortController();
  tail = ctl;
  readStream("/v1/stream" + query({ q: q() }), (msg) => {
    if (msg.event !== "event") return;
    const tr = row(JSON.parse(msg.data));
    tr.classList.add("new");
    $("#events tbody").prepend(tr);
  }, ctl.signal).catch((err) => { if (!ctl.signal.aborted) { failed(err); stopTail(); } });
}

// readStream reads Server-Sent Events with fetch (EventSource cannot send
// the Authorization header) and calls onEvent({id, event, data}).
async function readStream(path, onEvent, signal) {
  return readSSE(await api(path, { signal, headers: { Accept: "text/event-stream" } }), onEvent);
}

// flatten lists the scalar leaves of v as [dotted path, value].
function flatten(v, path = "", out = []) {
  if (v && typeof v === "object") {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    if (!entries.length) out.push([path, Array.isArray(v) ? "[]" : "{}"]);
    for (const [k, x] of entries) flatten(x, path ? `${path}.${k}` : k, out);
  } else out.push([path, typeof v === "string" ? v : JSON.stringify(v)]);
  return out;
}

async function getVerifierKey() {
  if (verifierKey === null) {
    try { verifierKey = await (await fetch("/v1/log/key", { credentials: "omit" })).text(); } catch { verifierKey = ""; }
  }
  return verifierKey;
}

// showDetail opens one event: its fields, the paths masked at ingest, and
// its inclusion proof checked in the browser. It resolves to that check.
export async function showDetail(id) {
  $("#view").hidden = true;
  $("#detail").hidden = false;
  $("#detail-id").textContent = id;
  const proof = $("#proof"), body = $("#fields tbody");
  proof.className = "proof";
  proof.textContent = "checking inclusion proof…";
  $("#masked").textContent = "";
  body.replaceChildren();
  try {
    const res = await (await api(`/v1/events/${encodeURIComponent(id)}?proof=1`)).json();
    const masked = res.event.masked || [];
    const isMasked = (p) => masked.some((m) => p === m || p.startsWith(m + "."));
    for (const [p, v] of flatten(res.event)) {
      if (p === "masked" || p.startsWith("masked.")) continue;
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = p;
      tr.append(th);
      cell(tr, v);
      if (isMasked(p)) { tr.className = "masked"; tr.title = "masked at ingest"; }
      body.append(tr);
    }
    if (masked.length) $("#masked").textContent = "Masked at ingest (highlighted): " + masked.join(", ");
    const v = await verifyEventProof(res, await getVerifierKey());
    proof.className = "proof " + (v.ok ? "ok" : "bad");
    proof.textContent = (v.ok ? "✓ " : "✗ ") + v.message;
    return v;
  } catch (err) {
    if (!(err instanceof Expired)) { proof.className = "proof bad"; proof.textContent = err.message; }
    return { ok: false, message: err.message };
  }
}

function closeDetail() {
  $("#detail").hidden = true;
  $("#view").hidden = false;
}

export function start() {
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  token = hash.get("token") || params.get("token") || "";
  // Keep the token out of the address bar, the history and any later
  // Referer: the page works from memory only.
  history.replaceState(null, "", location.pathname);
  if (!token.startsWith("vt_")) { expire("invalid"); return; }
  const exp = tokenExpiry(token);
  if (exp) {
    $("#expires").textContent = "Access until " + fmtTime(exp.toISOString());
    const ms = exp.getTime() - Date.now();
    if (ms <= 0) { expire("expired"); return; }
    if (ms < 2 ** 31) setTimeout(() => expire("expired"), ms);
  }
  $("#view").hidden = false;
  $("#search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search();
    if (tail) startTail(); // restart with the new search
  });
  $("#live").addEventListener("change", (ev) => (ev.target.checked ? startTail() : stopTail()));
  $("#more").addEventListener("click", () => search(true));
  $("#detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("#detail").hidden) closeDetail(); });
  // Infinite scroll: the next page loads when "Load more" comes into view.
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor && !loading) search(true);
  }).observe($("#more"));
  search();
}

start();
