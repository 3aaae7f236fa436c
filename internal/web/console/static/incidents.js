// The incidents board: every open incident with the time left to its 24-hour
// deadline (R-OPS-1), ticking; report, acknowledge, resolve, close.
import { h, clear, toast } from "./dom.js";
import { t, fmtDate } from "./i18n.js";
import { get, post } from "./api.js";
import { state } from "./state.js";
import { formDialog } from "./forms.js";
import { describe } from "./login.js";

const CATEGORIES = ["camera_offline", "no_frames", "recording_stopped", "link_down", "storage", "camera_damaged", "image_quality", "power", "network", "security", "other"];

export function left(deadline, now = Date.now()) {
  const ms = Date.parse(deadline) - now;
  const a = Math.abs(ms), hh = Math.floor(a / 3600000), mm = Math.floor((a % 3600000) / 60000);
  const txt = `${hh} h ${String(mm).padStart(2, "0")} min`;
  return { ms, text: ms >= 0 ? t("inc.left", txt) : t("inc.overdueBy", txt) };
}

export function incidentsView(main) {
  let filter = "active";
  const board = h("div", { id: "incident-board" });
  const sel = h("select", { id: "inc-state", "aria-label": t("inc.state") }, ["active", "open", "acknowledged", "resolved", "closed", ""].map((v) =>
    h("option", { value: v }, v ? t("inc.st." + v) : t("audit.any"))));
  const overdueOnly = h("input", { type: "checkbox", id: "inc-overdue" });
  const load = async () => {
    try {
      const q = new URLSearchParams();
      if (filter) q.set("state", filter);
      if (overdueOnly.checked) q.set("overdue", "true");
      const list = await get("/incidents?" + q.toString());
      draw(list);
    } catch (e) { clear(board).append(h("p", { class: "error" }, describe(e))); }
  };
  const act = async (i, action) => {
    let note = "";
    if (action === "resolve") {
      const r = await formDialog({ id: "resolve-form", title: t("inc.resolve"), fields: [{ name: "note", label: t("inc.resolution"), type: "textarea", required: true }], submit: async (v) => v });
      if (!r) return;
      note = r.note;
    }
    try { await post(`/incidents/${encodeURIComponent(i.id)}/${action}`, note ? { note } : {}); toast(t("common.saved")); load(); } catch (e) { toast(describe(e), "error"); }
  };
  const rows = [];
  const draw = (list) => {
    clear(board);
    rows.length = 0;
    list.sort((a, b) => Date.parse(a.deadline_at) - Date.parse(b.deadline_at));
    const tbody = h("tbody", {});
    for (const i of list) {
      const timeCell = h("td", { class: "inc-left" });
      const open = !["resolved", "closed"].includes(i.state);
      const cam = i.camera_id && state.cameras.find((c) => c.id === i.camera_id);
      tbody.append(h("tr", { dataset: { id: i.id, state: i.state, level: i.escalation_level } },
        h("td", {}, h("strong", {}, i.title), i.description ? h("div", { class: "muted small" }, i.description) : null),
        h("td", {}, t("inc.cat." + i.category)),
        h("td", {}, cam ? cam.name : i.camera_id || i.system_id || i.object || ""),
        h("td", {}, (state.orgs.get(i.assigned_org_id) || { name: i.assigned_org_id }).name),
        h("td", {}, t("inc.st." + i.state)),
        h("td", { class: "nowrap" }, fmtDate(i.detected_at)),
        timeCell,
        h("td", {}, h("span", { class: "row-actions" },
          i.state === "open" ? h("button", { type: "button", onclick: () => act(i, "acknowledge") }, t("inc.ack")) : null,
          open ? h("button", { type: "button", onclick: () => act(i, "resolve") }, t("inc.resolve")) : null,
          i.state === "resolved" ? h("button", { type: "button", onclick: () => act(i, "close") }, t("inc.close")) : null,
          i.state === "resolved" || i.state === "closed" ? h("button", { type: "button", onclick: () => act(i, "reopen") }, t("inc.reopen")) : null))));
      rows.push({ i, timeCell, open });
    }
    board.append(h("div", { class: "table-wrap" }, h("table", { class: "data", id: "incident-table" },
      h("caption", {}, t("inc.caption", list.length)),
      h("thead", {}, h("tr", {}, [t("inc.title"), t("inc.category"), t("inc.object"), t("inc.assigned"), t("inc.state"), t("inc.detected"), t("inc.deadline"), t("common.actions")].map((c) => h("th", { scope: "col" }, c)))),
      list.length ? tbody : h("tbody", {}, h("tr", {}, h("td", { colspan: 8, class: "muted" }, t("table.empty")))))));
    tickLeft();
  };
  const tickLeft = () => {
    const now = Date.now();
    for (const r of rows) {
      if (!r.open) { r.timeCell.textContent = r.i.resolved_at ? t("inc.resolvedAt", fmtDate(r.i.resolved_at)) : ""; continue; }
      const l = left(r.i.deadline_at, now);
      r.timeCell.textContent = l.text;
      r.timeCell.className = "inc-left " + (l.ms < 0 ? "overdue" : l.ms < 4 * 3600000 ? "soon" : "");
      r.timeCell.title = fmtDate(r.i.deadline_at);
    }
  };
  const report = async (values = {}) => {
    const r = await formDialog({ id: "incident-form", title: t("inc.report"), values, fields: [
      { name: "category", label: t("inc.category"), type: "select", options: CATEGORIES.map((c) => ({ value: c, label: t("inc.cat." + c) })) },
      { name: "camera_id", label: t("cam.name"), type: "select", options: [{ value: "", label: "—" }, ...state.cameras.map((c) => ({ value: c.id, label: c.name }))] },
      { name: "title", label: t("inc.title"), required: true },
      { name: "description", label: t("inc.description"), type: "textarea" },
    ], submit: (v) => { if (!v.camera_id) delete v.camera_id; return post("/incidents", v); } });
    if (r) { toast(t("common.saved")); load(); }
  };
  sel.value = filter;
  sel.addEventListener("change", () => { filter = sel.value; load(); });
  overdueOnly.addEventListener("change", load);
  main.append(h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, t("inc.board")), sel,
    h("label", { class: "inline" }, overdueOnly, t("inc.overdueOnly")),
    h("button", { type: "button", class: "primary", id: "incident-report", onclick: () => report() }, t("inc.report"))), board);
  load();
  // "Report an incident" from the camera tree's menu.
  if (state.pendingReport) { const id = state.pendingReport; state.pendingReport = ""; report({ camera_id: id }); }
  const tickTimer = setInterval(tickLeft, 30000);
  const loadTimer = setInterval(load, 60000);
  return { el: main, dispose() { clearInterval(tickTimer); clearInterval(loadTimer); } };
}
