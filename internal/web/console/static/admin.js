// Administration, by permission: cameras (with CSV import), organisations,
// systems, users, committee approvals and grants, account review (and, from
// ops.js, review campaigns, maintenance and installations). A section
// the user may not use is not offered; the server refuses it anyway.
import { h, clear, toast } from "./dom.js";
import { t, fmtDate } from "./i18n.js";
import { get, post, put, del, api, getAll } from "./api.js";
import { state, can, highest, managedSystems, loadInventory } from "./state.js";
import { formDialog, table, section, sha256Hex } from "./forms.js";
import { opsSections } from "./ops.js";
import { fedSections } from "./federation.js";
import { PURPOSES, KINDS, AREAS, ORG_KINDS, ROLES, ACTIONS, opts, names, label } from "./enums.js";
import { describe } from "./login.js";
import { statusOf } from "./tree.js";

export function adminSections() {
  const out = [];
  if (can("manage-registry") || managedSystems().length) out.push({ id: "cameras", label: "admin.cameras", view: camerasView });
  if (can("manage-registry")) {
    out.push({ id: "organisations", label: "admin.orgs", view: orgsView });
    out.push({ id: "systems", label: "admin.systems", view: systemsView });
  }
  if (can("manage-users")) out.push({ id: "users", label: "admin.users", view: usersView });
  if (can("approve-grants")) out.push({ id: "grants", label: "admin.grants", view: grantsView });
  if (can("manage-users") && highest()) out.push({ id: "review", label: "admin.review", view: reviewView });
  out.push(...opsSections());
  out.push(...fedSections());
  return out;
}

export function adminView(main, which, sub = []) {
  const secs = adminSections();
  if (!secs.length) { main.append(h("p", { class: "error" }, t("err.forbidden"))); return null; }
  const sec = secs.find((s) => s.id === which) || secs[0];
  const tabs = h("nav", { class: "tabs", "aria-label": t("nav.admin") }, secs.map((s) =>
    h("a", { href: "#/admin/" + s.id, id: "tab-" + s.id, "aria-current": s.id === sec.id ? "page" : false }, t(s.label))));
  const body = h("div", { class: "admin-body" });
  main.append(tabs, body);
  const run = () => sec.view(body, run, sub).catch((e) => { body.append(h("p", { class: "error", role: "alert" }, describe(e))); });
  run();
  return { el: main };
}

const orgName = (id) => (state.orgs.get(id) || { name: id || "" }).name;
const sysName = (id) => (state.systems.get(id) || { name: id || "" }).name;
const btn = (text, onclick, attrs = {}) => h("button", { type: "button", onclick, ...attrs }, text);
const yes = (b) => (b ? t("common.yes") : "");

// ---- cameras ---------------------------------------------------------------

function cameraFields(isNew) {
  const sys = managedSystems().map((s) => ({ value: s.id, label: s.name }));
  return [
    { name: "id", label: t("cam.id"), readonly: !isNew, help: isNew ? t("cam.idHelp") : null },
    { name: "system_id", label: t("cam.system"), type: "select", options: sys, required: true },
    { name: "name", label: t("cam.name"), required: true },
    { name: "kinds", label: t("cam.kinds"), type: "checks", options: opts(KINDS, "kind") },
    { name: "purposes", label: t("cam.purposes"), type: "checks", options: opts(PURPOSES, "purpose") },
    { name: "area", label: t("cam.area"), type: "select", options: opts(AREAS, "area"), required: true },
    { name: "lat", label: t("cam.lat"), type: "number", step: "any", required: true },
    { name: "lon", label: t("cam.lon"), type: "number", step: "any", required: true },
    { name: "admin_unit", label: t("cam.adminUnit") },
    { name: "address", label: t("cam.address") },
    { name: "classified", label: t("cam.classified"), type: "bool" },
    { name: "public", label: t("cam.public"), type: "bool", help: t("cam.publicHelp") },
    { name: "main_url", label: t("cam.mainURL"), help: t("cam.urlHelp") },
    { name: "sub_url", label: t("cam.subURL") },
    { name: "username", label: t("cam.username") },
    { name: "password", label: t("cam.password"), type: "password", autocomplete: "new-password", help: isNew ? null : t("cam.keepCreds") },
    { name: "transport", label: t("cam.transport"), type: "select", options: [{ value: "", label: t("cam.transportAuto") }, { value: "tcp", label: "TCP" }, { value: "udp", label: "UDP" }] },
    { name: "on_demand", label: t("cam.onDemand"), type: "bool" },
    { name: "push", label: t("cam.push"), type: "bool" },
  ];
}

