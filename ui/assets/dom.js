// dom.js: small DOM helpers shared by the pages. Nothing here sets a style
// attribute or inline handler: the Content-Security-Policy forbids both.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// h creates an element: h("button", {type: "button", class: "x", onclick: f}, "text", child…).
// Attributes starting with "on" become listeners; "dataset" and "props" objects
// are assigned; false/null/undefined attributes and children are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "props") Object.assign(el, v);
    else if (k === "style") throw new Error("dom.h: style attributes are blocked by the CSP");
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// fmtTime shows an RFC 3339 time as "YYYY-MM-DD hh:mm:ssZ" in UTC.
export function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// section returns a page section with a heading and a status line for errors.
export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

// errorLine is a paragraph that pages write their API errors into.
export function errorLine(id) { return h("p", { class: "error", role: "alert", id }); }

// showError writes err's message into el (a 403 is the server's words, as
// the dashboard only hides what the role cannot do; the server decides).
export function showError(el, err) {
  if (!el) return;
  el.textContent = err ? (err.status === 403 ? "Forbidden: " + err.message : err.message) : "";
}

// copyButton copies text to the clipboard and says so.
export function copyButton(text, label = "Copy") {
  const b = h("button", { type: "button" }, label);
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); b.textContent = "Copied"; }
    catch { b.textContent = "Select and copy"; }
  });
  return b;
}

// fill replaces el's children, skipping null/false and flattening arrays as h does.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}
