// events.js: the events page — a filter bar for every query field and the
// q language, a time-range picker with presets, saved searches, a table
// (newest first, infinite scroll by cursor), live tail, the exports of
// exactly the current filter, and the event detail (detail.js, loaded
// when an event is first opened).
import { apiJSON, query, streamSSE, download, AuthError } from "./api.js";
import { $, $$, h, fmtTime, showError } from "./dom.js";
import { go } from "./router.js";

const PAGE = 100;

// FIELDS are the query parameters of GET /v1/events the filter bar edits,
// besides q and the time range.
export const FIELDS = [
  ["actor", "Actor id"], ["action", "Action (user.*)"], ["outcome", "Outcome"], ["severity", "Severity"],
  ["resource_type", "Resource type"], ["resource_id", "Resource id"], ["ip", "IP or CIDR"], ["request_id", "Request id"],
];
const CHOICES = {
  outcome: ["success", "failure", "denied", "error", "unknown"],
  severity: ["info", "low", "medium", "high", "critical"],
};

// RANGES are the time-range presets, in milliseconds.
export const RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const RANGE_LABELS = { "15m": "Last 15 minutes", "1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", all: "All time", custom: "Custom…" };

// FILTER_PARAMS are the parameters that make up a filter in the URL.
export const FILTER_PARAMS = ["q", "range", "from", "to", ...FIELDS.map(([k]) => k)];

// apiFilter turns page parameters into API query parameters: a preset
// range becomes from = now − range; "from"/"to" are RFC 3339.
export function apiFilter(params, now = Date.now()) {
  const out = {};
  for (const [k] of FIELDS) if (params[k]) out[k] = params[k];
  if (params.q) out.q = params.q;
  const range = rangeOf(params);
  if (RANGES[range]) out.from = new Date(now - RANGES[range]).toISOString();
  else if (range === "custom") { if (params.from) out.from = params.from; if (params.to) out.to = params.to; }
  return out;
}

function rangeOf(params) {
  if (params.range) return params.range;
  return params.from || params.to ? "custom" : "all";
}

function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
}
function fromLocal(v) { return v ? new Date(v).toISOString() : ""; }

function filterKey(params) { return JSON.stringify(FILTER_PARAMS.map((k) => params[k] || "")); }

let prefetched = null; // {key, res}: the first page, fetched while the session loads

// prefetch starts the first page of the events query params name, for
// tenant, before the shell knows the session, so the two requests overlap;
// the page mounted with the same parameters and tenant uses it.
export function prefetch(params, tenant) {
  const res = apiJSON("/v1/events" + query({ ...apiFilter(params), tenant, limit: PAGE }));
  res.catch(() => {}); // the page's own request reports errors
  prefetched = { key: filterKey(params) + "\u0000" + tenant, res };
}

function takePrefetched(params, tenant) {
  const p = prefetched;
  prefetched = null;
  return p && p.key === filterKey(params) + "\u0000" + tenant ? p.res : null;
}

export function mount(ctx, params) {
  const page = new EventsPage(ctx);
  page.update(params);
  return page;
}

class EventsPage {
  constructor(ctx) {
    this.ctx = ctx;
    this.params = {};
    this.key = null;
    this.cursor = "";
    this.loading = false;
    this.ids = new Set();
    this.tail = null;
    this.newest = -1; // the highest seq the last search showed
    this.detailId = "";
    this.fromList = false;
    this.render();
  }

