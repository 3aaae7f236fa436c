// The camera tree: tier → system → camera, administrative unit → camera, or
// the user's favourites, with each camera's live status and icons (PTZ or
// fixed, being recorded, classified, public), names on one line, a search
// that ignores diacritics (the server folds the query; the page folds too
// so typing stays instant), saved views, a hover thumbnail and a context
// menu. Long lists are virtualised: only the rows in sight are in the page.
import { h, clear, fold, debounce, toast } from "./dom.js";
import { t } from "./i18n.js";
import { get } from "./api.js";
import { state, onChange, statusOf, userKey } from "./state.js";
import { icon } from "./icons.js";

export { statusOf };

let grouping = localStorage.getItem("vigil.tree.group") || "tier";
let query = "";
let serverHits = null; // ids the server matched for query, when it answered

const ROW = 28;           // px, one row (CSS .tree .row)
const VIRTUAL_FROM = 300; // rows; below this every row is in the page

function storeKey(k) { return `vigil.${k}.${userKey()}`; }
function loadJSON(k, dflt) { try { return JSON.parse(localStorage.getItem(storeKey(k))) || dflt; } catch (_) { return dflt; } }
function saveJSON(k, v) { localStorage.setItem(storeKey(k), JSON.stringify(v)); }

export function favourites() { return new Set(loadJSON("favourites", [])); }
export function toggleFavourite(id) {
  const f = favourites();
  if (f.has(id)) f.delete(id); else f.add(id);
  saveJSON("favourites", [...f]);
  return f.has(id);
}
const flagsOf = (id) => (state.flags && state.flags.get(id)) || "";

