// The link between tiers (issue 5), for the registry managers of a site:
// at tier 1 the lower sites (link state and history, enrollment tokens,
// revocation, the shipped audit log's check, what a site reports of itself)
// and the cameras overdue under the 5-day rule; at a lower site, its own
// link to tier 1. The server refuses what the user may not do anyway.
import { h, toast } from "./dom.js";
import { t, lang, fmtDate } from "./i18n.js";
import { get, post, del } from "./api.js";
import { state, can } from "./state.js";
import { formDialog, table, section } from "./forms.js";
import { describe } from "./login.js";

const enc = encodeURIComponent;
const btn = (text, onclick, attrs = {}) => h("button", { type: "button", onclick, ...attrs }, text);
const num = (n) => new Intl.NumberFormat(lang() === "en" ? "en-GB" : "vi-VN").format(n || 0);
const sysName = (id) => (state.systems.get(id) || { name: id || "" }).name;

// fedSections is this module's administration tab, when the site links.
export function fedSections() {
  const role = state.settings.federation;
  if (!role || !can("manage-registry")) return [];
  return [{ id: "federation", label: role === "hub" ? "admin.federation" : "admin.uplink", view: role === "hub" ? sitesView : uplinkView }];
}

function linkBadge(st) {
  const cls = { up: "ok", down: "expired", revoked: "muted", never: "muted" }[st] || "";
  return h("span", { class: "badge " + cls, dataset: { link: st } }, t("fed.link." + st));
}

async function sitesView(body, rerun, sub) {
  if (sub && sub[0]) return siteView(body, rerun, decodeURIComponent(sub[0]));
  const [sites, overdue] = await Promise.all([get("/federation/sites"), get("/federation/overdue")]);
  const lowerSystems = [...state.systems.values()].filter((s) => s.tier > 1 && s.site_id && s.site_id !== state.settings.site_id);
  const enroll = async () => {
    const r = await formDialog({ id: "enroll-form", title: t("fed.enroll"), submitLabel: t("fed.issue"), fields: [
      { name: "site_id", label: t("fed.siteId"), required: true, help: t("fed.siteIdHelp") },
      { name: "systems", label: t("fed.systems"), type: "checks", options: lowerSystems.map((s) => ({ value: s.id, label: `${s.name} (${s.site_id})` })) },
      { name: "ttl_hours", label: t("fed.ttl"), type: "number", step: 1 },
    ], values: { ttl_hours: 24 }, submit: (v) => post("/federation/enrollments", { site_id: v.site_id, systems: v.systems, ttl_hours: v.ttl_hours || 24 }) });
    if (r) showToken(r);
  };
  section(body, t("admin.federation"), btn(t("fed.enroll"), enroll, { id: "enroll-open", class: "primary" }));
  body.append(h("p", { class: "muted" }, t("fed.help")), table(t("fed.sitesCaption", sites.length), [
    { label: t("fed.site"), get: (s) => h("a", { href: "#/admin/federation/" + enc(s.site_id) }, s.site_id) },
    { label: t("fed.systems"), get: (s) => (s.systems || []).map(sysName).join(", ") },
    { label: t("fed.linkState"), get: (s) => linkBadge(s.link_state) },
    { label: t("fed.since"), get: (s) => fmtDate(s.state_since) },
    { label: t("fed.lastSeen"), get: (s) => fmtDate(s.last_seen) },
    { label: t("fed.cameras"), get: (s) => num(s.cameras) },
    { label: t("fed.applied"), get: (s) => t("fed.appliedFmt", num(s.applied_seq), num(s.audit_seq)) },
    { label: t("fed.rejected"), get: (s) => (s.rejected ? h("span", { class: "expired" }, num(s.rejected)) : "0") },
  ], sites, { id: "site-table", rowData: (s) => ({ site: s.site_id, link: s.link_state }) }),
  h("h2", {}, t("fed.overdueTitle")), h("p", { class: "muted" }, t("fed.overdueHelp")),
  table(t("fed.overdueCaption", overdue.length), [
    { label: t("cam.name"), get: (d) => d.name || d.camera_id },
    { label: t("fed.site"), get: (d) => d.site_id || state.settings.site_id },
    { label: t("cam.system"), get: (d) => sysName(d.system_id) },
    { label: t("fed.changed"), get: (d) => fmtDate(d.changed_at) },
    { label: t("fed.due"), get: (d) => fmtDate(d.due) },
    { label: t("fed.late"), get: (d) => h("span", { class: "expired" }, t("fed.lateFmt", num(Math.round(d.overdue_hours || 0)))) },
  ], overdue, { id: "overdue-table" }));
}

