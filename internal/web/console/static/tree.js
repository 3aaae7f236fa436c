// The camera tree: tier → system → camera, or administrative unit → camera,
// with each camera's live status and a search that ignores diacritics (the
// server folds the query; the page folds too so typing stays instant).
import { h, clear, fold, debounce } from "./dom.js";
import { t } from "./i18n.js";
import { get } from "./api.js";
import { state, onChange, statusOf } from "./state.js";

let grouping = localStorage.getItem("vigil.tree.group") || "tier";
let query = "";
let serverHits = null; // ids the server matched for query, when it answered

export { statusOf };

export function cameraTree({ onPick }) {
  const list = h("div", { class: "tree", id: "camera-tree" });
  const count = h("p", { class: "muted small", id: "tree-count", "aria-live": "polite" });
  const search = h("input", { type: "search", id: "camera-search", placeholder: t("tree.search"), "aria-label": t("tree.search"), value: query, autocomplete: "off" });
  const askServer = debounce(async (q) => {
    if (!q) { serverHits = null; draw(); return; }
    try {
      const page = await get("/cameras?limit=500&q=" + encodeURIComponent(q));
      if (q === query) { serverHits = new Set(page.items.map((c) => c.id)); draw(); }
    } catch (_) { /* keep the local filter */ }
  }, 250);
  search.addEventListener("input", () => { query = search.value.trim(); serverHits = null; draw(); askServer(query); });
  const groupSel = h("select", { id: "tree-group", "aria-label": t("tree.groupBy") },
    h("option", { value: "tier" }, t("tree.byTier")), h("option", { value: "unit" }, t("tree.byUnit")));
  groupSel.value = grouping;
  groupSel.addEventListener("change", () => { grouping = groupSel.value; localStorage.setItem("vigil.tree.group", grouping); draw(); });

  const matches = (c) => {
    if (!query) return true;
    if (serverHits) return serverHits.has(c.id);
    const q = fold(query);
    return fold(`${c.name} ${c.id} ${c.address} ${c.admin_unit}`).includes(q);
  };

  const camItem = (c) => {
    const st = statusOf(c.id);
    const b = h("button", {
      type: "button", class: "cam", draggable: "true", dataset: { camera: c.id, status: st },
      title: `${c.name} — ${c.address || ""}`, "aria-label": `${c.name}, ${t("status." + st)}`,
      onclick: () => onPick && onPick(c.id),
      ondragstart: (ev) => { ev.dataTransfer.setData("application/x-vigil-camera", c.id); ev.dataTransfer.setData("text/plain", c.id); ev.dataTransfer.effectAllowed = "copy"; },
    }, h("span", { class: "dot " + st, "aria-hidden": "true" }), h("span", { class: "name" }, c.name),
      c.classified ? h("span", { class: "badge secret", title: t("cam.classified") }, t("cam.classifiedShort")) : null,
      c.public ? h("span", { class: "badge pub", title: t("cam.public") }, t("cam.publicShort")) : null);
    return h("li", {}, b);
  };

  const group = (key, label, children, n, online) => {
    const open = localStorage.getItem("vigil.tree.closed." + key) !== "1" || !!query;
    const d = h("details", { open, dataset: { group: key } },
      h("summary", {}, h("span", { class: "gname" }, label), h("span", { class: "gcount", "aria-label": t("tree.onlineOf", online, n) }, `${online}/${n}`)),
      children);
    d.addEventListener("toggle", () => localStorage.setItem("vigil.tree.closed." + key, d.open ? "0" : "1"));
    return d;
  };

  const draw = () => {
    const cams = state.cameras.filter(matches).sort((a, b) => a.name.localeCompare(b.name, "vi"));
    const online = (cs) => cs.filter((c) => statusOf(c.id) === "online").length;
    clear(list);
    if (grouping === "unit") {
      const by = new Map();
      for (const c of cams) { const u = c.admin_unit || t("tree.noUnit"); if (!by.has(u)) by.set(u, []); by.get(u).push(c); }
      for (const [u, cs] of [...by.entries()].sort((a, b) => a[0].localeCompare(b[0], "vi"))) {
        list.append(group("unit:" + u, u, h("ul", {}, cs.map(camItem)), cs.length, online(cs)));
      }
    } else {
      const tiers = new Map();
      for (const c of cams) {
        const sys = state.systems.get(c.system_id) || { id: c.system_id, name: c.system_id, tier: 0 };
        if (!tiers.has(sys.tier)) tiers.set(sys.tier, new Map());
        const m = tiers.get(sys.tier);
        if (!m.has(sys.id)) m.set(sys.id, { sys, cams: [] });
        m.get(sys.id).cams.push(c);
      }
      for (const tier of [...tiers.keys()].sort()) {
        const syss = [...tiers.get(tier).values()].sort((a, b) => a.sys.name.localeCompare(b.sys.name, "vi"));
        const all = syss.flatMap((x) => x.cams);
        list.append(group("tier:" + tier, t("tier." + tier), syss.map((x) =>
          group("sys:" + x.sys.id, x.sys.name, h("ul", {}, x.cams.map(camItem)), x.cams.length, online(x.cams))), all.length, online(all)));
      }
    }
    if (!cams.length) list.append(h("p", { class: "muted" }, query ? t("tree.noMatch") : t("tree.empty")));
    count.textContent = t("tree.count", cams.length, state.cameras.length);
  };
  draw();
  const off = onChange(draw);
  const el = h("div", { class: "tree-wrap" },
    h("h2", { class: "side-title" }, t("tree.title")),
    h("div", { class: "tree-tools" }, search, groupSel), count, list);
  // Detach the listener once the tree leaves the page.
  const mo = new MutationObserver(() => { if (!el.isConnected) { off(); mo.disconnect(); } });
  queueMicrotask(() => el.parentNode && mo.observe(document.body, { childList: true, subtree: true }));
  return el;
}
