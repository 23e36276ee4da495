// insights.js: events over time by outcome, failed authentications over
// time, and the top actors, actions, IPs and resource types of the chosen
// range, from GET /v1/stats. Every chart point, legend entry and bar opens
// the events page with that filter. Charts are uPlot (vendor/uplot, MIT),
// loaded the first time this page opens.
import { apiJSON, query, AuthError } from "./api.js";
import { h, showError } from "./dom.js";
import { href, go } from "./router.js";
import { RANGES } from "./events.js";

// FAILED_AUTH is what "failed authentications" means here: the filter of
// the default alert rule default.failed_auth (alert.DefaultRules: the word
// login, signin or logon in a text field such as the action, or an action
// starting with auth, user.auth or session.auth, with outcome failure),
// plus trail's own trail.auth.* failures (those of unknown keys are in the
// operator-only _system tenant).
export const FAILED_AUTH = "(text:login OR text:signin OR text:logon OR action:auth* OR action:user.auth* OR action:session.auth* OR action:trail.auth*) outcome:failure";

// INTERVALS is the bucket size of each range preset.
const INTERVALS = { "15m": ["1m", 60], "1h": ["1m", 60], "24h": ["1h", 3600], "7d": ["1h", 3600], "30d": ["1d", 86400] };
const COLORS = { success: "#067647", failure: "#b42318", denied: "#c4320a", error: "#7a2e98", unknown: "#667085" };
const TOP = [["actor", "Top actors"], ["action", "Top actions"], ["ip", "Top source IPs"], ["resource_type", "Top resource types"]];

let uplot = null;
function loadUPlot() {
  if (!uplot) {
    uplot = new Promise((resolve, reject) => {
      if (window.uPlot) { resolve(window.uPlot); return; }
      document.head.append(h("link", { rel: "stylesheet", href: "/ui/vendor/uplot/uPlot.min.css" }));
      const s = h("script", { src: "/ui/vendor/uplot/uPlot.iife.min.js" });
      s.addEventListener("load", () => resolve(window.uPlot));
      s.addEventListener("error", () => { uplot = null; reject(new Error("could not load the chart library")); });
      document.head.append(s);
    });
  }
  return uplot;
}

// series fills the buckets of a stats answer into uPlot data: x in
// seconds from the first bucket at or before from to now, one array per key.
export function series(buckets, keys, fromMs, nowMs, step) {
  const first = Math.floor(fromMs / 1000 / step) * step, last = Math.floor(nowMs / 1000 / step) * step;
  const xs = [];
  for (let x = first; x <= last; x += step) xs.push(x);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = keys.map(() => xs.map(() => 0));
  for (const b of buckets || []) {
    const i = at.get(Math.floor(Date.parse(b.start) / 1000));
    if (i === undefined) continue;
    keys.forEach((k, j) => { ys[j][i] += b.counts[k] || 0; });
  }
  return [xs, ...ys];
}

