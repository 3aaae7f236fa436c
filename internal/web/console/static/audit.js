// The audit viewer: filters (action prefix, actor, organisation, object,
// outcome, time range in the site's time zone), newest first with "more",
// and the chain verification.
import { h, clear, toast } from "./dom.js";
import { t, fmtDate } from "./i18n.js";
import { get } from "./api.js";
import { state, can } from "./state.js";
import { readForm } from "./forms.js";
import { describe } from "./login.js";

const PREFIXES = ["auth.", "auth.login", "camera.", "organisation.", "system.", "user.", "grant.", "approval.", "live.", "access.denied", "playback.", "export."];

export function auditView(main) {
  const fields = [
    { name: "action", type: "text" }, { name: "actor_id", type: "text" }, { name: "org", type: "text" },
    { name: "object", type: "text" }, { name: "outcome", type: "text" }, { name: "from", type: "datetime" }, { name: "to", type: "datetime" },
  ];
  const users = h("datalist", { id: "audit-users" });
  if (can("manage-users")) get("/users?include_disabled=true").then((us) => us.forEach((u) => users.append(h("option", { value: u.id }, u.username)))).catch(() => {});
  const fld = (name, label, input) => h("div", { class: "field" }, h("label", { for: "audit-" + name }, label), input);
  const inp = (name, attrs = {}) => h("input", { id: "audit-" + name, name, autocomplete: "off", ...attrs });
  const outcome = h("select", { id: "audit-outcome", name: "outcome" },
    ["", "ok", "denied", "failed"].map((o) => h("option", { value: o }, o ? t("audit.outcome." + o) : t("audit.any"))));
  const org = h("select", { id: "audit-org", name: "org" }, h("option", { value: "" }, t("audit.any")),
    [...state.orgs.values()].map((o) => h("option", { value: o.id }, o.name)));
  const form = h("form", { class: "filters", id: "audit-filters", role: "search", "aria-label": t("audit.filters") },
    fld("action", t("audit.action"), inp("action", { list: "audit-prefixes", placeholder: "camera." })),
    h("datalist", { id: "audit-prefixes" }, PREFIXES.map((p) => h("option", { value: p }))),
    fld("actor_id", t("audit.actor"), inp("actor_id", { list: "audit-users" })), users,
    fld("org", t("audit.org"), org),
    fld("object", t("audit.object"), inp("object", { placeholder: "camera/…" })),
    fld("outcome", t("audit.outcome"), outcome),
    fld("from", t("audit.from"), inp("from", { type: "datetime-local" })),
    fld("to", t("audit.to"), inp("to", { type: "datetime-local" })),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary", id: "audit-search" }, t("audit.search")),
      h("button", { type: "reset" }, t("audit.reset"))));
  const tbody = h("tbody", { id: "audit-rows" });
  const more = h("button", { type: "button", id: "audit-more", hidden: true }, t("audit.more"));
  const verifyOut = h("p", { id: "audit-verify-result", role: "status" });
  const verify = h("button", { type: "button", id: "audit-verify" }, t("audit.verify"));
  const count = h("p", { class: "muted small", "aria-live": "polite", id: "audit-count" });
  let next = 0, params = "", shown = 0;

  const row = (e) => h("tr", { dataset: { seq: e.seq, action: e.action } },
    h("td", {}, String(e.seq)), h("td", { class: "nowrap" }, fmtDate(e.at)), h("td", {}, e.actor),
    h("td", {}, (state.orgs.get(e.org) || { name: e.org }).name), h("td", {}, h("code", {}, e.action)), h("td", {}, e.object),
    h("td", {}, h("span", { class: "outcome " + e.outcome }, t("audit.outcome." + e.outcome))), h("td", {}, e.reason || ""),
    h("td", { class: "details" }, e.details ? h("code", {}, JSON.stringify(e.details)) : ""), h("td", {}, e.remote || ""));

  const load = async (append) => {
    try {
      const q = params + (append && next ? `&cursor=${next}` : "");
      const res = await get(`/audit?limit=100${q}`);
      if (!append) { clear(tbody); shown = 0; }
      tbody.dataset.query = params; // which filter the rows answer (read by tests)
      res.items.forEach((e) => tbody.append(row(e)));
      shown += res.items.length;
      next = res.next || 0;
      more.hidden = !next;
      count.textContent = t("audit.count", shown);
      if (!shown) tbody.append(h("tr", {}, h("td", { colspan: 10, class: "muted" }, t("table.empty"))));
    } catch (e) { toast(describe(e), "error"); }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = readForm(form, fields);
    const sp = new URLSearchParams();
    for (const [k, val] of Object.entries(v)) if (val) sp.set(k, val);
    params = sp.toString() ? "&" + sp.toString() : "";
    load(false);
  });
  form.addEventListener("reset", () => { params = ""; setTimeout(() => load(false)); });
  more.addEventListener("click", () => load(true));
  verify.addEventListener("click", async () => {
    verifyOut.textContent = t("audit.verifying");
    try {
      const r = await get("/audit/verify");
      verifyOut.textContent = r.ok ? t("audit.verifyOK", r.entries, r.checkpoints) : `${r.message} (#${r.bad_seq})`;
      verifyOut.className = r.ok ? "ok" : "error";
    } catch (e) { verifyOut.textContent = describe(e); verifyOut.className = "error"; }
  });
  main.append(
    h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, t("audit.title")), verify),
    verifyOut, form, count,
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "audit-table" },
      h("caption", { class: "sr-only" }, t("audit.title")),
      h("thead", {}, h("tr", {}, ["#", t("audit.at"), t("audit.actor"), t("audit.org"), t("audit.action"), t("audit.object"), t("audit.outcome"), t("audit.reason"), t("audit.details"), t("audit.remote")]
        .map((c) => h("th", { scope: "col" }, c)))), tbody)),
    more);
  load(false);
  return { el: main };
}