function cameraBody(v) {
  const b = { ...v };
  for (const k of ["id", "admin_unit", "address", "main_url", "sub_url", "username", "password", "transport"]) if (!b[k]) delete b[k];
  return b;
}

async function camerasView(body, rerun) {
  const mine = new Set(managedSystems().map((s) => s.id));
  const cams = state.cameras.filter((c) => mine.has(c.system_id));
  const create = () => formDialog({
    id: "camera-form", title: t("cam.create"), fields: cameraFields(true), values: { area: "road" },
    submit: async (v) => {
      const c = await post("/cameras", cameraBody(v));
      toast(t("cam.created", c.name));
      await loadInventory();
      return c;
    },
  }).then((c) => c && rerun());
  const edit = async (c) => {
    const d = await get(`/cameras/${encodeURIComponent(c.id)}/decision?action=manage`);
    if (!d.allow) { toast(t("err.forbidden"), "error"); return; }
    const full = await get(`/cameras/${encodeURIComponent(c.id)}`);
    const r = await formDialog({
      id: "camera-form", title: t("cam.edit", full.name), fields: cameraFields(false), values: full,
      submit: (v) => put(`/cameras/${encodeURIComponent(c.id)}?version=${full.version}`, cameraBody(v)),
    });
    if (r) { toast(t("common.saved")); await loadInventory(); rerun(); }
  };
  const remove = async (c) => {
    if (!confirm(t("cam.confirmDelete", c.name))) return;
    try { await del(`/cameras/${encodeURIComponent(c.id)}`); toast(t("common.deleted")); await loadInventory(); rerun(); } catch (e) { toast(describe(e), "error"); }
  };
  section(body, t("admin.cameras"),
    btn(t("cam.create"), create, { id: "camera-create", class: "primary" }),
    btn(t("cam.import"), () => importDialog(rerun), { id: "camera-import" }));
  body.append(table(t("cam.tableCaption", cams.length), [
    { label: t("cam.name"), get: (c) => c.name },
    { label: t("cam.id"), get: (c) => h("code", {}, c.id) },
    { label: t("cam.system"), get: (c) => sysName(c.system_id) },
    { label: t("cam.area"), get: (c) => label("area", c.area) },
    { label: t("cam.adminUnit"), get: (c) => c.admin_unit },
    { label: t("cam.status"), get: (c) => h("span", {}, h("span", { class: "dot " + statusOf(c.id), "aria-hidden": "true" }), " ", t("status." + statusOf(c.id))) },
    { label: t("cam.flags"), get: (c) => [c.classified ? t("cam.classifiedShort") : "", c.public ? t("cam.publicShort") : ""].filter(Boolean).join(" · ") },
    { label: t("common.actions"), get: (c) => h("span", { class: "row-actions" }, btn(t("common.edit"), () => edit(c), { "aria-label": t("common.edit") + " " + c.name }),
      btn(t("common.delete"), () => remove(c), { class: "danger", "aria-label": t("common.delete") + " " + c.name })) },
  ], cams.sort((a, b) => a.name.localeCompare(b.name, "vi")), { id: "camera-table", rowData: (c) => ({ camera: c.id }) }));
}

async function importDialog(rerun) {
  const template = "id,system_id,name,kinds,purposes,area,lat,lon,admin_unit,address,classified,public,main_url,sub_url,username,password,transport,on_demand,push\n";
  const link = h("a", { href: URL.createObjectURL(new Blob([template], { type: "text/csv" })), download: "cameras-template.csv" }, t("cam.template"));
  const r = await formDialog({
    id: "import-form", title: t("cam.import"), submitLabel: t("cam.importGo"),
    fields: [{ name: "file", label: t("cam.csvFile"), type: "file", accept: ".csv,text/csv", required: true, help: t("cam.csvHelp") }],
    submit: async (v) => {
      const text = await v.file.text();
      return api("POST", "/cameras/import", text, { contentType: "text/csv" });
    },
  });
  link.remove();
  if (r) { toast(t("cam.imported", r.created)); await loadInventory(); rerun(); }
}

// ---- organisations and systems ---------------------------------------------

