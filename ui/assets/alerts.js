// alerts.js: fired alerts with their status (acknowledge, resolve), the
// alert rules (list; create, edit and delete for admins, with validation
// errors next to the field) and the sinks with their status and lag
// (pause, resume, replay from a seq).
import { apiJSON, query, AuthError } from "./api.js";
import { h, fmtTime, showError } from "./dom.js";
import { href } from "./router.js";
import { field, clearErrors, showFieldError } from "./form.js";

const KINDS = ["threshold", "spike", "new_value", "absence"];
const SEVERITIES = ["", "info", "low", "medium", "high", "critical"];

export function mount(ctx, params) {
  const { session } = ctx;
  const t = () => ({ tenant: ctx.tenant() });
  let alive = true;
  const status = params.status || "";
  const alertsErr = h("p", { class: "error", role: "alert", id: "alerts-error" });
  const alertsBody = h("tbody");
  const rulesErr = h("p", { class: "error", role: "alert", id: "rules-error" });
  const rulesBody = h("tbody");
  const editor = h("div", { id: "rule-editor" });
  const sinksErr = h("p", { class: "error", role: "alert", id: "sinks-error" });
  const sinksBody = h("tbody");
  const filter = h("select", { id: "alert-status", "aria-label": "Status", onchange: () => { location.hash = href("alerts", { status: filter.value }); } },
    ["", "open", "acknowledged", "resolved"].map((s) => h("option", { value: s, selected: s === status }, s || "all")));
  let rules = [];
  const fail = (el) => (err) => { if (alive && !(err instanceof AuthError)) showError(el, err); };

  ctx.el.append(h("div", { class: "alerts-page" },
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", {}, "Alerts"), h("label", {}, "Status ", filter)),
      alertsErr,
      h("div", { class: "table-wrap" }, h("table", { id: "alerts" },
        h("thead", {}, h("tr", {}, ["Fired", "Rule", "Severity", "Group", "Count", "Status", ""].map((c) => h("th", { scope: "col" }, c)))),
        alertsBody))),
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", {}, "Rules"),
        session.can("settings.manage") ? h("button", { type: "button", id: "rule-new", onclick: () => edit(null) }, "New rule") : null),
      rulesErr, editor,
      h("div", { class: "table-wrap" }, h("table", { id: "rules" },
        h("thead", {}, h("tr", {}, ["Name", "Kind", "Filter", "Group by / field", "Window", "Threshold", "Severity", "State", ""].map((c) => h("th", { scope: "col" }, c)))),
        rulesBody))),
    session.can("settings.manage") ? h("section", { class: "card" },
      h("h2", {}, "Sinks"), sinksErr,
      h("div", { class: "table-wrap" }, h("table", { id: "sinks" },
        h("thead", {}, h("tr", {}, ["Name", "Type", "State", "Lag", "Last delivered", "Last error", ""].map((c) => h("th", { scope: "col" }, c)))),
        sinksBody))) : null));

  async function act(path, errEl, body) {
    showError(errEl, null);
    try {
      await apiJSON(path + query(t()), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
      return true;
    } catch (err) { fail(errEl)(err); return false; }
  }

  async function loadAlerts() {
    const res = await apiJSON("/v1/alerts" + query({ ...t(), status }));
    if (!alive) return;
    const byID = new Map(rules.map((r) => [r.id, r]));
    alertsBody.replaceChildren(...(res.alerts || []).map((a) => {
      const rule = byID.get(a.rule_id);
      const buttons = [];
      if (session.can("log.verify") && a.status === "open") {
        buttons.push(h("button", { type: "button", class: "ack", onclick: async () => { if (await act(`/v1/alerts/${encodeURIComponent(a.id)}/acknowledge`, alertsErr)) loadAlerts().catch(fail(alertsErr)); } }, "Acknowledge"));
      }
      if (session.can("log.verify") && a.status !== "resolved") {
        buttons.push(h("button", { type: "button", class: "resolve", onclick: async () => { if (await act(`/v1/alerts/${encodeURIComponent(a.id)}/resolve`, alertsErr)) loadAlerts().catch(fail(alertsErr)); } }, "Resolve"));
      }
      const who = a.resolved_by ? `resolved by ${a.resolved_by} ${fmtTime(a.resolved_at)}` : a.acknowledged_by ? `acknowledged by ${a.acknowledged_by} ${fmtTime(a.acknowledged_at)}` : "";
      return h("tr", { dataset: { id: a.id, status: a.status } },
        h("td", {}, fmtTime(a.fired_at)),
        h("td", {}, a.rule_name || a.rule_id),
        h("td", { class: "sev-" + a.severity }, a.severity),
        h("td", {}, a.value ? `${a.group} → ${a.value}` : a.group || "—"),
        h("td", {}, String(a.count)),
        h("td", { class: "status-" + a.status, title: who }, a.status),
        h("td", { class: "actions-cell" }, buttons,
          h("a", { href: href("events", { q: rule && rule.filter ? rule.filter : "", from: new Date(Date.parse(a.fired_at) - windowMs(a.window)).toISOString(), to: new Date(Date.parse(a.fired_at) + 1000).toISOString() }) }, "Events")));
    }));
    if (!alertsBody.rows.length) alertsBody.append(h("tr", {}, h("td", { colspan: 7, class: "hint" }, status ? `No ${status} alerts.` : "No alerts have fired.")));
  }

  async function loadRules() {
    const res = await apiJSON("/v1/alert-rules" + query(t()));
    if (!alive) return;
    rules = res.rules || [];
    rulesBody.replaceChildren(...rules.map((r) => h("tr", { dataset: { id: r.id } },
      h("td", {}, r.name),
      h("td", {}, r.kind),
      h("td", {}, h("code", {}, r.filter || "")),
      h("td", {}, r.group_by || r.field || ""),
      h("td", {}, r.window || ""),
      h("td", {}, r.kind === "spike" ? `× ${r.factor}` : r.threshold ? String(r.threshold) : ""),
      h("td", { class: "sev-" + (r.severity || "") }, r.severity || ""),
      h("td", {}, r.disabled ? "disabled" : "enabled"),
      h("td", { class: "actions-cell" }, session.can("settings.manage") ? [
        h("button", { type: "button", class: "edit", onclick: () => edit(r) }, "Edit"),
        h("button", { type: "button", class: "danger delete", onclick: async () => {
          if (!confirm(`Delete the rule “${r.name}”?`)) return;
          try { await apiJSON(`/v1/alert-rules/${encodeURIComponent(r.id)}` + query(t()), { method: "DELETE" }); loadRules().catch(fail(rulesErr)); }
          catch (err) { fail(rulesErr)(err); }
        } }, "Delete")] : null))));
    if (!rules.length) rulesBody.append(h("tr", {}, h("td", { colspan: 9, class: "hint" }, "No rules.")));
  }

  // edit opens the rule editor for rule (null: a new rule).
  function edit(rule) {
    const r = rule || { kind: "threshold", window: "5m", threshold: 10, severity: "high" };
    const form = h("form", { class: "form card", id: "rule-form", novalidate: true },
      h("h3", { class: "wide" }, rule ? `Edit rule “${rule.name}”` : "New rule"),
      field({ name: "name", label: "Name", value: r.name }),
      field({ name: "kind", label: "Kind", options: KINDS, value: r.kind }),
      field({ name: "filter", label: "Filter (q language)", value: r.filter, placeholder: "action:user.login outcome:failure", wide: true }),
      field({ name: "group_by", label: "Group by", value: r.group_by, placeholder: "source.ip" }),
      field({ name: "window", label: "Window", value: r.window, placeholder: "5m" }),
      field({ name: "threshold", label: "Threshold", type: "number", value: r.threshold }),
      field({ name: "factor", label: "Factor (spike)", type: "number", value: r.factor }),
      field({ name: "baseline", label: "Baseline (spike)", value: r.baseline, placeholder: "1h" }),
      field({ name: "field", label: "Field (new_value)", value: r.field, placeholder: "source.ip" }),
      field({ name: "severity", label: "Severity", options: SEVERITIES, value: r.severity || "" }),
      field({ name: "cooldown", label: "Cooldown", value: r.cooldown, placeholder: "15m" }),
      field({ name: "sinks", label: "Sinks (ids, comma-separated)", value: (r.sinks || []).join(", ") }),
      field({ name: "disabled", label: "Disabled", type: "checkbox", value: r.disabled }),
      h("p", { class: "error form-error wide", role: "alert" }),
      h("div", { class: "actions wide" }, h("button", { type: "submit", class: "primary" }, rule ? "Save rule" : "Create rule"),
        h("button", { type: "button", onclick: () => editor.replaceChildren() }, "Cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const f = form.elements, body = {};
      for (const k of ["name", "kind", "filter", "group_by", "window", "baseline", "field", "severity", "cooldown"]) if (f[k].value.trim()) body[k] = f[k].value.trim();
      for (const k of ["threshold", "factor"]) if (f[k].value !== "") body[k] = Number(f[k].value);
      const sinks = f.sinks.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (sinks.length) body.sinks = sinks;
      if (f.disabled.checked) body.disabled = true;
      try {
        await apiJSON((rule ? `/v1/alert-rules/${encodeURIComponent(rule.id)}` : "/v1/alert-rules") + query(t()),
          { method: rule ? "PUT" : "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        editor.replaceChildren();
        loadRules().catch(fail(rulesErr));
      } catch (err) {
        if (!(err instanceof AuthError)) showFieldError(form, err);
      }
    });
    editor.replaceChildren(form);
    form.elements.name.focus();
  }

  async function loadSinks() {
    const res = await apiJSON("/v1/sinks" + query(t()));
    if (!alive) return;
    sinksBody.replaceChildren(...(res.sinks || []).map((s) => {
      const st = s.status || {};
      const seq = h("input", { type: "number", min: 0, value: 0, size: 6, "aria-label": `Replay ${s.name} from seq` });
      return h("tr", { dataset: { id: s.id } },
        h("td", {}, s.name || s.id),
        h("td", {}, s.type),
        h("td", { class: "state" }, st.state || (s.paused ? "paused" : "")),
        h("td", { class: "lag" }, String(st.lag ?? "")),
        h("td", {}, st.last_delivered_at ? `seq ${st.last_delivered_seq} · ${fmtTime(st.last_delivered_at)}` : "—"),
        h("td", { class: st.last_error ? "error" : "" }, st.last_error ? `${st.last_error} (${fmtTime(st.last_error_at)})` : "—"),
        h("td", { class: "actions-cell" },
          h("button", { type: "button", class: s.paused ? "resume" : "pause", onclick: async () => { if (await act(`/v1/sinks/${s.id}/${s.paused ? "resume" : "pause"}`, sinksErr)) loadSinks().catch(fail(sinksErr)); } }, s.paused ? "Resume" : "Pause"),
          seq, h("button", { type: "button", class: "replay", onclick: async () => { if (await act(`/v1/sinks/${s.id}/replay`, sinksErr, { seq: Number(seq.value) })) loadSinks().catch(fail(sinksErr)); } }, "Replay")));
    }));
    if (!sinksBody.rows.length) sinksBody.append(h("tr", {}, h("td", { colspan: 7, class: "hint" }, "No sinks. Create them with trail sinks create or POST /v1/sinks.")));
  }

  loadRules().catch(fail(rulesErr)).finally(() => loadAlerts().catch(fail(alertsErr)));
  if (session.can("settings.manage")) loadSinks().catch(fail(sinksErr));
  const timer = setInterval(() => { if (session.can("settings.manage")) loadSinks().catch(() => {}); }, 10000);
  return {
    update(p) { return (p.status || "") === status; },
    unmount() { alive = false; clearInterval(timer); },
  };
}

// windowMs parses a Go-style duration such as "5m0s" or "1h" into milliseconds.
export function windowMs(d) {
  let ms = 0;
  for (const [, n, u] of String(d || "").matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) ms += Number(n) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[u];
  return ms || 60e3;
}
