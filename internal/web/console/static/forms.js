// Forms in a modal <dialog> and plain data tables, shared by the
// administration screens. A field is {name, label, type, options, required,
// help}; types: text, number, password, select, checks, bool, datetime,
// date, textarea, file.
import { h, clear } from "./dom.js";
import { t, toZonedInput, fromZonedInput } from "./i18n.js";
import { describe } from "./login.js";

let seq = 0;

function control(f, value) {
  const id = `f${++seq}-${f.name}`;
  const common = { id, name: f.name, required: f.required, "aria-describedby": f.help ? id + "-help" : null };
  let input;
  switch (f.type) {
    case "select":
      input = h("select", common, (f.options || []).map((o) => h("option", { value: o.value }, o.label)));
      input.value = value ?? (f.options && f.options[0] ? f.options[0].value : "");
      break;
    case "checks":
      return h("fieldset", { class: "field checks", dataset: { name: f.name, type: "checks" } },
        h("legend", {}, f.label),
        (f.options || []).map((o) => h("label", { class: "check" },
          h("input", { type: "checkbox", name: f.name, value: o.value, checked: (value || []).includes(o.value) }), " ", o.label)));
    case "bool":
      return h("div", { class: "field bool" }, h("label", { class: "check" },
        h("input", { type: "checkbox", id, name: f.name, checked: !!value, dataset: { type: "bool" } }), " ", f.label),
        f.help ? h("p", { class: "muted small", id: id + "-help" }, f.help) : null);
    case "textarea":
      input = h("textarea", { ...common, rows: f.rows || 4 });
      input.value = value ?? "";
      break;
    case "datetime":
      input = h("input", { ...common, type: "datetime-local", step: 1, value: value ? toZonedInput(value) : "" });
      input.dataset.type = "datetime";
      break;
    case "file":
      input = h("input", { ...common, type: "file", accept: f.accept || "" });
      input.dataset.type = "file";
      break;
    default:
      input = h("input", { ...common, type: f.type || "text", value: value ?? "", step: f.step, readonly: f.readonly, autocomplete: f.autocomplete || "off" });
  }
  return h("div", { class: "field", dataset: { name: f.name } }, h("label", { for: id }, f.label, f.required ? h("span", { "aria-hidden": "true", class: "req" }, " *") : null),
    input, f.help ? h("p", { class: "muted small", id: id + "-help" }, f.help) : null);
}

export function readForm(form, fields) {
  const out = {};
  for (const f of fields) {
    if (f.type === "checks") {
      out[f.name] = [...form.querySelectorAll(`input[name="${f.name}"]:checked`)].map((i) => i.value);
    } else if (f.type === "bool") {
      out[f.name] = form.querySelector(`input[name="${f.name}"]`).checked;
    } else if (f.type === "number") {
      const v = form.querySelector(`[name="${f.name}"]`).value;
      out[f.name] = v === "" ? 0 : Number(v);
    } else if (f.type === "datetime") {
      const v = form.querySelector(`[name="${f.name}"]`).value;
      out[f.name] = v ? fromZonedInput(v) : undefined;
    } else if (f.type === "file") {
      out[f.name] = form.querySelector(`[name="${f.name}"]`).files[0] || null;
    } else {
      out[f.name] = form.querySelector(`[name="${f.name}"]`).value.trim();
    }
  }
  return out;
}

// formDialog opens a modal form. submit(values) may throw an ApiError: the
// message is shown and the field it names is marked. Resolves with
// submit's result, or null when cancelled.
export function formDialog({ title, fields, values = {}, submit, submitLabel, id }) {
  return new Promise((resolve) => {
    const err = h("p", { class: "error", role: "alert", hidden: true });
    const form = h("form", { method: "dialog", novalidate: true }, fields.map((f) => control(f, values[f.name])), err,
      h("div", { class: "actions" },
        h("button", { type: "button", value: "cancel", onclick: () => { dlg.close(); } }, t("form.cancel")),
        h("button", { type: "submit", class: "primary", id: id ? id + "-submit" : null }, submitLabel || t("form.save"))));
    const dlg = h("dialog", { class: "dlg", id, "aria-labelledby": `${id || "dlg"}-title` }, h("h2", { id: `${id || "dlg"}-title` }, title), form);
    let result = null;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
      const missing = fields.find((f) => f.required && f.type !== "checks" && f.type !== "bool" && !form.querySelector(`[name="${f.name}"]`).value);
      if (missing) { err.hidden = false; err.textContent = t("form.required", missing.label); form.querySelector(`[name="${missing.name}"]`).focus(); return; }
      try {
        result = await submit(readForm(form, fields));
        dlg.close();
      } catch (e) {
        err.hidden = false;
        err.textContent = describe(e);
        const bad = e.field && form.querySelector(`[name="${CSS.escape(e.field)}"]`);
        if (bad) { bad.setAttribute("aria-invalid", "true"); bad.focus(); }
      }
    });
    dlg.addEventListener("close", () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector("input:not([readonly]),select,textarea");
    if (first) first.focus();
  });
}

// table renders rows with columns {label, get(row) → string|Node}.
export function table(caption, columns, rows, opts = {}) {
  return h("div", { class: "table-wrap" }, h("table", { class: "data", id: opts.id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", { dataset: opts.rowData ? opts.rowData(r) : {} }, columns.map((c) => h("td", {}, c.get(r))))) :
      h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, t("table.empty"))))));
}

export function section(main, title, ...tools) {
  clear(main);
  main.append(h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, title), ...tools));
}

// sha256Hex is the SHA-256 of a file, in hex, computed in the browser (the
// scanned document itself is never uploaded).
export async function sha256Hex(file) {
  const d = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
