// detail.js: one event — every field (masked paths marked), its changes as
// a field-level diff, the raw JSON, and an integrity panel that fetches the
// inclusion proof and checks it in the browser (proof.js).
import { apiJSON, query, AuthError } from "./api.js";
import { h, fill, showError } from "./dom.js";
import { verifyEventProof } from "./proof.js";

let verifierKey = null;

// getVerifierKey fetches the public note verifier key once per page load.
export async function getVerifierKey() {
  if (verifierKey === null) {
    try {
      const res = await fetch("/v1/log/key");
      verifierKey = res.ok ? (await res.text()).trim() : "";
    } catch { verifierKey = ""; }
  }
  return verifierKey;
}

// flatten lists [path, value] for every leaf of v ("actor.id", "changes.0.old", …).
export function flatten(v, path = "", out = []) {
  if (v && typeof v === "object" && !(Array.isArray(v) && !v.length) && Object.keys(v).length) {
    for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
  } else out.push([path, v]);
  return out;
}

// isMasked reports whether path is at or under one of the masked paths.
function isMasked(path, masked) {
  for (const m of masked) if (path === m || path.startsWith(m + ".")) return true;
  return false;
}

function show(v) {
  if (v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

// diffChanges compares each change's old and new values field by field:
// rows of {field, kind: "added"|"removed"|"changed", old, new}. Objects
// are compared key by key, so a change of one key of a JSON value is one row.
export function diffChanges(changes) {
  const rows = [];
  for (const c of changes || []) {
    const walk = (field, o, n) => {
      const obj = (x) => x && typeof x === "object" && !Array.isArray(x);
      if (obj(o) && obj(n)) {
        for (const k of new Set([...Object.keys(o), ...Object.keys(n)])) walk(`${field}.${k}`, o[k], n[k]);
        return;
      }
      const none = (x) => x === undefined || x === null;
      if (none(o) && none(n)) return;
      if (JSON.stringify(o) === JSON.stringify(n)) return;
      rows.push({ field, kind: none(o) ? "added" : none(n) ? "removed" : "changed", old: o, new: n });
    };
    walk(c.field || "(unnamed)", c.old, c.new);
  }
  return rows;
}

function fieldsTable(ev, masked) {
  const rows = flatten(ev).filter(([p]) => !p.startsWith("changes.") && p !== "masked");
  return h("table", { class: "fields-table" }, h("tbody", {}, rows.map(([p, v]) => {
    const m = isMasked(p, masked);
    return h("tr", { class: m ? "masked" : null },
      h("th", { scope: "row" }, p),
      h("td", {}, h("code", {}, show(v)),
        m ? h("span", { class: "badge mask", title: "changed by masking at ingest" }, "masked") : null));
  })));
}

function diffTable(changes) {
  const rows = diffChanges(changes);
  if (!rows.length) return null;
  return h("div", { class: "diff" }, h("h3", {}, "Changes"),
    h("table", { class: "diff-table", id: "diff" },
      h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Before"), h("th", {}, "After"))),
      h("tbody", {}, rows.map((r) => h("tr", { class: "diff-" + r.kind, dataset: { kind: r.kind } },
        h("th", { scope: "row" }, r.field, " ", h("span", { class: "badge" }, r.kind)),
        h("td", { class: "old" }, r.kind === "added" ? "—" : h("del", {}, show(r.old))),
        h("td", { class: "new" }, r.kind === "removed" ? "—" : h("ins", {}, show(r.new))))))));
}

// openDetail renders event id into el and resolves to the proof check's
// result ({ok, message, …}); onClose is called by the close button.
export async function openDetail(el, ctx, id, onClose) {
  const proof = h("p", { id: "proof", class: "proof", role: "status" }, "Checking the inclusion proof…");
  const body = h("div", { class: "detail-body" });
  const close = h("button", { type: "button", id: "detail-close", "aria-keyshortcuts": "Escape", onclick: onClose }, "Close");
  el.replaceChildren(
    h("div", { class: "detail-head" }, h("h2", {}, "Event ", h("code", { id: "detail-id" }, id)), close),
    h("div", { class: "integrity-panel" }, h("h3", {}, "Integrity"), proof),
    body);
  close.focus({ preventScroll: true });
  try {
    const res = await apiJSON(`/v1/events/${encodeURIComponent(id)}` + query({ proof: 1, tenant: ctx.tenant() }));
    const ev = res.event;
    const masked = new Set(ev.masked || []);
    fill(body,
      masked.size ? h("p", { class: "hint", id: "masked" }, "Masked at ingest: ", [...masked].map((m) => h("code", { class: "badge mask" }, m))) : null,
      diffTable(ev.changes),
      h("h3", {}, "Fields"),
      fieldsTable(ev, masked),
      h("details", {}, h("summary", {}, "JSON"), h("pre", { id: "detail-json" }, JSON.stringify(ev, null, 2))));
    const v = await verifyEventProof(res, await getVerifierKey());
    proof.className = "proof " + (v.ok ? "ok" : "bad");
    proof.replaceChildren((v.ok ? "✓ " : "✗ ") + v.message,
      h("br"), h("small", {}, `leaf ${ev.seq} · leaf hash ${ev.leaf_hash} · checkpoint ${res.checkpoint.split("\n")[0]}`));
    return v;
  } catch (err) {
    if (!(err instanceof AuthError)) { proof.className = "proof bad"; showError(proof, err); }
    return { ok: false, message: err.message };
  }
}