export function mount(ctx, params) {
  const range = RANGES[params.range] ? params.range : "24h";
  const el = ctx.el;
  const error = h("p", { class: "error", role: "alert", id: "insights-error" });
  const picker = h("select", { id: "insights-range", "aria-label": "Time range", onchange: () => go("insights", { range: picker.value }) },
    Object.keys(RANGES).map((r) => h("option", { value: r, selected: r === range }, "Last " + r)));
  const outcomes = h("div", { class: "chart", id: "chart-outcomes" });
  const outcomeLinks = h("p", { class: "legend-links" });
  const auth = h("div", { class: "chart", id: "chart-auth" });
  const authLinks = h("p", { class: "legend-links" });
  const tops = TOP.map(([field, title]) => ({ field, title, list: h("ol", { class: "bars", id: "top-" + field }) }));
  el.append(h("div", { class: "insights" },
    h("div", { class: "toolbar" }, h("h2", {}, "Insights"), h("label", {}, "Range ", picker)),
    error,
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h3", {}, "Events over time by outcome"), outcomes, outcomeLinks),
      h("section", { class: "card" }, h("h3", {}, "Failed authentications"), auth, authLinks,
        h("p", { class: "hint" }, "Events with outcome failure that mention login, signin or logon, or whose action starts with auth, user.auth, session.auth or trail.auth: the filter of the default failed-authentication alert rule."))),
    h("div", { class: "grid3" }, tops.map((t) => h("section", { class: "card" }, h("h3", {}, t.title), t.list)))));

  const now = Date.now(), fromMs = now - RANGES[range];
  const from = new Date(fromMs).toISOString();
  const [interval, step] = INTERVALS[range];
  const tenant = ctx.tenant();
  const plots = [];
  let alive = true;

  const stats = (p) => apiJSON("/v1/stats" + query({ ...p, from, tenant }));
  const eventsLink = (p) => href("events", { range, ...p });

  async function timeChart(target, links, params, keysOf, eventsFilter) {
    const [U, res] = await Promise.all([loadUPlot(), stats(params)]);
    if (!alive) return;
    const keys = keysOf(res.buckets || []);
    const data = series(res.buckets, keys, fromMs, now, step);
    const total = keys.map((_, j) => data[j + 1].reduce((a, b) => a + b, 0));
    const label = (k) => (k === "*" ? "failed authentications" : k); // "*": the bucket count without group_by
    links.replaceChildren(...keys.map((k, j) => h("a", { href: eventsLink(eventsFilter(k)), class: "legend-link" }, `${label(k)}: ${total[j]}`)), keys.length ? "" : "No events in this range.");
    const width = Math.max(280, target.clientWidth || 500);
    const plot = new U({
      width, height: 220,
      series: [{}, ...keys.map((k) => ({ label: label(k), stroke: COLORS[k] || "#0a5bd6", width: 2, points: { show: false } }))],
      axes: [{}, { size: 50 }],
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
    }, data, target);
    // A click on the plot opens the events of that bucket.
    plot.over.addEventListener("click", (ev) => {
      const i = plot.posToIdx(ev.clientX - plot.over.getBoundingClientRect().left);
      if (i === null || i === undefined || i < 0 || i >= data[0].length) return;
      const start = data[0][i] * 1000;
      location.hash = href("events", { ...eventsFilter(""), from: new Date(start).toISOString(), to: new Date(start + step * 1000).toISOString() });
    });
    plot.over.title = "Click to see the events of that time";
    plots.push([plot, target]);
  }

  const onResize = () => { for (const [p, t] of plots) p.setSize({ width: Math.max(280, t.clientWidth), height: 220 }); };
  window.addEventListener("resize", onResize);

  const fail = (err) => { if (alive && !(err instanceof AuthError)) showError(error, err); };
  timeChart(outcomes, outcomeLinks, { group_by: "outcome", interval },
    (buckets) => {
      const seen = new Set(buckets.flatMap((b) => Object.keys(b.counts)));
      return Object.keys(COLORS).filter((k) => seen.has(k)).concat([...seen].filter((k) => !COLORS[k]).sort());
    },
    (k) => (k ? { outcome: k } : {})).catch(fail);
  timeChart(auth, authLinks, { interval, q: FAILED_AUTH }, () => ["*"], () => ({ q: FAILED_AUTH })).catch(fail);
  for (const t of tops) {
    stats({ group_by: t.field }).then((res) => {
      if (!alive) return;
      const counts = (res.counts || []).slice(0, 10);
      const max = counts.length ? counts[0].count : 0;
      t.list.replaceChildren(...counts.map((c) => h("li", {}, h("a", { href: eventsLink({ [t.field]: c.value }), class: "bar", title: `${c.value}: ${c.count} events` },
        h("span", { class: "label" }, c.value || "(none)"), h("span", { class: "count" }, String(c.count)),
        h("meter", { min: 0, max, value: c.count, "aria-hidden": "true" })))));
      if (!counts.length) t.list.append(h("li", { class: "hint" }, "No events in this range."));
    }).catch(fail);
  }
  return {
    update(p) { return (RANGES[p.range] ? p.range : "24h") === range; },
    unmount() { alive = false; window.removeEventListener("resize", onResize); for (const [p] of plots) p.destroy(); },
  };
}
