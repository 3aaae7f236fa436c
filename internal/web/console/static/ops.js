// Operations administration (issue 8): account review campaigns,
// maintenance (assets, plans, work done), installations (poles, requests,
// written consents) and the yearly compliance report. Each page is offered
// only to those the server allows; the server refuses the others anyway.
import { h, clear, toast } from "./dom.js";
import { t, lang, fmtDate, fromZonedInput } from "./i18n.js";
import { get, post } from "./api.js";
import { state, can, highest, managedSystems } from "./state.js";
import { formDialog, table, section, sha256Hex } from "./forms.js";
import { label } from "./enums.js";
import { describe } from "./login.js";

// opsSections are the administration tabs of this module.
export function opsSections() {
  const out = [];
  if (can("manage-users") && highest()) out.push({ id: "reviews", label: "admin.campaigns", view: campaignsView });
  if (can("manage-registry")) out.push({ id: "maintenance", label: "admin.maintenance", view: maintenanceView });
  if (can("manage-registry") || managedSystems().length) out.push({ id: "installations", label: "admin.installations", view: installationsView });
  return out;
}

// canReport: auditors, or administrators of the highest organisation.
export function canReport() { return can("read-audit") || (highest() && can("manage-registry")); }

const enc = encodeURIComponent;
const btn = (text, onclick, attrs = {}) => h("button", { type: "button", onclick, ...attrs }, text);
const orgName = (id) => (state.orgs.get(id) || { name: id || "" }).name;
const sysName = (id) => (state.systems.get(id) || { name: id || "" }).name;
const camName = (id) => (state.cameras.find((c) => c.id === id) || { name: id || "" }).name;
const num = (n) => new Intl.NumberFormat(lang() === "en" ? "en-GB" : "vi-VN").format(n || 0);
const vnd = (n) => num(n) + " ₫";
const pct = (p) => (p === undefined || p === null || p < 0 ? "—" : num(Math.round(p * 10) / 10) + " %");
const day = (v) => (v ? fromZonedInput(v + "T00:00:00") : undefined);
const sysOpts = () => managedSystems().map((s) => ({ value: s.id, label: s.name }));
function clean(v) {
  for (const k of Object.keys(v)) if (v[k] === "" || v[k] === undefined || v[k] === null) delete v[k];
  return v;
}
async function act(fn) {
  try { await fn(); toast(t("common.saved")); return true; } catch (e) { toast(describe(e), "error"); return false; }
}

// ---- account review campaigns ------------------------------------------------

async function campaignsView(body, rerun, sub) {
  if (sub && sub[0]) return campaignView(body, rerun, decodeURIComponent(sub[0]));
  const cs = await get("/reviews");
  const open = async () => {
    const r = await formDialog({ id: "campaign-form", title: t("camp.open"), fields: [
      { name: "title", label: t("camp.title"), required: true },
      { name: "inactive_days", label: t("review.days"), type: "number", help: t("camp.daysHelp") },
    ], values: { title: t("camp.defaultTitle", new Date().getFullYear()) }, submit: (v) => post("/reviews", clean({ ...v, inactive_days: v.inactive_days || undefined })) });
    if (r) { toast(t("common.saved")); location.hash = "#/admin/reviews/" + enc(r.id); }
  };
  section(body, t("admin.campaigns"), btn(t("camp.open"), open, { id: "campaign-open", class: "primary" }));
  body.append(h("p", { class: "muted" }, t("camp.help")), table(t("camp.caption", cs.length), [
    { label: t("camp.title"), get: (c) => h("a", { href: "#/admin/reviews/" + enc(c.id) }, c.title) },
    { label: t("camp.state"), get: (c) => (c.state === "closed" ? t("camp.stClosed") : t("camp.stOpen")) },
    { label: t("camp.opened"), get: (c) => fmtDate(c.opened_at) },
    { label: t("camp.closedAt"), get: (c) => fmtDate(c.closed_at) },
    { label: t("camp.counts"), get: (c) => t("camp.countsFmt", c.confirmed, c.revoked, c.pending) },
  ], cs, { id: "campaign-table" }));
}

