// settings.js (admin): keys (create with the secret shown once, revoke,
// rotate with a grace period), retention and legal hold, masking rules,
// and action schemas (a JSON editor; the server's validation errors are
// shown next to the field they name).
import { apiJSON, query, AuthError } from "./api.js";
import { h, fill, fmtTime, showError, copyButton } from "./dom.js";
import { field, clearErrors, showFieldError } from "./form.js";

const ROLES = ["admin", "auditor", "viewer", "writer"];
const MASK_ACTIONS = ["redact", "partial", "hmac", "drop", "keep"];
const DETECTORS = ["key_name", "email", "card", "jwt", "bearer", "access_key", "private_key", "url_password", "ip"];

export function mount(ctx) {
  const { session } = ctx;
  const t = () => ({ tenant: ctx.tenant() });
  let alive = true;
  const top = h("p", { class: "error", role: "alert", id: "settings-error" });
  const root = h("div", { class: "settings-page" }, h("h2", {}, "Settings"), top);
  ctx.el.append(root);
  const json = (method, body) => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  // The keys list needs keys.manage: a role without it sees the server's
  // 403 here and nothing else of the page.
  apiJSON("/v1/keys" + query(t())).then((res) => {
    if (!alive) return;
    root.append(keysCard(res.keys || []));
    Promise.all([apiJSON("/v1/settings" + query(t())), apiJSON("/v1/schemas" + query(t()))]).then(([st, sc]) => {
      if (!alive) return;
      root.append(h("div", { class: "grid2" }, retentionCard(st), maskingCard(st)), schemasCard(sc.schemas || []));
    }).catch((e) => { if (!(e instanceof AuthError)) showError(top, e); });
  }).catch((e) => { if (alive && !(e instanceof AuthError)) showError(top, e); });

  function keysCard(keys) {
    const body = h("tbody");
    const secret = h("div", { id: "new-secret", "aria-live": "polite" });
    const err = h("p", { class: "error", role: "alert", id: "keys-error" });
    const showSecret = (k, what) => fill(secret, h("div", { class: "secret" },
      h("strong", {}, `${what} ${k.name} (${k.id}) — copy it now, it is shown only once: `),
      h("code", { id: "secret-value" }, k.key), copyButton(k.key),
      h("button", { type: "button", onclick: () => secret.replaceChildren() }, "Done")));
    const reload = async () => { const r = await apiJSON("/v1/keys" + query(t())); if (alive) render(r.keys || []); };
    function render(list) {
      body.replaceChildren(...list.map((k) => {
        const grace = h("input", { size: 5, value: "1h", "aria-label": `Grace period for the old secret of ${k.name}` });
        const live = !k.revoked_at;
        return h("tr", { dataset: { id: k.id } },
          h("td", { class: "mono" }, k.id), h("td", {}, k.name), h("td", {}, k.role), h("td", {}, k.tenant),
          h("td", {}, fmtTime(k.created_at)), h("td", {}, k.expires_at ? fmtTime(k.expires_at) : "never"),
          h("td", {}, k.last_used_at ? fmtTime(k.last_used_at) : "—"),
          h("td", { class: live ? "ok" : "error" }, live ? "active" : "revoked " + fmtTime(k.revoked_at)),
          h("td", { class: "actions-cell" }, live ? [
            h("button", { type: "button", class: "rotate", onclick: async () => {
              showError(err, null);
              try { const r = await apiJSON(`/v1/keys/${encodeURIComponent(k.id)}/rotate` + query(t()), json("POST", { grace: grace.value.trim() })); showSecret(r, "New secret for"); reload(); }
              catch (e) { if (!(e instanceof AuthError)) showError(err, e); }
            } }, "Rotate"), " grace ", grace,
            h("button", { type: "button", class: "danger revoke", onclick: async () => {
              showError(err, null);
              try { await apiJSON(`/v1/keys/${encodeURIComponent(k.id)}` + query(t()), { method: "DELETE" }); reload(); }
              catch (e) { if (!(e instanceof AuthError)) showError(err, e); }
            } }, "Revoke")] : null));
      }));
    }
    render(keys);
    const roles = session.role === "operator" ? ["operator", ...ROLES] : ROLES;
    const form = h("form", { class: "form", id: "key-form", novalidate: true },
      field({ name: "name", label: "Name", placeholder: "ci ingest" }),
      field({ name: "role", label: "Role", options: roles, value: "viewer" }),
      session.allTenants ? field({ name: "tenant", label: "Tenant (* = all)", value: ctx.tenant() || "" }) : null,
      field({ name: "expires_at", label: "Expires (optional)", type: "datetime-local" }),
      h("p", { class: "error form-error wide", role: "alert" }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "key-create" }, "Create key")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const f = form.elements;
      const body = { name: f.name.value.trim(), role: f.role.value, tenant: f.tenant ? f.tenant.value.trim() : session.tenant || ctx.tenant() };
      if (f.expires_at.value) body.expires_at = new Date(f.expires_at.value).toISOString();
      try {
        const k = await apiJSON("/v1/keys" + query(t()), json("POST", body));
        form.reset();
        showSecret(k, "Created key");
        reload();
      } catch (e) { if (!(e instanceof AuthError)) showFieldError(form, e); }
    });
    return h("section", { class: "card", id: "keys" }, h("h3", {}, "API keys"), err, secret,
      h("div", { class: "table-wrap" }, h("table", { id: "keys-table" },
        h("thead", {}, h("tr", {}, ["Id", "Name", "Role", "Tenant", "Created", "Expires", "Last used", "State", ""].map((c) => h("th", { scope: "col" }, c)))), body)),
      h("h3", {}, "New key"), form);
  }

  async function putSettings(form, body, done) {
    clearErrors(form);
    try {
      const st = await apiJSON("/v1/settings" + query(t()), json("PUT", body));
      done.className = "ok";
      done.textContent = "Saved.";
      return st;
    } catch (e) { if (!(e instanceof AuthError)) showFieldError(form, e); return null; }
  }

  function retentionCard(st) {
    const done = h("span", { role: "status" });
    const form = h("form", { class: "form", id: "retention-form", novalidate: true },
      field({ name: "retention_days", label: "Retention (days, 0 = forever)", type: "number", value: st.retention_days }),
      field({ name: "legal_hold", label: "Legal hold (suspends retention)", type: "checkbox", value: st.legal_hold }),
      h("p", { class: "error form-error wide", role: "alert" }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save"), done));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = form.elements;
      putSettings(form, { retention_days: Number(f.retention_days.value), legal_hold: f.legal_hold.checked }, done);
    });
    return h("section", { class: "card", id: "retention" }, h("h3", {}, "Retention and legal hold"),
      h("p", { class: "hint" }, "Retention removes the content of older events and keeps their leaf hashes, so every proof still verifies."), form);
  }

  function maskingCard(st) {
    const done = h("span", { role: "status" });
    const rows = h("tbody");
    const addRow = (r = { detector: "email", action: "redact" }) => {
      const kind = h("select", { "aria-label": "Selects by" }, h("option", { value: "path", selected: !!r.path }, "path"), h("option", { value: "detector", selected: !r.path }, "detector"));
      const value = h("input", { value: r.path || r.detector || "", "aria-label": "Path or detector", list: "detectors", size: 18 });
      const action = h("select", { "aria-label": "Action" }, MASK_ACTIONS.map((a) => h("option", { value: a, selected: a === r.action }, a)));
      const tr = h("tr", {}, h("td", {}, kind), h("td", {}, value), h("td", {}, action),
        h("td", {}, h("button", { type: "button", onclick: () => tr.remove() }, "Remove")));
      tr.rule = () => ({ [kind.value]: value.value.trim(), action: action.value });
      rows.append(tr);
    };
    for (const r of (st.masking && st.masking.rules) || []) addRow(r);
    const form = h("form", { class: "form", id: "masking-form", novalidate: true },
      field({ name: "defaults", label: "Default detectors (secrets by key name, cards, JWTs, bearer tokens, access keys, private keys)", type: "checkbox", value: st.masking ? st.masking.defaults : true, wide: true }),
      h("div", { class: "wide table-wrap" }, h("table", { id: "mask-rules" }, h("thead", {}, h("tr", {}, ["By", "Path or detector", "Action", ""].map((c) => h("th", { scope: "col" }, c)))), rows)),
      h("datalist", { id: "detectors" }, DETECTORS.map((d) => h("option", { value: d }))),
      h("span", { class: "field-error error wide", dataset: { field: "masking" }, role: "alert" }),
      h("p", { class: "error form-error wide", role: "alert" }),
      h("div", { class: "actions wide" }, h("button", { type: "button", onclick: () => addRow() }, "Add rule"), h("button", { type: "submit", class: "primary" }, "Save masking"), done));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      putSettings(form, { masking: { defaults: form.elements.defaults.checked, rules: [...rows.rows].map((tr) => tr.rule()) } }, done);
    });
    return h("section", { class: "card", id: "masking" }, h("h3", {}, "Masking"),
      h("p", { class: "hint" }, "Applied at ingest, before anything is stored, hashed or forwarded. Changes apply to new events only."), form);
  }

  function schemasCard(schemas) {
    const pick = h("select", { id: "schema-pick", "aria-label": "Action schema" },
      h("option", { value: "" }, "New schema…"), schemas.map((s) => h("option", { value: s.action }, `${s.action} (v${s.version})`)));
    const done = h("span", { role: "status" });
    const form = h("form", { class: "form", id: "schema-form", novalidate: true },
      field({ name: "action", label: "Action", placeholder: "user.login" }),
      field({ name: "schema", label: "JSON Schema for metadata", type: "textarea", rows: 10, wide: true,
        value: '{\n  "type": "object",\n  "properties": {\n    "plan": {"enum": ["free", "pro"]}\n  }\n}' }),
      h("p", { class: "error form-error wide", role: "alert" }),
      h("div", { class: "actions wide" }, h("button", { type: "submit", class: "primary" }, "Save schema"), done));
    pick.addEventListener("change", () => {
      const s = schemas.find((x) => x.action === pick.value);
      form.elements.action.value = s ? s.action : "";
      form.elements.action.readOnly = !!s;
      form.elements.schema.value = s ? JSON.stringify(s.schema, null, 2) : "";
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      done.textContent = "";
      const f = form.elements;
      const action = f.action.value.trim();
      if (!action) { showFieldError(form, { field: "action", message: "name the action the schema is for" }); return; }
      try { JSON.parse(f.schema.value); } catch (e) { showFieldError(form, { field: "schema", message: "not JSON: " + e.message }); return; }
      try {
        const v = await apiJSON(`/v1/schemas/${encodeURIComponent(action)}` + query(t()), { method: "PUT", headers: { "Content-Type": "application/json" }, body: f.schema.value });
        done.className = "ok";
        done.textContent = `Saved ${v.action} version ${v.version}.`;
      } catch (e) {
        if (e instanceof AuthError) return;
        showFieldError(form, { field: e.field && e.field !== "action" ? "schema" : e.field === "action" ? "action" : "schema", message: (e.field ? e.field + ": " : "") + e.message });
      }
    });
    return h("section", { class: "card", id: "schemas" }, h("h3", {}, "Action schemas"),
      h("p", { class: "hint" }, "Events of an action with a schema must have metadata that validates against it; a change makes a new version."),
      h("p", {}, pick), form);
  }

  return { update: () => true, unmount() { alive = false; } };
}
