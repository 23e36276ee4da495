// api.js: calls to the HTTP API (/v1/…) with the dashboard's session.
//
// Sign-in posts the API key once to POST /v1/session, which sets the
// HttpOnly cookie trail_session; the key is not kept anywhere in the page.
// Every call sends the cookie (credentials "same-origin") and, on a
// state-changing method, the session's CSRF token in X-CSRF-Token. The
// token lives in this module's memory only; after a reload it is read
// again from GET /v1/session.

import { readSSE } from "./sse.js";

// AuthError is thrown on 401: the caller returns to sign-in with its message.
export class AuthError extends Error {}
export class APIError extends Error {
  constructor(status, code, message, field = "") { super(message); this.status = status; this.code = code; this.field = field; }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

let csrf = ""; // the signed-in session's CSRF token, "" when unknown

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function errorOf(res) {
  let code = "", field = "", message = res.status + " " + res.statusText;
  try {
    const body = await res.json();
    if (body && body.error) { code = body.error.code; message = body.error.message; field = body.error.field || ""; }
  } catch { /* not JSON */ }
  return { code, message, field };
}

// currentSession returns the signed-in session ({csrf_token, role, tenant,
// name, method, expires_at, idle_timeout}) or null when there is none. It
// does not call the unauthorised handler.
export async function currentSession() {
  const res = await fetch("/v1/session", { credentials: "same-origin", cache: "no-store" });
  if (res.status === 401) { csrf = ""; return null; }
  if (!res.ok) { const e = await errorOf(res); throw new APIError(res.status, e.code, e.message); }
  const s = await res.json();
  csrf = s.csrf_token || "";
  return s;
}

// signIn exchanges an API key for a session cookie and returns the session.
// The key is sent once and not kept. A wrong key throws AuthError (without
// calling the unauthorised handler: the sign-in page shows the message).
export async function signIn(key) {
  const res = await fetch("/v1/session", {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key: key.trim() }),
  });
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401) throw new AuthError(e.message);
    throw new APIError(res.status, e.code, e.message);
  }
  const s = await res.json();
  csrf = s.csrf_token || "";
  return s;
}

// signOut ends the session on the server (DELETE /v1/session) and forgets
// the token. Signing out without a session is not an error.
export async function signOut() {
  try {
    if (!csrf) await currentSession();
    if (csrf) {
      await fetch("/v1/session", { method: "DELETE", credentials: "same-origin", cache: "no-store", headers: { "X-CSRF-Token": csrf } });
    }
  } finally { csrf = ""; }
}

// sessionConfig returns the sign-in options: {oidc: bool, oidc_name}.
export async function sessionConfig() {
  const res = await fetch("/v1/session/config", { credentials: "same-origin", cache: "no-store" });
  if (!res.ok) return { oidc: false, oidc_name: "" };
  return res.json();
}

// apiFetch fetches path (which starts with /v1/) with the session cookie,
// adding the CSRF token on state-changing methods, and returns the Response
// when it is 2xx; otherwise it throws APIError, or AuthError (after calling
// the unauthorised handler) on 401. A 403 for a stale CSRF token is retried
// once with the token read afresh.
export async function apiFetch(path, opts = {}, retried = false) {
  const method = (opts.method || "GET").toUpperCase();
  const headers = new Headers(opts.headers || {});
  if (UNSAFE.has(method)) {
    if (!csrf) { try { await currentSession(); } catch { /* answered below */ } }
    headers.set("X-CSRF-Token", csrf);
  }
  const res = await fetch(path, { ...opts, headers, credentials: "same-origin", cache: "no-store" });
  if (res.ok) return res;
  const { code, message, field } = await errorOf(res);
  if (res.status === 401) {
    csrf = "";
    const err = new AuthError(message);
    onUnauthorized(err);
    throw err;
  }
  if (res.status === 403 && UNSAFE.has(method) && /CSRF/.test(message) && !retried) {
    csrf = "";
    return apiFetch(path, opts, true);
  }
  throw new APIError(res.status, code, message, field);
}

export async function apiJSON(path, opts) { return (await apiFetch(path, opts)).json(); }

// query builds a query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

// streamSSE reads Server-Sent Events from path with fetch and calls
// onEvent({id, event, data}) for each message until signal aborts or the
// server closes the stream.
export async function streamSSE(path, onEvent, signal) {
  return readSSE(await apiFetch(path, { signal, headers: { Accept: "text/event-stream" } }), onEvent);
}

// download fetches path with the session and saves the body as filename.
export async function download(path, filename) {
  const blob = await (await apiFetch(path)).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url; a.download = filename;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob;
}