// showToken shows a new enrollment token once, with the command the lower
// site runs: tier 1 keeps only its hash.
function showToken(e) {
  const cmd = `vigil enroll ${location.origin} ${e.token}`;
  const code = h("code", { id: "enroll-command" }, cmd);
  const dlg = h("dialog", { class: "dlg", id: "enroll-token", "aria-labelledby": "enroll-token-title" },
    h("h2", { id: "enroll-token-title" }, t("fed.tokenTitle", e.site_id)),
    h("p", {}, t("fed.tokenOnce", fmtDate(e.expires_at))),
    h("pre", { class: "token" }, code),
    h("div", { class: "actions" },
      btn(t("fed.copy"), async () => { try { await navigator.clipboard.writeText(cmd); toast(t("fed.copied")); } catch (_) { toast(t("fed.copyFailed"), "warn"); } }),
      btn(t("form.close"), () => dlg.close(), { class: "primary", id: "enroll-token-close" })));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

async function siteView(body, rerun, id) {
  const d = await get(`/federation/sites/${enc(id)}`);
  const s = d.site;
  const out = h("div", { id: "site-result", role: "status", "aria-live": "polite" });
  const verify = async () => {
    try {
      const r = await get(`/federation/sites/${enc(id)}/audit/verify`);
      out.replaceChildren(h("p", { class: r.ok ? "ok" : "error" }, r.ok ? t("fed.auditOK", num(r.entries), num(r.last_seq)) : t("fed.auditBroken", r.broken_at, r.problem)));
    } catch (e) { out.replaceChildren(h("p", { class: "error" }, describe(e))); }
  };
  const ask = async () => {
    try {
      const r = await get(`/federation/sites/${enc(id)}/remote-status`);
      const st = r.stats || {};
      out.replaceChildren(h("p", { class: "ok" }, t("fed.remoteFmt", num(r.cameras), num(st.audit_seq), num(st.out_seq))));
    } catch (e) { out.replaceChildren(h("p", { class: "error" }, describe(e))); }
  };
  const revoke = async () => {
    if (!confirm(t("fed.confirmRevoke", id))) return;
    try { await del(`/federation/sites/${enc(id)}`); toast(t("fed.revoked")); rerun(); } catch (e) { toast(describe(e), "error"); }
  };
  const live = s.link_state !== "revoked";
  section(body, t("fed.siteTitle", id), h("a", { href: "#/admin/federation", id: "site-back" }, t("fed.back")),
    btn(t("fed.verify"), verify, { id: "site-verify" }),
    live ? btn(t("fed.ask"), ask, { id: "site-ask" }) : null,
    live ? btn(t("fed.revoke"), revoke, { id: "site-revoke", class: "danger" }) : null);
  body.append(
    h("dl", { class: "facts", id: "site-facts" },
      h("dt", {}, t("fed.linkState")), h("dd", {}, linkBadge(s.link_state), " ", t("fed.sinceFmt", fmtDate(s.state_since))),
      h("dt", {}, t("fed.systems")), h("dd", {}, (s.systems || []).map(sysName).join(", ")),
      h("dt", {}, t("fed.enrolled")), h("dd", {}, fmtDate(s.enrolled_at)),
      h("dt", {}, t("fed.lastSeen")), h("dd", {}, fmtDate(s.last_seen)),
      h("dt", {}, t("fed.cameras")), h("dd", {}, num(s.cameras)),
      h("dt", {}, t("fed.applied")), h("dd", {}, t("fed.appliedFmt", num(s.applied_seq), num(s.audit_seq)))),
    out,
    table(t("fed.alertsCaption", (d.alerts || []).length), [
      { label: t("fed.downSince"), get: (a) => fmtDate(a.down_since) },
      { label: t("fed.opened"), get: (a) => fmtDate(a.opened_at) },
      { label: t("fed.closed"), get: (a) => (a.closed_at ? fmtDate(a.closed_at) : h("span", { class: "expired" }, t("fed.open"))) },
    ], d.alerts || [], { id: "alert-table" }),
    table(t("fed.historyCaption", (d.events || []).length), [
      { label: t("fed.at"), get: (e) => fmtDate(e.at) },
      { label: t("fed.linkState"), get: (e) => linkBadge(e.state) },
    ], d.events || [], { id: "link-history" }));
}

async function uplinkView(body) {
  const st = await get("/federation/status");
  section(body, t("admin.uplink"));
  body.append(h("p", { class: "muted" }, t("fed.uplinkHelp")),
    h("dl", { class: "facts", id: "uplink-facts" },
      h("dt", {}, t("fed.enrolledQ")), h("dd", {}, st.enrolled ? t("fed.enrolledAt", st.hub_site_id) : h("span", { class: "expired" }, t("fed.notEnrolled"))),
      h("dt", {}, t("fed.linkState")), h("dd", {}, linkBadge(st.enrolled ? (st.link_up ? "up" : "down") : "never")),
      h("dt", {}, t("fed.outbox")), h("dd", {}, t("fed.outboxFmt", num(st.audit_seq), num(st.out_seq)))));
}
