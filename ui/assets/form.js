// form.js: forms whose server validation errors are shown next to the
// field the API names (the "field" of an error answer).
import { h } from "./dom.js";

// field makes a labelled input (or select/textarea/checkbox) with an error
// line under it; spec is {name, label, type?, options?, value?, hint?, wide?}.
export function field(spec) {
  const id = "f-" + spec.name.replace(/[^a-z0-9]+/gi, "-");
  let input;
  if (spec.options) {
    input = h("select", { id, name: spec.name }, spec.options.map((o) => h("option", { value: o, selected: o === spec.value }, o || "—")));
  } else if (spec.type === "textarea") {
    input = h("textarea", { id, name: spec.name, rows: spec.rows || 8, spellcheck: "false" });
    input.value = spec.value || "";
  } else if (spec.type === "checkbox") {
    input = h("input", { id, name: spec.name, type: "checkbox", checked: !!spec.value });
  } else {
    input = h("input", { id, name: spec.name, type: spec.type || "text", value: spec.value ?? "", placeholder: spec.placeholder || "", autocomplete: "off" });
  }
  const err = h("span", { class: "field-error error", id: id + "-error", role: "alert", dataset: { field: spec.name } });
  input.setAttribute("aria-describedby", err.id);
  return h("label", { class: spec.wide ? "wide" : null, for: id }, spec.label, input, spec.hint ? h("span", { class: "hint" }, spec.hint) : null, err);
}

// clearErrors empties every field error of form and its general error.
export function clearErrors(form) {
  for (const e of form.querySelectorAll(".field-error, .form-error")) e.textContent = "";
}

// showFieldError puts err's message next to the field it names (matching
// the field's name or the first part of a dotted path such as
// "masking.rules[0].action"), or into the form's general error line.
export function showFieldError(form, err) {
  const f = err.field || "";
  const candidates = [f, f.replace(/\[\d+\].*$/, ""), f.split(".")[0]];
  for (const c of candidates) {
    if (!c) continue;
    const el = form.querySelector(`.field-error[data-field="${CSS.escape(c)}"]`);
    if (el) { el.textContent = err.message; const input = form.elements[c]; if (input && input.focus) input.focus(); return; }
  }
  const general = form.querySelector(".form-error");
  if (general) general.textContent = (f ? f + ": " : "") + err.message;
}