  render() {
    const { session } = this.ctx;
    const field = ([name, label]) => CHOICES[name]
      ? h("label", {}, label, h("select", { name }, h("option", { value: "" }, "any"), CHOICES[name].map((v) => h("option", { value: v }, v))))
      : h("label", {}, label, h("input", { name, autocomplete: "off" }));
    this.form = h("form", { id: "filters", class: "filters", role: "search", onsubmit: (ev) => { ev.preventDefault(); this.submit(); } },
      h("label", { class: "grow" }, "Query", h("input", { name: "q", type: "search", "aria-keyshortcuts": "/", placeholder: "action:user.* outcome:failure -actor:svc_* \"free text\"", autocomplete: "off" })),
      h("label", {}, "Time range", h("select", { name: "range", id: "range", onchange: () => this.showCustom() },
        Object.entries(RANGE_LABELS).map(([v, l]) => h("option", { value: v }, l)))),
      h("label", { class: "custom" }, "From", h("input", { name: "from", type: "datetime-local", step: 1 })),
      h("label", { class: "custom" }, "To", h("input", { name: "to", type: "datetime-local", step: 1 })),
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("label", { class: "toggle" }, h("input", { id: "live", type: "checkbox", onchange: (ev) => (ev.target.checked ? this.startTail() : this.stopTail()) }), " Live tail"),
      this.fields = h("details", { class: "fields" }, h("summary", {}, "Fields"), h("div", { class: "field-grid" }, FIELDS.map(field))));
    this.saved = h("select", { id: "saved", "aria-label": "Saved searches", onchange: () => this.applySaved() });
    this.saveName = h("input", { id: "save-name", placeholder: "Name this search", "aria-label": "Name for the saved search", size: 16 });
    this.status = h("span", { id: "status", role: "status" });
    this.error = h("p", { id: "events-error", class: "error", role: "alert" });
    this.tbody = h("tbody", { onclick: (ev) => this.onRow(ev), onkeydown: (ev) => this.onRow(ev) });
    this.more = h("button", { id: "more", type: "button", hidden: true, onclick: () => this.search(true) }, "Load more");
    this.sentinel = h("div", { class: "sentinel" });
    this.detail = h("section", { id: "detail", class: "detail", hidden: true, "aria-label": "Event detail" });
    const exportsEl = session.can("events.export") ? h("span", { class: "exports", id: "exports" }, "Export: ",
      [["ndjson", "NDJSON"], ["csv", "CSV"], ["bundle", "Verifiable bundle"]].map(([f, l]) =>
        h("button", { type: "button", dataset: { format: f }, onclick: () => this.exportAs(f).catch(() => {}) }, l))) : null;
    this.ctx.el.append(h("div", { class: "events-page" },
      this.form,
      h("div", { class: "toolbar" },
        h("span", { class: "saved" }, this.saved, this.saveName,
          h("button", { type: "button", id: "save", onclick: () => this.saveSearch() }, "Save"),
          h("button", { type: "button", id: "delete-saved", onclick: () => this.deleteSaved() }, "Delete")),
        this.status, exportsEl),
      this.error,
      h("div", { class: "events-body" },
        h("div", { class: "table-wrap" }, h("table", { id: "results" },
          h("thead", {}, h("tr", {}, ["Time", "Action", "Actor", "Outcome", "Severity", "Resource", "Source IP"].map((c) => h("th", { scope: "col" }, c)))),
          this.tbody), this.more, this.sentinel),
        this.detail)));
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && this.cursor && !this.loading) this.search(true);
    }, { rootMargin: "300px" });
    this.observer.observe(this.sentinel);
    // Escape closes the detail; "/" jumps to the query box.
    this.onKey = (ev) => {
      if (ev.key === "Escape" && !this.detail.hidden) { ev.preventDefault(); this.closeDetail(); }
      else if (ev.key === "/" && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) { ev.preventDefault(); this.form.elements.q.focus(); }
    };
    document.addEventListener("keydown", this.onKey);
    this.renderSaved();
  }

  // update applies new page parameters: a new filter reruns the search
  // (and restarts a live tail); the event parameter opens or closes detail.
  update(params) {
    this.params = params;
    const key = filterKey(params);
    if (key !== this.key) {
      this.key = key;
      this.fill(params);
      this.search();
      if (this.tail) this.startTail();
    }
    if (params.event && params.event !== this.detailId) this.showDetail(params.event);
    else if (!params.event && this.detailId) this.hideDetail();
    return true;
  }

  fill(params) {
    const f = this.form.elements;
    f.q.value = params.q || "";
    f.range.value = rangeOf(params);
    f.from.value = toLocal(params.from);
    f.to.value = toLocal(params.to);
    let any = false;
    for (const [k] of FIELDS) { f[k].value = params[k] || ""; any = any || !!params[k]; }
    this.fields.open = any;
    this.showCustom();
  }

  showCustom() {
    const custom = this.form.elements.range.value === "custom";
    for (const l of $$(".custom", this.form)) l.hidden = !custom;
  }

  // formParams reads the filter bar as page parameters.
  formParams() {
    const f = this.form.elements, p = {};
    if (f.q.value.trim()) p.q = f.q.value.trim();
    const range = f.range.value;
    if (range === "custom") { p.from = fromLocal(f.from.value); p.to = fromLocal(f.to.value); if (!p.from && !p.to) p.range = "custom"; }
    else if (range !== "all") p.range = range;
    for (const [k] of FIELDS) if (f[k].value.trim()) p[k] = f[k].value.trim();
    return p;
  }

  submit() { go("events", this.formParams()); }

  filter() {
    const t = this.ctx.tenant();
    return { ...apiFilter(this.params), tenant: t };
  }

  failed(err) { if (!(err instanceof AuthError)) showError(this.error, err); }

  row(e, live = false) {
    const tr = h("tr", { tabindex: 0, dataset: { id: e.id, action: e.action || "" }, class: live ? "new" : null },
      h("td", {}, h("time", { datetime: e.time || "" }, fmtTime(e.time))),
      h("td", {}, e.erased ? h("em", {}, "erased") : e.action || ""),
      h("td", {}, e.actor ? e.actor.name || e.actor.id || "" : ""),
      h("td", { class: e.outcome || "" }, e.outcome || ""),
      h("td", { class: "sev-" + (e.severity || "") }, e.severity || ""),
      h("td", {}, e.resource ? [e.resource.type, e.resource.id].filter(Boolean).join(":") : ""),
      h("td", {}, e.source ? e.source.ip || "" : ""));
    if (live) tr.dataset.arrived = String(Date.now());
    return tr;
  }

  onRow(ev) {
    const tr = ev.target.closest("tr[data-id]");
    if (!tr) return;
    if (ev.type === "click" || ev.key === "Enter") { ev.preventDefault(); this.open(tr.dataset.id); }
    else if (ev.key === "ArrowDown" && tr.nextElementSibling) { ev.preventDefault(); tr.nextElementSibling.focus(); }
    else if (ev.key === "ArrowUp" && tr.previousElementSibling) { ev.preventDefault(); tr.previousElementSibling.focus(); }
  }

  // search runs the query afresh (more=false) or fetches the next page.
  async search(more = false) {
    showError(this.error, null);
    const seq = more ? this.seq : (this.seq = (this.seq || 0) + 1);
    if (!more) { this.cursor = ""; this.ids.clear(); this.newest = -1; }
    this.loading = true;
    try {
      const early = more ? null : takePrefetched(this.params, this.ctx.tenant());
      const res = await (early ? early.catch(() => apiJSON("/v1/events" + query({ ...this.filter(), limit: PAGE })))
        : apiJSON("/v1/events" + query({ ...this.filter(), limit: PAGE, cursor: more ? this.cursor : "" })));
      if (seq !== this.seq) return;
      const frag = document.createDocumentFragment();
      for (const e of res.events || []) {
        if (typeof e.seq === "number") this.newest = Math.max(this.newest, e.seq);
        if (!this.ids.has(e.id)) { this.ids.add(e.id); frag.append(this.row(e)); }
      }
      if (more) this.tbody.append(frag); else this.tbody.replaceChildren(frag);
      this.cursor = res.next_cursor || "";
      this.more.hidden = !this.cursor;
      const n = this.tbody.rows.length;
      this.status.textContent = `${n} event${n === 1 ? "" : "s"}${this.cursor ? " (scroll for more)" : ""}`;
      if (!more) performance.mark("trail:events-rendered", { detail: { rows: n } });
    } catch (err) {
      if (seq === this.seq) this.failed(err);
    } finally {
      this.loading = false;
    }
  }

  stopTail() {
    if (this.tail) { this.tail.abort(); this.tail = null; }
    $("#live", this.form).checked = false;
  }

  // startTail streams new events matching the filter into the top of the
  // table, from just after the newest event shown, so that nothing
  // committed between the search and the stream's start is missed. A
  // dropped stream (network, server restart) reconnects after a growing
  // pause, resuming after the last event received (from_seq).
  startTail() {
    if (this.tail) this.tail.abort();
    $("#live", this.form).checked = true;
    const ctl = new AbortController();
    this.tail = ctl;
    const f = this.filter();
    delete f.from; delete f.to;
    let next = this.newest >= 0 ? String(this.newest + 1) : "", pause = 1000;
    const connect = () => streamSSE("/v1/stream" + query({ ...f, from_seq: next }), (msg) => {
      if (msg.id) next = String(Number(msg.id) + 1);
      pause = 1000;
      if (msg.event !== "event") return;
      const e = JSON.parse(msg.data);
      if (this.ids.has(e.id)) return;
      this.ids.add(e.id);
      this.tbody.prepend(this.row(e, true));
      const n = this.tbody.rows.length;
      this.status.textContent = `${n} event${n === 1 ? "" : "s"} (live)`;
    }, ctl.signal).then(() => { throw new TypeError("stream closed"); }).catch((err) => {
      if (ctl.signal.aborted) return;
      if (err instanceof TypeError) { // network or closed: try again
        this.status.textContent = "Live tail reconnecting…";
        setTimeout(() => { if (!ctl.signal.aborted) connect(); }, pause);
        pause = Math.min(pause * 2, 15000);
        return;
      }
      this.failed(err);
      this.stopTail();
    });
    connect();
  }

  open(id) {
    this.fromList = true;
    go("events", { ...this.params, event: id });
  }

  closeDetail() {
    if (this.fromList) { this.fromList = false; history.back(); return; }
    const p = { ...this.params };
    delete p.event;
    go("events", p);
  }

  showDetail(id) {
    this.select(id);
    this.detailId = id;
    this.detail.hidden = false;
    this.ctx.el.classList.add("with-detail");
    // detail.js (and proof.js) load on the first open, off the first paint's path.
    this.detailDone = import("./detail.js").then((m) => (this.detailId === id ? m.openDetail(this.detail, this.ctx, id, () => this.closeDetail()) : null));
  }

  // select marks the row of the open event.
  select(id) {
    for (const tr of this.tbody.querySelectorAll("tr.selected")) { tr.classList.remove("selected"); tr.removeAttribute("aria-selected"); }
    const tr = id && this.tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (tr) { tr.classList.add("selected"); tr.setAttribute("aria-selected", "true"); }
  }

  hideDetail() {
    this.select("");
    const id = this.detailId;
    this.detailId = "";
    this.detail.hidden = true;
    this.detail.replaceChildren();
    this.ctx.el.classList.remove("with-detail");
    const tr = this.tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (tr) tr.focus();
  }

  // exportAs downloads the current filter's export in format.
  exportAs(format) {
    const ext = { ndjson: "ndjson", csv: "csv", bundle: "zip" }[format];
    return download("/v1/export" + query({ ...this.filter(), format }), `trail-export.${ext}`)
      .catch((err) => { this.failed(err); throw err; });
  }

  savedKey() { return "trail.saved." + (this.ctx.tenant() || this.ctx.session.tenant || "default"); }
  loadSaved() { try { return JSON.parse(localStorage.getItem(this.savedKey()) || "[]"); } catch { return []; } }

  renderSaved() {
    const list = this.loadSaved();
    this.saved.replaceChildren(h("option", { value: "" }, list.length ? "Saved searches…" : "No saved searches"),
      ...list.map((s, i) => h("option", { value: String(i) }, s.name)));
  }

  saveSearch() {
    const name = this.saveName.value.trim();
    if (!name) { this.error.textContent = "Name the search to save it."; this.saveName.focus(); return; }
    const list = this.loadSaved().filter((s) => s.name !== name);
    list.push({ name, params: this.formParams() });
    list.sort((a, b) => a.name.localeCompare(b.name));
    localStorage.setItem(this.savedKey(), JSON.stringify(list));
    this.saveName.value = "";
    this.renderSaved();
    this.saved.value = String(list.findIndex((s) => s.name === name));
    this.status.textContent = `Saved “${name}”.`;
  }

  applySaved() {
    const s = this.loadSaved()[Number(this.saved.value)];
    if (s && this.saved.value !== "") go("events", s.params);
  }

  deleteSaved() {
    if (this.saved.value === "") return;
    const list = this.loadSaved();
    list.splice(Number(this.saved.value), 1);
    localStorage.setItem(this.savedKey(), JSON.stringify(list));
    this.renderSaved();
  }

  unmount() {
    this.stopTail();
    this.observer.disconnect();
    document.removeEventListener("keydown", this.onKey);
  }
}