export function cameraTree({ onPick }) {
  const list = h("div", { class: "tree", id: "camera-tree", role: "tree", "aria-label": t("tree.label") });
  const spacer = h("div", { class: "tree-spacer" });
  const rowsEl = h("div", { class: "tree-rows" });
  list.append(spacer, rowsEl);
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
    h("option", { value: "tier" }, t("tree.byTier")), h("option", { value: "unit" }, t("tree.byUnit")), h("option", { value: "fav" }, t("tree.byFav")));
  groupSel.value = grouping;
  groupSel.addEventListener("change", () => { grouping = groupSel.value; localStorage.setItem("vigil.tree.group", grouping); draw(); });

  // Saved views: a name for a grouping and a search.
  const viewSel = h("select", { id: "tree-views", "aria-label": t("tree.views") });
  const fillViews = () => {
    clear(viewSel).append(h("option", { value: "" }, t("tree.views")));
    Object.keys(loadJSON("treeviews", {})).sort().forEach((n) => viewSel.append(h("option", { value: n }, n)));
  };
  fillViews();
  viewSel.addEventListener("change", () => {
    const v = loadJSON("treeviews", {})[viewSel.value];
    if (!v) return;
    grouping = v.grouping; groupSel.value = grouping; query = v.query || ""; search.value = query;
    serverHits = null; draw(); askServer(query);
  });
  const saveView = h("button", { type: "button", id: "tree-view-save", title: t("tree.saveView"), "aria-label": t("tree.saveView"), onclick: () => {
    const name = (prompt(t("tree.viewName")) || "").trim();
    if (!name) return;
    const all = loadJSON("treeviews", {}); all[name] = { grouping, query }; saveJSON("treeviews", all);
    fillViews(); viewSel.value = name; toast(t("tree.viewSaved", name));
  } }, "+");

  const matches = (c) => {
    if (!query) return true;
    if (serverHits) return serverHits.has(c.id);
    const q = fold(query);
    return fold(`${c.name} ${c.id} ${c.address} ${c.admin_unit}`).includes(q);
  };
  const isOpen = (key) => localStorage.getItem("vigil.tree.closed." + key) !== "1" || !!query;

  // rows flattens the tree into what is drawn: group headers and cameras.
  const rows = () => {
    const cams = state.cameras.filter(matches).sort((a, b) => a.name.localeCompare(b.name, "vi"));
    const online = (cs) => cs.filter((c) => statusOf(c.id) === "online").length;
    const out = [];
    const group = (key, label, depth, cs, children) => {
      const open = isOpen(key);
      out.push({ group: key, label, depth, n: cs.length, online: online(cs), open });
      if (open) children();
    };
    const camsAt = (cs, depth) => cs.forEach((c) => out.push({ cam: c, depth }));
    if (grouping === "unit") {
      const by = new Map();
      for (const c of cams) { const u = c.admin_unit || t("tree.noUnit"); if (!by.has(u)) by.set(u, []); by.get(u).push(c); }
      for (const [u, cs] of [...by.entries()].sort((a, b) => a[0].localeCompare(b[0], "vi"))) group("unit:" + u, u, 0, cs, () => camsAt(cs, 1));
    } else if (grouping === "fav") {
      const fav = favourites();
      const cs = cams.filter((c) => fav.has(c.id));
      group("fav", t("tree.favourites"), 0, cs, () => camsAt(cs, 1));
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
        group("tier:" + tier, t("tier." + tier), 0, syss.flatMap((x) => x.cams), () =>
          syss.forEach((x) => group("sys:" + x.sys.id, x.sys.name, 1, x.cams, () => camsAt(x.cams, 2))));
      }
    }
    return { out, shown: cams.length };
  };

  const camRow = (r) => {
    const c = r.cam;
    const st = statusOf(c.id);
    const flags = flagsOf(c.id);
    const ptz = flags.includes("ptz"), rec = flags.includes("rec");
    const fav = favourites().has(c.id);
    const b = h("button", {
      type: "button", class: "cam row", draggable: "true", role: "treeitem",
      dataset: { camera: c.id, status: st, flags },
      title: `${c.name}${c.address ? " — " + c.address : ""}\n${t("status." + st)}${ptz ? " · PTZ" : ""}${rec ? " · " + t("tree.recording") : ""}`,
      "aria-label": `${c.name}, ${t("status." + st)}${ptz ? ", PTZ" : ""}${rec ? ", " + t("tree.recording") : ""}`,
      onclick: () => { hideThumb(); if (onPick) onPick(c.id); },
      ondragstart: (ev) => { hideThumb(); ev.dataTransfer.setData("application/x-vigil-camera", c.id); ev.dataTransfer.setData("text/plain", c.id); ev.dataTransfer.effectAllowed = "copy"; },
      oncontextmenu: (ev) => { ev.preventDefault(); menu(c, ev.clientX, ev.clientY); },
      onkeydown: (ev) => { if (ev.key === "ContextMenu" || (ev.shiftKey && ev.key === "F10")) { ev.preventDefault(); const rc = b.getBoundingClientRect(); menu(c, rc.left + 40, rc.bottom); } },
      onmouseenter: () => thumbSoon(c, b), onmouseleave: hideThumb,
    }, h("span", { class: "dot " + st, "aria-hidden": "true" }),
      h("span", { class: "ctype", title: ptz ? "PTZ" : t("tree.fixed") }, icon(ptz ? "ptz" : "bullet")),
      h("span", { class: "name" }, c.name),
      fav ? h("span", { class: "fav", title: t("tree.favourite") }, icon("star")) : null,
      rec ? h("span", { class: "rec", title: t("tree.recording") }, icon("record")) : null,
      c.classified ? h("span", { class: "secret", title: t("cam.classified") }, icon("lock")) : null,
      c.public ? h("span", { class: "pub", title: t("cam.public") }, icon("globe")) : null);
    b.style.setProperty("--depth", r.depth); // CSSOM: the CSP forbids style attributes
    return b;
  };
  const groupRow = (r) => {
    const b = h("button", { type: "button", class: "grp row", role: "treeitem", "aria-expanded": String(r.open),
      dataset: { group: r.group }, onclick: () => { localStorage.setItem("vigil.tree.closed." + r.group, r.open ? "1" : "0"); draw(); } },
    h("span", { class: "caret", "aria-hidden": "true" }, r.open ? "▾" : "▸"), h("span", { class: "gname", title: r.label }, r.label),
    h("span", { class: "gcount", "aria-label": t("tree.onlineOf", r.online, r.n) }, `${r.online}/${r.n}`));
    b.style.setProperty("--depth", r.depth);
    return b;
  };

  let flat = [];
  const paint = () => {
    const virtual = flat.length >= VIRTUAL_FROM;
    list.classList.toggle("virtual", virtual);
    let from = 0, to = flat.length;
    if (virtual) {
      from = Math.max(0, Math.floor(list.scrollTop / ROW) - 10);
      to = Math.min(flat.length, from + Math.ceil((list.clientHeight || 600) / ROW) + 20);
      spacer.style.height = flat.length * ROW + "px";
      rowsEl.style.transform = `translateY(${from * ROW}px)`;
    } else { spacer.style.height = "0"; rowsEl.style.transform = ""; }
    clear(rowsEl).append(...flat.slice(from, to).map((r) => (r.cam ? camRow(r) : groupRow(r))));
    list.dataset.rows = String(flat.length);
  };
  const draw = () => {
    const r = rows();
    flat = r.out;
    paint();
    if (!r.shown) rowsEl.append(h("p", { class: "muted" }, query ? t("tree.noMatch") : grouping === "fav" ? t("tree.noFav") : t("tree.empty")));
    count.textContent = t("tree.count", r.shown, state.cameras.length);
  };
  let raf = 0;
  list.addEventListener("scroll", () => { if (list.classList.contains("virtual") && !raf) raf = requestAnimationFrame(() => { raf = 0; paint(); }); });

  // Hover thumbnail: the sub stream's cached keyframe, after a short pause.
  let thumbTimer = 0;
  const thumb = h("div", { class: "thumb", hidden: true, "aria-hidden": "true" }, h("img", { alt: "" }), h("span", {}));
  const thumbSoon = (c, el) => {
    clearTimeout(thumbTimer);
    thumbTimer = setTimeout(() => {
      const r = el.getBoundingClientRect();
      const img = thumb.querySelector("img");
      img.onerror = () => { thumb.hidden = true; };
      img.src = `/api/v1/cameras/${encodeURIComponent(c.id)}/snapshot.jpg?variant=sub`;
      thumb.querySelector("span").textContent = c.name;
      thumb.style.left = Math.min(r.right + 8, innerWidth - 250) + "px";
      thumb.style.top = Math.min(r.top, innerHeight - 170) + "px";
      thumb.dataset.camera = c.id;
      thumb.hidden = false;
    }, 450);
  };
  const hideThumb = () => { clearTimeout(thumbTimer); thumb.hidden = true; };

  // Context menu.
  const menuEl = h("div", { class: "ctx", role: "menu", hidden: true, id: "tree-menu" });
  const closeMenu = () => { menuEl.hidden = true; };
  const menu = (c, x, y) => {
    hideThumb();
    const item = (act, label, fn) => h("button", { type: "button", role: "menuitem", dataset: { act }, onclick: () => { closeMenu(); fn(); } }, label);
    const go = (view) => { state.pendingCamera = c.id; if (location.hash === "#/" + view && onPick) { state.pendingCamera = ""; onPick(c.id); } else location.hash = "#/" + view; };
    const fav = favourites().has(c.id);
    clear(menuEl).append(h("p", { class: "ctx-title" }, c.name),
      item("live", t("tree.openLive"), () => go("live")),
      item("playback", t("tree.openPlayback"), () => go("playback")),
      item("export", t("tree.export"), () => go("playback")),
      item("incident", t("tree.reportIncident"), () => { state.pendingReport = c.id; location.hash = "#/incidents"; }),
      item("favourite", fav ? t("tree.unfavourite") : t("tree.addFavourite"), () => { toggleFavourite(c.id); draw(); }));
    menuEl.style.left = Math.min(x, innerWidth - 240) + "px";
    menuEl.style.top = Math.min(y, innerHeight - 230) + "px";
    menuEl.hidden = false;
    menuEl.querySelector("button").focus();
  };
  menuEl.addEventListener("keydown", (ev) => {
    const items = [...menuEl.querySelectorAll("button")];
    const i = items.indexOf(document.activeElement);
    if (ev.key === "Escape") { ev.preventDefault(); closeMenu(); }
    else if (ev.key === "ArrowDown") { ev.preventDefault(); items[(i + 1) % items.length].focus(); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
  });
  const outside = (ev) => { if (!menuEl.contains(ev.target)) closeMenu(); };
  document.addEventListener("pointerdown", outside);

  draw();
  const off = onChange(draw);
  const collapse = h("button", { type: "button", class: "side-collapse", id: "tree-collapse", title: t("tree.collapse"), "aria-label": t("tree.collapse"),
    onclick: () => document.body.classList.toggle("tree-collapsed") }, "«");
  const el = h("div", { class: "tree-wrap" },
    h("div", { class: "side-head" }, h("h2", { class: "side-title" }, t("tree.title")), collapse),
    h("div", { class: "tree-tools" }, search, h("div", { class: "tree-row2" }, groupSel, viewSel, saveView)), count, list, thumb, menuEl);
  // Detach the listeners once the tree leaves the page.
  const mo = new MutationObserver(() => { if (!el.isConnected) { off(); document.removeEventListener("pointerdown", outside); mo.disconnect(); } });
  queueMicrotask(() => el.parentNode && mo.observe(document.body, { childList: true, subtree: true }));
  return el;
}