async function campaignView(body, rerun, id) {
  const c = await get(`/reviews/${enc(id)}`);
  const isOpen = c.state === "open";
  const url = (it) => `/reviews/${enc(id)}/accounts/${enc(it.user_id)}`;
  const confirmIt = async (it) => { if (await act(() => post(url(it), { decision: "confirmed" }))) rerun(); };
  const revoke = async (it) => {
    const r = await formDialog({ id: "revoke-form", title: t("camp.revokeTitle", it.username), submitLabel: t("camp.revoke"),
      fields: [{ name: "note", label: t("camp.reason"), type: "textarea", rows: 3, required: true, help: t("camp.revokeHelp") }],
      submit: (v) => post(url(it), { decision: "revoked", note: v.note }) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const close = async () => {
    if (!confirm(t("camp.confirmClose", c.title))) return;
    if (await act(() => post(`/reviews/${enc(id)}/close`))) rerun();
  };
  section(body, c.title, h("a", { href: "#/admin/reviews", id: "campaign-back" }, t("camp.back")),
    isOpen ? btn(t("camp.close"), close, { id: "campaign-close", class: "primary", disabled: c.pending > 0, "aria-describedby": "campaign-summary" }) : null);
  const flags = (it) => [it.inactive ? t("camp.flagUnused") : "", it.admin_password_expired ? t("camp.flagPwd") : ""].filter(Boolean);
  body.append(h("p", { id: "campaign-summary", class: "muted" },
    t("camp.summary", c.inactive_days, c.confirmed, c.revoked, c.pending), " ",
    isOpen ? (c.pending > 0 ? t("camp.pendingHelp") : "") : t("camp.closedBy", c.closed_by || "", fmtDate(c.closed_at))),
  table(t("camp.accounts", (c.items || []).length), [
    { label: t("user.username"), get: (it) => it.username },
    { label: t("user.org"), get: (it) => orgName(it.org_id) },
    { label: t("user.roles"), get: (it) => (it.roles || []).map((x) => label("role", x)).join(", ") },
    { label: t("user.lastLogin"), get: (it) => fmtDate(it.last_login_at) || t("review.never") },
    { label: t("camp.flags"), get: (it) => h("span", { class: flags(it).length ? "expired" : "" }, flags(it).join(" · ")) },
    { label: t("camp.decision"), get: (it) => (it.decision ? [it.decision === "revoked" ? t("camp.revoked") : t("camp.confirmed"), " – ", it.reviewer || "", " ", fmtDate(it.decided_at),
      it.note ? h("div", { class: "muted small" }, it.note) : null] : t("camp.pending")) },
    { label: t("common.actions"), get: (it) => (isOpen && !it.decision ? h("span", { class: "row-actions" },
      btn(t("camp.confirm"), () => confirmIt(it), { "aria-label": t("camp.confirm") + " " + it.username, dataset: { act: "confirm" } }),
      btn(t("camp.revoke"), () => revoke(it), { class: "danger", "aria-label": t("camp.revoke") + " " + it.username, dataset: { act: "revoke" } })) : "") },
  ], c.items || [], { id: "campaign-items", rowData: (it) => ({ user: it.user_id, flagged: String(flags(it).length > 0) }) }));
}

// ---- maintenance -----------------------------------------------------------

async function maintenanceView(body, rerun) {
  const [assets, plans] = await Promise.all([get("/assets"), get("/maintenance/plans")]);
  const assetName = (id) => { const a = assets.find((x) => x.id === id); return a ? a.model + (a.serial ? " · " + a.serial : "") : id || ""; };
  const assetOpts = [{ value: "", label: "—" }, ...assets.map((a) => ({ value: a.id, label: assetName(a.id) }))];
  const newAsset = async () => {
    const r = await formDialog({ id: "asset-form", title: t("maint.newAsset"), fields: [
      { name: "system_id", label: t("cam.system"), type: "select", options: sysOpts(), required: true },
      { name: "camera_id", label: t("maint.camera"), type: "select", options: [{ value: "", label: "—" }, ...state.cameras.map((c) => ({ value: c.id, label: c.name }))] },
      { name: "pole_id", label: t("maint.pole") },
      { name: "model", label: t("maint.model"), required: true },
      { name: "serial", label: t("maint.serial") },
      { name: "firmware", label: t("maint.firmware") },
      { name: "qcvn_cert", label: t("maint.qcvn") },
      { name: "purchase_cost", label: t("maint.purchase"), type: "number", step: 1 },
      { name: "yearly_op_cost", label: t("maint.yearly"), type: "number", step: 1 },
      { name: "installed_at", label: t("maint.installed"), type: "date" },
      { name: "warranty_end", label: t("maint.warranty"), type: "date" },
      { name: "replace_due", label: t("maint.replace"), type: "date" },
    ], submit: (v) => post("/assets", clean({ ...v, installed_at: day(v.installed_at), warranty_end: day(v.warranty_end), replace_due: day(v.replace_due) })) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const newPlan = async () => {
    const r = await formDialog({ id: "plan-form", title: t("maint.newPlan"), fields: [
      { name: "system_id", label: t("cam.system"), type: "select", options: sysOpts(), required: true },
      { name: "asset_id", label: t("maint.asset"), type: "select", options: assetOpts },
      { name: "title", label: t("maint.title"), required: true },
      { name: "every_days", label: t("maint.every"), type: "number", step: 1, required: true },
      { name: "next_due", label: t("maint.nextDue"), type: "datetime", required: true },
      { name: "cost_estimate", label: t("maint.estimate"), type: "number", step: 1 },
    ], values: { every_days: 90 }, submit: (v) => post("/maintenance/plans", clean(v)) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const record = async (p) => {
    const r = await formDialog({ id: "record-form", title: p ? t("maint.recordFor", p.title) : t("maint.record"), fields: [
      { name: "plan_id", label: t("maint.plan"), type: "select", options: [{ value: "", label: "—" }, ...plans.map((x) => ({ value: x.id, label: x.title }))] },
      { name: "system_id", label: t("cam.system"), type: "select", options: sysOpts(), required: true },
      { name: "asset_id", label: t("maint.asset"), type: "select", options: assetOpts },
      { name: "done_at", label: t("maint.doneAt"), type: "datetime", required: true },
      { name: "cost", label: t("maint.cost"), type: "number", step: 1 },
      { name: "notes", label: t("maint.notes"), type: "textarea", rows: 3 },
    ], values: { plan_id: p ? p.id : "", system_id: p ? p.system_id : undefined, asset_id: p ? p.asset_id || "" : "", done_at: new Date().toISOString() },
    submit: (v) => post("/maintenance/records", clean(v)) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const late = plans.filter((p) => p.overdue).length;
  section(body, t("admin.maintenance"),
    btn(t("maint.newAsset"), newAsset, { id: "asset-create" }),
    btn(t("maint.newPlan"), newPlan, { id: "plan-create" }),
    btn(t("maint.record"), () => record(null), { id: "record-create", class: "primary" }));
  body.append(
    late ? h("p", { class: "error", role: "status" }, t("maint.lateCount", late)) : null,
    table(t("maint.plansCaption", plans.length), [
      { label: t("maint.title"), get: (p) => p.title },
      { label: t("cam.system"), get: (p) => sysName(p.system_id) },
      { label: t("maint.asset"), get: (p) => assetName(p.asset_id) },
      { label: t("maint.every"), get: (p) => num(p.every_days) },
      { label: t("maint.nextDue"), get: (p) => h("span", { class: p.overdue ? "expired" : "" }, fmtDate(p.next_due, true), p.overdue ? " (" + t("maint.overdue") + ")" : "") },
      { label: t("maint.estimate"), get: (p) => vnd(p.cost_estimate) },
      { label: t("common.actions"), get: (p) => btn(t("maint.recordShort"), () => record(p), { "aria-label": t("maint.recordFor", p.title) }) },
    ], plans, { id: "plan-table", rowData: (p) => ({ overdue: String(!!p.overdue) }) }),
    table(t("maint.assetsCaption", assets.length), [
      { label: t("maint.model"), get: (a) => a.model },
      { label: t("maint.serial"), get: (a) => a.serial || "" },
      { label: t("cam.system"), get: (a) => sysName(a.system_id) },
      { label: t("maint.camera"), get: (a) => (a.camera_id ? camName(a.camera_id) : a.pole_id || "") },
      { label: t("maint.qcvn"), get: (a) => a.qcvn_cert || "" },
      { label: t("maint.purchase"), get: (a) => vnd(a.purchase_cost) },
      { label: t("maint.yearly"), get: (a) => vnd(a.yearly_op_cost) },
      { label: t("maint.warranty"), get: (a) => fmtDate(a.warranty_end, true) },
      { label: t("maint.replace"), get: (a) => fmtDate(a.replace_due, true) },
    ], assets, { id: "asset-table" }));
}

// ---- installations ---------------------------------------------------------

const instState = (s) => t("inst.st." + s);
const consentKind = (k) => t("inst.kind." + k);

async function installationsView(body, rerun, sub) {
  if (sub && sub[0]) return installationView(body, rerun, decodeURIComponent(sub[0]));
  const all = can("manage-registry");
  const [poles, insts] = await Promise.all([get("/poles"),
    all ? get("/installations") : Promise.all(managedSystems().map((s) => get(`/installations?system_id=${enc(s.id)}`))).then((l) => l.flat())]);
  const newPole = async () => {
    const r = await formDialog({ id: "pole-form", title: t("inst.newPole"), fields: [
      { name: "id", label: t("inst.poleId"), required: true },
      { name: "kind", label: t("inst.poleKind"), type: "select", options: [{ value: "pole", label: t("inst.pole") }, { value: "cabinet", label: t("inst.cabinet") }] },
      { name: "name", label: t("inst.poleName"), required: true },
      { name: "owner_org_id", label: t("inst.owner"), type: "select", options: [...state.orgs.values()].map((o) => ({ value: o.id, label: o.name })), required: true },
      { name: "lat", label: t("cam.lat"), type: "number", step: "any", required: true },
      { name: "lon", label: t("cam.lon"), type: "number", step: "any", required: true },
      { name: "address", label: t("cam.address") },
    ], submit: (v) => post("/poles", clean(v)) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const newRequest = async () => {
    const r = await formDialog({ id: "installation-form", title: t("inst.newRequest"), fields: [
      { name: "system_id", label: t("cam.system"), type: "select", options: sysOpts(), required: true },
      { name: "pole_id", label: t("inst.pole"), type: "select", options: [{ value: "", label: "—" }, ...poles.map((p) => ({ value: p.id, label: p.name }))] },
      { name: "title", label: t("inst.title"), required: true },
      { name: "lat", label: t("cam.lat"), type: "number", step: "any", required: true },
      { name: "lon", label: t("cam.lon"), type: "number", step: "any", required: true },
      { name: "address", label: t("cam.address") },
      { name: "technical_plan", label: t("inst.plan"), type: "textarea", required: true },
      { name: "state_area", label: t("inst.stateArea"), type: "bool", help: t("inst.stateAreaHelp") },
      { name: "public_place", label: t("inst.publicPlace"), type: "bool", help: t("inst.publicPlaceHelp") },
    ], values: { public_place: true }, submit: (v) => post("/installations", clean(v)) });
    if (r) { toast(t("common.saved")); location.hash = "#/admin/installations/" + enc(r.id); }
  };
  section(body, t("admin.installations"),
    all ? btn(t("inst.newPole"), newPole, { id: "pole-create" }) : null,
    managedSystems().length ? btn(t("inst.newRequest"), newRequest, { id: "installation-create", class: "primary" }) : null);
  body.append(
    table(t("inst.requestsCaption", insts.length), [
      { label: t("inst.title"), get: (i) => h("a", { href: "#/admin/installations/" + enc(i.id) }, i.title) },
      { label: t("cam.system"), get: (i) => sysName(i.system_id) },
      { label: t("inst.state"), get: (i) => instState(i.state) },
      { label: t("inst.missing"), get: (i) => (i.missing_consents || []).map(consentKind).join(", ") },
      { label: t("inst.created"), get: (i) => fmtDate(i.created_at) },
    ], insts, { id: "installation-table" }),
    table(t("inst.polesCaption", poles.length), [
      { label: t("inst.poleName"), get: (p) => p.name },
      { label: t("inst.poleId"), get: (p) => h("code", {}, p.id) },
      { label: t("inst.poleKind"), get: (p) => (p.kind === "cabinet" ? t("inst.cabinet") : t("inst.pole")) },
      { label: t("inst.owner"), get: (p) => orgName(p.owner_org_id) },
      { label: t("cam.address"), get: (p) => p.address || `${p.lat}, ${p.lon}` },
    ], poles, { id: "pole-table" }));
}

async function installationView(body, rerun, id) {
  const i = await get(`/installations/${enc(id)}`);
  const base = `/installations/${enc(id)}`;
  const addConsent = async () => {
    const r = await formDialog({ id: "consent-form", title: t("inst.addConsent"), fields: [
      { name: "kind", label: t("inst.consentKind"), type: "select", options: ["department", "area_manager"].map((k) => ({ value: k, label: consentKind(k) })) },
      { name: "doc_no", label: t("inst.docNo"), required: true },
      { name: "doc_date", label: t("inst.docDate"), type: "date", required: true },
      { name: "signer", label: t("grant.signer"), required: true },
      { name: "doc", label: t("grant.doc"), type: "file", required: true, help: t("grant.docHelp") },
    ], values: { kind: (i.missing_consents || [])[0] }, submit: async (v) => {
      const doc_sha256 = await sha256Hex(v.doc);
      delete v.doc;
      return post(base + "/consents", { ...v, doc_sha256 });
    } });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const transition = async (action, title, needNote) => {
    const r = await formDialog({ id: "transition-form", title, submitLabel: title,
      fields: [{ name: "note", label: needNote ? t("camp.reason") : t("inst.note"), type: "textarea", rows: 3, required: needNote }],
      submit: (v) => post(`${base}/${action}`, clean(v)) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const dept = highest() && can("manage-registry");
  section(body, i.title, h("a", { href: "#/admin/installations", id: "installation-back" }, t("camp.back")),
    i.state === "requested" ? btn(t("inst.addConsent"), addConsent, { id: "consent-add" }) : null,
    i.state === "requested" && dept ? btn(t("inst.approve"), () => transition("approve", t("inst.approve"), false), { id: "installation-approve", class: "primary" }) : null,
    i.state === "requested" && dept ? btn(t("inst.reject"), () => transition("reject", t("inst.reject"), true), { id: "installation-reject", class: "danger" }) : null,
    i.state === "approved" ? btn(t("inst.install"), () => transition("install", t("inst.install"), false), { id: "installation-install", class: "primary" }) : null);
  const dl = h("dl", { class: "facts" });
  const fact = (k, v) => dl.append(h("dt", {}, k), h("dd", {}, v));
  fact(t("inst.state"), instState(i.state));
  fact(t("cam.system"), sysName(i.system_id));
  if (i.pole_id) fact(t("inst.pole"), i.pole_id);
  fact(t("cam.address"), [i.address, `(${i.lat}, ${i.lon})`].filter(Boolean).join(" "));
  fact(t("inst.stateArea"), i.state_area ? t("common.yes") : "—");
  fact(t("inst.publicPlace"), i.public_place ? t("common.yes") : "—");
  fact(t("inst.missing"), h("span", { class: (i.missing_consents || []).length ? "expired" : "ok" }, (i.missing_consents || []).map(consentKind).join(", ") || t("inst.noneMissing")));
  if (i.probed_at) fact(t("inst.probed"), fmtDate(i.probed_at));
  fact(t("inst.created"), `${fmtDate(i.created_at)} – ${i.created_by || ""}`);
  body.append(dl, h("h2", {}, t("inst.plan")), h("pre", { class: "plan" }, i.technical_plan),
    table(t("inst.consentsCaption", (i.consents || []).length), [
      { label: t("inst.consentKind"), get: (c) => consentKind(c.kind) },
      { label: t("inst.docNo"), get: (c) => c.doc_no },
      { label: t("inst.docDate"), get: (c) => c.doc_date },
      { label: t("grant.signer"), get: (c) => c.signer },
      { label: "SHA-256", get: (c) => h("code", { class: "hash", title: c.doc_sha256 }, (c.doc_sha256 || "").slice(0, 12) + "…") },
      { label: t("inst.created"), get: (c) => `${fmtDate(c.created_at)} – ${c.created_by || ""}` },
    ], i.consents || [], { id: "consent-table" }));
}

// ---- compliance report -----------------------------------------------------

export function reportView(main) {
  const now = new Date().getFullYear();
  const sel = h("select", { id: "report-year" }, [0, 1, 2, 3, 4, 5].map((d) => h("option", { value: now - d }, String(now - d))));
  const links = h("span", { class: "row-actions" });
  const out = h("div", { id: "report-body", "aria-live": "polite" });
  const load = async () => {
    const y = sel.value;
    clear(links).append(
      h("a", { href: `/api/v1/reports/compliance?year=${y}&format=xlsx`, id: "report-xlsx", download: true }, t("rep.xlsx")), " ",
      h("a", { href: `/api/v1/reports/compliance?year=${y}&format=csv`, id: "report-csv", download: true }, t("rep.csv")));
    clear(out).setAttribute("aria-busy", "true");
    try { out.append(...renderReport(await get(`/reports/compliance?year=${y}`))); } catch (e) { out.append(h("p", { class: "error", role: "alert" }, describe(e))); }
    out.removeAttribute("aria-busy");
  };
  sel.addEventListener("change", load);
  section(main, t("nav.report"), h("label", { for: "report-year" }, t("rep.year")), sel, links);
  main.append(out);
  load();
  return { el: main };
}

function renderReport(r) {
  const yesNo = (b) => h("span", { class: b ? "ok" : "expired" }, b ? t("rep.compliant") : t("rep.nonCompliant"));
  const rows = [
    [t("rep.cameras"), num(r.cameras)],
    [t("rep.connection"), `${pct(r.connection_rate_pct)} (${num(r.cameras_connected)} / ${num(r.cameras)})`],
    [t("rep.connectOverdue"), h("span", { class: (r.connect_overdue || []).length ? "expired" : "" }, [num((r.connect_overdue || []).length), ...(r.connect_overdue || []).length ? [": ", r.connect_overdue.map(camName).join(", ")] : []])],
    [t("rep.uptime"), pct(r.uptime_pct)],
    [t("rep.incidents"), t("rep.incidentsFmt", num(r.incidents), num(r.incidents_resolved), num(r.incidents_within_deadline))],
    [t("rep.inTime"), pct(r.incidents_within_deadline_pct)],
    [t("rep.openLate"), h("span", { class: r.incidents_open_overdue ? "expired" : "" }, num(r.incidents_open_overdue))],
    [t("rep.retention"), [t("rep.days", num(r.retention_days)), " ", yesNo(r.retention_compliant)]],
    [t("rep.retentionBad"), h("span", { class: r.retention_cameras_non_compliant ? "expired" : "" }, num(r.retention_cameras_non_compliant))],
    [t("rep.reviews"), t("rep.reviewsFmt", num(r.review_campaigns_closed), num(r.accounts_confirmed), num(r.accounts_revoked))],
    [t("rep.maintenance"), t("rep.maintenanceFmt", num(r.maintenance_records), vnd(r.maintenance_spent))],
    [t("rep.maintOverdue"), h("span", { class: r.maintenance_plans_overdue ? "expired" : "" }, num(r.maintenance_plans_overdue))],
  ];
  const pair = [{ label: t("rep.figure"), get: (x) => x[0] }, { label: t("rep.value"), get: (x) => x[1] }];
  const cost = r.cost_estimate_next_year || {};
  return [
    h("p", { class: "muted" }, t("rep.period", fmtDate(r.from, true), fmtDate(r.to, true), fmtDate(r.generated_at))),
    table(t("rep.figuresCaption", r.year), pair, rows, { id: "report-figures" }),
    table(t("rep.retentionCaption", (r.retention_by_camera || []).length), [
      { label: t("maint.camera"), get: (c) => camName(c.camera_id) },
      { label: t("rep.mode"), get: (c) => c.mode },
      { label: t("rep.retentionDays"), get: (c) => num(c.retention_days) },
      { label: t("rep.oldest"), get: (c) => fmtDate(c.oldest_footage) },
      { label: t("rep.footageDays"), get: (c) => num(Math.round(c.footage_days * 10) / 10) },
      { label: t("rep.status"), get: (c) => yesNo(c.compliant) },
    ], r.retention_by_camera || [], { id: "report-retention", rowData: (c) => ({ compliant: String(!!c.compliant) }) }),
    table(t("rep.costCaption", cost.year || r.year + 1), pair, [
      [t("rep.costOperation"), vnd(cost.operation)],
      [t("rep.costMaintenance"), vnd(cost.maintenance)],
      [t("rep.costReplacement"), vnd(cost.replacement) + ((cost.replace_assets || []).length ? ` (${cost.replace_assets.length})` : "")],
      [h("strong", {}, t("rep.costTotal")), h("strong", {}, vnd(cost.total))],
    ], { id: "report-cost" }),
  ];
}
