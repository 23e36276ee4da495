// api.js: the API key (sessionStorage only) and authenticated calls to /v1/….
const KEY = "trail.key";

export function getKey() { return sessionStorage.getItem(KEY) || ""; }
export function setKey(k) { sessionStorage.setItem(KEY, k.trim()); }
export function clearKey() { sessionStorage.removeItem(KEY); }

// AuthError is thrown on 401: the caller returns to sign-in with its message.
export class AuthError extends Error {}
export class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// apiFetch fetches path (which starts with /v1/) with the bearer key and
// returns the Response when it is 2xx; otherwise it throws APIError, or
// AuthError (after calling the unauthorised handler) on 401.
export async function apiFetch(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  headers.set("Authorization", "Bearer " + getKey());
  const res = await fetch(path, { ...opts, headers, cache: "no-store" });
  if (res.ok) return res;
  let code = "", message = res.status + " " + res.statusText;
  try {
    const body = await res.json();
    if (body && body.error) { code = body.error.code; message = body.error.message; }
  } catch { /* not JSON */ }
  if (res.status === 401) {
    const err = new AuthError(message);
    onUnauthorized(err);
    throw err;
  }
  throw new APIError(res.status, code, message);
}

export async function apiJSON(path, opts) { return (await apiFetch(path, opts)).json(); }

// query builds a query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

// streamSSE reads Server-Sent Events from path with fetch (EventSource cannot
// send the Authorization header) and calls onEvent({id, event, data}) for
// each message until signal aborts or the server closes the stream.
export async function streamSSE(path, onEvent, signal) {
  const res = await apiFetch(path, { signal, headers: { Accept: "text/event-stream" } });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const msg = { id: "", event: "message", data: "" }, data = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const c = line.indexOf(":");
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? "" : line.slice(c + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "data") data.push(v);
        else if (field === "id") msg.id = v;
        else if (field === "event") msg.event = v;
      }
      if (data.length) { msg.data = data.join("\n"); onEvent(msg); }
    }
  }
}

// download fetches path with the key and saves the body as filename.
export async function download(path, filename) {
  const blob = await (await apiFetch(path)).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url; a.download = filename;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob;
}