async function orgsView(body, rerun) {
  const orgs = await getAll("/organisations");
  const fields = (isNew) => [
    { name: "id", label: t("org.id"), readonly: !isNew, required: true },
    { name: "name", label: t("org.name"), required: true },
    { name: "kind", label: t("org.kind"), type: "select", options: opts(ORG_KINDS, "orgKind") },
    { name: "parent_id", label: t("org.parent"), type: "select", options: [{ value: "", label: "—" }, ...orgs.map((o) => ({ value: o.id, label: o.name }))] },
    { name: "functions", label: t("org.functions"), type: "checks", options: opts(PURPOSES, "purpose") },
    { name: "area_limit", label: t("org.areaLimit"), type: "checks", options: opts(AREAS, "area") },
    { name: "cleared_classified", label: t("org.cleared"), type: "bool" },
  ];
  const open = async (o) => {
    const r = await formDialog({ id: "org-form", title: o ? t("org.edit", o.name) : t("org.create"), fields: fields(!o), values: o || { kind: "user_agency" },
      submit: (v) => (o ? put(`/organisations/${encodeURIComponent(o.id)}`, { ...v, version: o.version }) : post("/organisations", v)) });
    if (r) { toast(t("common.saved")); await loadInventory(); rerun(); }
  };
  section(body, t("admin.orgs"), btn(t("org.create"), () => open(null), { class: "primary", id: "org-create" }));
  body.append(table(t("org.caption", orgs.length), [
    { label: t("org.name"), get: (o) => o.name },
    { label: t("org.id"), get: (o) => h("code", {}, o.id) },
    { label: t("org.kind"), get: (o) => label("orgKind", o.kind) },
    { label: t("org.functions"), get: (o) => (o.functions || []).map((f) => label("purpose", f)).join(", ") },
    { label: t("org.cleared"), get: (o) => yes(o.cleared_classified) },
    { label: t("common.actions"), get: (o) => btn(t("common.edit"), () => open(o), { "aria-label": t("common.edit") + " " + o.name }) },
  ], orgs));
}

async function systemsView(body, rerun) {
  const systems = await getAll("/systems");
  const orgOpts = [...state.orgs.values()].map((o) => ({ value: o.id, label: o.name }));
  const fields = (isNew) => [
    { name: "id", label: t("sys.id"), readonly: !isNew, required: true },
    { name: "name", label: t("sys.name"), required: true },
    { name: "tier", label: t("sys.tier"), type: "select", options: [1, 2, 3].map((n) => ({ value: String(n), label: t("tier." + n) })) },
    { name: "managing_org_id", label: t("sys.managing"), type: "select", options: orgOpts },
    { name: "operating_org_id", label: t("sys.operating"), type: "select", options: orgOpts },
    { name: "public_sharing", label: t("sys.publicSharing"), type: "bool" },
  ];
  const open = async (s) => {
    const vals = s ? { ...s, tier: String(s.tier) } : { tier: "3" };
    const r = await formDialog({ id: "system-form", title: s ? t("sys.edit", s.name) : t("sys.create"), fields: fields(!s), values: vals,
      submit: (v) => { v.tier = Number(v.tier); return s ? put(`/systems/${encodeURIComponent(s.id)}`, { ...v, version: s.version }) : post("/systems", v); } });
    if (r) { toast(t("common.saved")); await loadInventory(); rerun(); }
  };
  section(body, t("admin.systems"), btn(t("sys.create"), () => open(null), { class: "primary", id: "system-create" }));
  body.append(table(t("sys.caption", systems.length), [
    { label: t("sys.name"), get: (s) => s.name },
    { label: t("sys.tier"), get: (s) => t("tier." + s.tier) },
    { label: t("sys.managing"), get: (s) => orgName(s.managing_org_id) },
    { label: t("sys.operating"), get: (s) => orgName(s.operating_org_id) },
    { label: t("sys.publicSharing"), get: (s) => yes(s.public_sharing) },
    { label: t("common.actions"), get: (s) => btn(t("common.edit"), () => open(s), { "aria-label": t("common.edit") + " " + s.name }) },
  ], systems));
}

// ---- users -----------------------------------------------------------------

