// router.js: hash routes "#/page?name=value&…", so every view is linkable
// and the back button works. The page names are the navigation entries.

// parseHash splits a location hash into the page and its parameters;
// an empty hash is the events page.
export function parseHash(hash) {
  const s = String(hash || "").replace(/^#\/?/, "");
  const i = s.indexOf("?");
  const page = (i < 0 ? s : s.slice(0, i)) || "events";
  const params = Object.fromEntries(new URLSearchParams(i < 0 ? "" : s.slice(i + 1)));
  return { page, params };
}

// href builds the hash of page with params, leaving out empty values.
export function href(page, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return "#/" + page + (s ? "?" + s : "");
}

// go navigates to page with params (a new history entry).
export function go(page, params) { location.hash = href(page, params); }