async function usersView(body, rerun) {
  const users = await get("/users?include_disabled=true");
  const orgOpts = highest() ? [...state.orgs.values()].map((o) => ({ value: o.id, label: o.name }))
    : [{ value: state.me.user.org_id, label: orgName(state.me.user.org_id) }];
  const create = async () => {
    const r = await formDialog({ id: "user-form", title: t("user.create"), fields: [
      { name: "username", label: t("user.username"), required: true },
      { name: "display_name", label: t("user.display") },
      { name: "org_id", label: t("user.org"), type: "select", options: orgOpts },
      { name: "roles", label: t("user.roles"), type: "checks", options: opts(ROLES, "role") },
      { name: "initial_password", label: t("user.initialPassword"), type: "password", required: true, autocomplete: "new-password", help: t("pw.rules") },
    ], values: { roles: ["viewer"] }, submit: (v) => post("/users", v) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const act = async (fn) => { try { await fn(); toast(t("common.saved")); rerun(); } catch (e) { toast(describe(e), "error"); } };
  const reset = async (u) => {
    const r = await formDialog({ id: "reset-form", title: t("user.reset", u.username), fields: [
      { name: "password", label: t("user.initialPassword"), type: "password", required: true, autocomplete: "new-password", help: t("pw.rules") }],
    submit: async (v) => { await post(`/users/${u.id}/password`, v); return true; } });
    if (r) toast(t("user.resetDone"));
  };
  const roles = async (u) => {
    const r = await formDialog({ id: "roles-form", title: t("user.setRoles", u.username), fields: [
      { name: "roles", label: t("user.roles"), type: "checks", options: opts(ROLES, "role") }], values: u,
    submit: (v) => put(`/users/${u.id}/roles`, v) });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  section(body, t("admin.users"), btn(t("user.create"), create, { class: "primary", id: "user-create" }));
  body.append(table(t("user.caption", users.length), [
    { label: t("user.username"), get: (u) => u.username },
    { label: t("user.display"), get: (u) => u.display_name },
    { label: t("user.org"), get: (u) => orgName(u.org_id) },
    { label: t("user.roles"), get: (u) => u.roles.map((r) => label("role", r)).join(", ") },
    { label: t("user.lastLogin"), get: (u) => fmtDate(u.last_login_at) },
    { label: t("user.state"), get: (u) => (u.disabled ? t("user.disabled") : u.must_change_password ? t("user.mustChange") : t("user.active")) + (u.totp_enabled ? " · TOTP" : "") },
    { label: t("common.actions"), get: (u) => h("span", { class: "row-actions" },
      u.disabled ? btn(t("user.enable"), () => act(() => post(`/users/${u.id}/enable`))) : btn(t("user.disable"), () => { if (confirm(t("user.confirmDisable", u.username))) act(() => post(`/users/${u.id}/disable`)); }, { class: "danger" }),
      btn(t("user.setRolesShort"), () => roles(u)), btn(t("user.resetShort"), () => reset(u))) },
  ], users));
}

// ---- approvals and grants --------------------------------------------------

async function grantsView(body, rerun) {
  const [approvals, grants] = await Promise.all([get("/approvals"), get("/grants?include_revoked=true")]);
  const orgOpts = [...state.orgs.values()].map((o) => ({ value: o.id, label: o.name }));
  const newApproval = async () => {
    const r = await formDialog({ id: "approval-form", title: t("grant.newApproval"), fields: [
      { name: "org_id", label: t("grant.org"), type: "select", options: orgOpts },
      { name: "decision_no", label: t("grant.decisionNo"), required: true },
      { name: "decision_date", label: t("grant.decisionDate"), type: "datetime", required: true },
      { name: "signer", label: t("grant.signer"), required: true },
      { name: "scope", label: t("grant.scope"), type: "textarea", required: true },
      { name: "expires_at", label: t("grant.expires"), type: "datetime", required: true },
      { name: "doc", label: t("grant.doc"), type: "file", required: true, help: t("grant.docHelp") },
    ], submit: async (v) => {
      const doc_sha256 = await sha256Hex(v.doc);
      delete v.doc;
      return post("/approvals", { ...v, doc_sha256 });
    } });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const newGrant = async () => {
    const r = await formDialog({ id: "grant-form", title: t("grant.newGrant"), fields: [
      { name: "org_id", label: t("grant.org"), type: "select", options: orgOpts },
      { name: "actions", label: t("grant.actions"), type: "checks", options: opts(ACTIONS, "action") },
      { name: "system_id", label: t("grant.system"), type: "select", options: [{ value: "", label: t("grant.any") }, ...[...state.systems.values()].map((s) => ({ value: s.id, label: s.name }))] },
      { name: "camera_id", label: t("grant.camera"), help: t("grant.cameraHelp") },
      { name: "purposes", label: t("cam.purposes"), type: "checks", options: opts(PURPOSES, "purpose") },
      { name: "kinds", label: t("cam.kinds"), type: "checks", options: opts(KINDS, "kind") },
      { name: "areas", label: t("org.areaLimit"), type: "checks", options: opts(AREAS, "area") },
      { name: "expires_at", label: t("grant.expires"), type: "datetime" },
      { name: "approval_id", label: t("grant.approval"), type: "select", options: [{ value: "", label: t("grant.noApproval") }, ...approvals.map((a) => ({ value: a.id, label: `${a.decision_no} – ${orgName(a.org_id)}` }))], help: t("grant.approvalHelp") },
      { name: "note", label: t("grant.note"), type: "textarea", rows: 2 },
    ], values: { actions: ["view-live"] }, submit: (v) => {
      for (const k of ["system_id", "camera_id", "approval_id", "note", "expires_at"]) if (!v[k]) delete v[k];
      return post("/grants", v);
    } });
    if (r) { toast(t("common.saved")); rerun(); }
  };
  const revoke = async (g) => {
    const reason = prompt(t("grant.revokeReason"));
    if (reason === null) return;
    try { await del(`/grants/${g.id}?reason=${encodeURIComponent(reason)}`); toast(t("grant.revoked")); rerun(); } catch (e) { toast(describe(e), "error"); }
  };
  const now = Date.now();
  section(body, t("admin.grants"), btn(t("grant.newApproval"), newApproval, { id: "approval-create" }), btn(t("grant.newGrant"), newGrant, { class: "primary", id: "grant-create" }));
  body.append(
    table(t("grant.approvalsCaption", approvals.length), [
      { label: t("grant.decisionNo"), get: (a) => a.decision_no },
      { label: t("grant.org"), get: (a) => orgName(a.org_id) },
      { label: t("grant.decisionDate"), get: (a) => fmtDate(a.decision_date, true) },
      { label: t("grant.signer"), get: (a) => a.signer },
      { label: t("grant.scope"), get: (a) => a.scope },
      { label: t("grant.expires"), get: (a) => h("span", { class: Date.parse(a.expires_at) < now ? "expired" : "" }, fmtDate(a.expires_at, true)) },
      { label: "SHA-256", get: (a) => h("code", { class: "hash", title: a.doc_sha256 }, a.doc_sha256.slice(0, 12) + "…") },
    ], approvals),
    table(t("grant.grantsCaption", grants.length), [
      { label: t("grant.org"), get: (g) => orgName(g.org_id) },
      { label: t("grant.actions"), get: (g) => (g.actions || []).map((a) => label("action", a)).join(", ") },
      { label: t("grant.scopeCol"), get: (g) => [g.system_id && sysName(g.system_id), g.camera_id, ...names(PURPOSES, g.purposes).map((p) => label("purpose", p)),
        ...names(KINDS, g.kinds).map((k) => label("kind", k)), ...names(AREAS, g.areas).map((a) => label("area", a))].filter(Boolean).join(", ") || t("grant.any") },
      { label: t("grant.approval"), get: (g) => (g.approval && g.approval.decision_no) || "" },
      { label: t("grant.expires"), get: (g) => fmtDate(g.expires_at) },
      { label: t("grant.state"), get: (g) => (g.revoked_at ? t("grant.stateRevoked") : g.expires_at && Date.parse(g.expires_at) < now ? t("grant.stateExpired") : t("grant.stateActive")) },
      { label: t("common.actions"), get: (g) => (g.revoked_at ? "" : btn(t("grant.revoke"), () => revoke(g), { class: "danger" })) },
    ], grants));
}

// ---- account review --------------------------------------------------------

async function reviewView(body, rerun) {
  const days = Number(sessionStorage.getItem("vigil.review.days") || 90);
  const r = await get(`/users/review?inactive_days=${days}`);
  const input = h("input", { type: "number", id: "review-days", min: 1, max: 3650, value: days, "aria-label": t("review.days") });
  input.addEventListener("change", () => { sessionStorage.setItem("vigil.review.days", input.value); rerun(); });
  const disable = async (u) => {
    if (!confirm(t("user.confirmDisable", u.username))) return;
    try { await post(`/users/${u.id}/disable`); toast(t("common.saved")); rerun(); } catch (e) { toast(describe(e), "error"); }
  };
  const cols = [
    { label: t("user.username"), get: (u) => u.username },
    { label: t("user.org"), get: (u) => orgName(u.org_id) },
    { label: t("user.roles"), get: (u) => u.roles.map((x) => label("role", x)).join(", ") },
    { label: t("user.lastLogin"), get: (u) => fmtDate(u.last_login_at) || t("review.never") },
    { label: t("review.pwChanged"), get: (u) => fmtDate(u.password_changed_at) },
    { label: t("common.actions"), get: (u) => (u.disabled ? t("user.disabled") : btn(t("user.disable"), () => disable(u), { class: "danger" })) },
  ];
  section(body, t("admin.review"), h("label", { class: "inline" }, t("review.days"), " ", input));
  body.append(h("p", { class: "muted" }, t("review.help")),
    table(t("review.inactive", r.inactive.length, days), cols, r.inactive),
    table(t("review.expired", r.admin_password_expired.length), cols, r.admin_password_expired));
}
