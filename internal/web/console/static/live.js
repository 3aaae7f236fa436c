// The live wall: 1, 4, 9 or 16 tiles. Small tiles play the sub stream; one
// tile, or a tile enlarged, plays the main stream. Cameras arrive by drag and
// drop from the tree or the map, by click/Enter on a camera (into the
// selected tile), and the wall is saved per user (current wall and named
// layouts, in this browser's storage).
import { h, clear, toast } from "./dom.js";
import { t } from "./i18n.js";
import { state, userKey, camera } from "./state.js";
import { LivePlayer, track, untrack } from "./player.js";
import { tileTools } from "./tiletools.js";
import { tourControl, alarmControl, helpButton } from "./wallextras.js";

const LAYOUTS = [1, 4, 9, 16];
const CAM_TYPE = "application/x-vigil-camera";
const TILE_TYPE = "application/x-vigil-tile";

function storeKey(k) { return `vigil.${k}.${userKey()}`; }
function loadJSON(k, dflt) { try { return JSON.parse(localStorage.getItem(storeKey(k))) || dflt; } catch (_) { return dflt; } }
function saveJSON(k, v) { localStorage.setItem(storeKey(k), JSON.stringify(v)); }

// liveView mounts the wall. opts.popout: a pop-out window showing the
// cameras given (nothing saved, no toolbar beyond the tiles' own tools).
export function liveView(main, opts = {}) {
  const popout = !!opts.popout;
  const saved = popout ? { layout: (opts.cameras || []).length > 1 ? 4 : 1, tiles: opts.cameras || [] } : loadJSON("wall", { layout: 4, tiles: [] });
  const wall = {
    layout: LAYOUTS.includes(saved.layout) ? saved.layout : 4,
    tiles: Array.from({ length: 16 }, (_, i) => (saved.tiles[i] && camera(saved.tiles[i]) ? saved.tiles[i] : null)),
    active: 0,
    enlarged: -1,
  };
  const tiles = [];   // {el, video, player, camera, variant}
  const save = () => { if (!popout) saveJSON("wall", { layout: wall.layout, tiles: wall.tiles }); };

  const grid = h("div", { class: "wall", id: "wall", role: "region", "aria-label": t("live.wallLabel") });
  const status = h("p", { class: "sr-only", "aria-live": "polite", id: "wall-status" });

  const variantOf = (i) => (wall.layout === 1 || wall.enlarged === i ? "main" : "sub");

  const setTileState = (i, st, info) => {
    const tl = tiles[i];
    tl.el.dataset.state = st;
    tl.el.dataset.protocol = info.protocol || "";
    const txt = st === "playing" ? t("live.playing", info.protocol, t("live.variant." + tl.variant))
      : st === "error" ? t("live.err." + (info.code || "failed"))
      : st === "connecting" ? t("live.connecting") : st === "ended" ? t("live.ended") : "";
    tl.state.textContent = txt;
    if (st === "error" && info.message) tl.state.title = info.message;
  };

  const makeTile = (i) => {
    const video = h("video", { muted: true, autoplay: true, playsinline: true, "aria-hidden": "true" });
    video.muted = true;
    const name = h("span", { class: "tname" });
    const st = h("span", { class: "tstate" });
    const enlarge = h("button", { type: "button", class: "icon", dataset: { act: "enlarge" } }, "⤢");
    const close = h("button", { type: "button", class: "icon", dataset: { act: "close" }, "aria-label": t("live.remove"), title: t("live.remove") }, "✕");
    const empty = h("p", { class: "empty" }, t("live.dropHere"));
    const bar = h("div", { class: "tile-bar" }, name, st);
    const el = h("div", { class: "tile", tabindex: "0", role: "group", dataset: { index: i, state: "idle", mode: "live" } },
      video, empty, bar);
    const tl = { el, video, name, state: st, enlarge, close, empty, camera: null, variant: "" };
    tl.player = track(new LivePlayer(video, (s, info) => setTileState(i, s, info)));
    tl.tools = tileTools(tl);
    bar.append(...tl.tools.bar, enlarge, close);
    enlarge.addEventListener("click", (ev) => { ev.stopPropagation(); toggleEnlarge(i); });
    close.addEventListener("click", (ev) => { ev.stopPropagation(); assign(i, null); });
    el.addEventListener("focus", () => select(i));
    el.addEventListener("click", () => select(i));
    el.addEventListener("dblclick", () => toggleEnlarge(i));
    el.addEventListener("keydown", (ev) => onKey(ev, i));
    el.addEventListener("dragover", (ev) => {
      const types = [...ev.dataTransfer.types];
      if (types.includes(CAM_TYPE) || types.includes(TILE_TYPE) || types.includes("text/plain")) { ev.preventDefault(); el.classList.add("over"); }
    });
    el.addEventListener("dragleave", () => el.classList.remove("over"));
    el.addEventListener("drop", (ev) => {
      ev.preventDefault();
      el.classList.remove("over");
      const from = ev.dataTransfer.getData(TILE_TYPE);
      if (from !== "") { swap(Number(from), i); return; }
      const id = ev.dataTransfer.getData(CAM_TYPE) || ev.dataTransfer.getData("text/plain");
      if (id && camera(id)) { assign(i, id); select(i); }
    });
    el.draggable = true;
    el.addEventListener("dragstart", (ev) => {
      if (!wall.tiles[i]) { ev.preventDefault(); return; }
      ev.dataTransfer.setData(TILE_TYPE, String(i));
    });
    return tl;
  };

  const label = (i) => {
    const c = wall.tiles[i] && camera(wall.tiles[i]);
    return t("live.tile", i + 1) + (c ? " – " + c.name : " – " + t("live.emptyTile"));
  };

  // play starts, restarts or stops tile i to match the wall.
  const play = (i) => {
    const tl = tiles[i];
    const visible = i < wall.layout && (wall.enlarged < 0 || wall.enlarged === i);
    const want = visible ? wall.tiles[i] : null;
    const variant = variantOf(i);
    if (want === tl.camera && (!want || variant === tl.variant)) return;
    tl.camera = want;
    tl.variant = variant;
    if (!want) { tl.player.stop(); tl.el.dataset.state = "idle"; tl.state.textContent = ""; return; }
    tl.player.start(want, variant);
  };

  const draw = () => {
    grid.dataset.layout = wall.layout;
    grid.classList.toggle("enlarged", wall.enlarged >= 0);
    tiles.forEach((tl, i) => {
      const c = wall.tiles[i] && camera(wall.tiles[i]);
      tl.el.hidden = i >= wall.layout || (wall.enlarged >= 0 && wall.enlarged !== i);
      tl.el.dataset.camera = c ? c.id : "";
      tl.el.classList.toggle("active", i === wall.active);
      tl.el.setAttribute("aria-label", label(i));
      tl.name.textContent = c ? c.name : "";
      tl.empty.hidden = !!c;
      tl.close.hidden = !c;
      tl.enlarge.hidden = !c || wall.layout === 1;
      const big = wall.enlarged === i;
      tl.enlarge.textContent = big ? "⤡" : "⤢";
      tl.enlarge.setAttribute("aria-label", big ? t("live.restore") : t("live.enlarge"));
      tl.enlarge.title = tl.enlarge.getAttribute("aria-label");
      tl.tools.setCamera(c ? c.id : null);
      play(i);
    });
    layoutBtns.forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.n) === wall.layout)));
  };

  const select = (i) => {
    wall.active = i;
    tiles.forEach((tl, j) => tl.el.classList.toggle("active", j === i));
  };
  const assign = (i, id) => {
    wall.tiles[i] = id;
    save();
    draw();
    const c = id && camera(id);
    status.textContent = c ? t("live.assigned", c.name, i + 1) : t("live.cleared", i + 1);
  };
  const swap = (a, b) => {
    [wall.tiles[a], wall.tiles[b]] = [wall.tiles[b], wall.tiles[a]];
    save();
    draw();
  };
  const toggleEnlarge = (i) => {
    if (!wall.tiles[i] || wall.layout === 1) return;
    wall.enlarged = wall.enlarged === i ? -1 : i;
    draw();
    tiles[i].el.focus();
  };
  const setLayout = (n) => {
    wall.layout = n;
    wall.enlarged = -1;
    if (wall.active >= n) wall.active = 0;
    save();
    draw();
  };
  const onKey = (ev, i) => {
    const cols = Math.sqrt(wall.layout);
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[ev.key];
    if (move !== undefined && wall.enlarged < 0) {
      const j = i + move;
      if (j >= 0 && j < wall.layout) { ev.preventDefault(); tiles[j].el.focus(); }
    } else if (ev.key === "Enter" && ev.target === tiles[i].el) {
      ev.preventDefault(); toggleEnlarge(i);
    } else if (ev.key === "Escape" && wall.enlarged >= 0) {
      ev.preventDefault(); toggleEnlarge(wall.enlarged);
    } else if ((ev.key === "Delete" || ev.key === "Backspace") && ev.target === tiles[i].el) {
      ev.preventDefault(); assign(i, null);
    } else if (ev.target === tiles[i].el && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      // The tile's tools (listed in the help panel).
      const tools = tiles[i].tools;
      const act = { f: tools.fullscreen, s: tools.snapshot, r: () => tools.replay(30), l: tools.live, p: tools.togglePTZ, z: tools.resetZoom, o: tools.popout }[ev.key.toLowerCase()];
      if (act) { ev.preventDefault(); act(); }
    }
  };

  for (let i = 0; i < 16; i++) { tiles.push(makeTile(i)); grid.append(tiles[i].el); }

  const layoutBtns = LAYOUTS.map((n) => h("button", {
    type: "button", class: "seg", id: "layout-" + n, dataset: { n }, "aria-pressed": "false",
    "aria-label": t("live.layoutN", n), title: t("live.layoutN", n), onclick: () => setLayout(n),
  }, String(n)));

  // Named layouts.
  const named = () => loadJSON("layouts", {});
  const layoutSel = h("select", { id: "saved-layouts", "aria-label": t("live.savedLayouts") });
  const fillSel = () => {
    clear(layoutSel).append(h("option", { value: "" }, t("live.savedLayouts")));
    Object.keys(named()).sort().forEach((n) => layoutSel.append(h("option", { value: n }, n)));
  };
  fillSel();
  layoutSel.addEventListener("change", () => {
    const l = named()[layoutSel.value];
    if (!l) return;
    wall.layout = l.layout; wall.enlarged = -1;
    wall.tiles = Array.from({ length: 16 }, (_, i) => (l.tiles[i] && camera(l.tiles[i]) ? l.tiles[i] : null));
    save(); draw();
    toast(t("live.layoutLoaded", layoutSel.value));
  });
  const saveBtn = h("button", { type: "button", id: "save-layout", onclick: () => {
    const name = (prompt(t("live.layoutName")) || "").trim();
    if (!name) return;
    const all = named(); all[name] = { layout: wall.layout, tiles: wall.tiles }; saveJSON("layouts", all);
    fillSel(); layoutSel.value = name; toast(t("live.layoutSaved", name));
  } }, t("live.saveLayout"));
  const delBtn = h("button", { type: "button", onclick: () => {
    const n = layoutSel.value; if (!n) return;
    const all = named(); delete all[n]; saveJSON("layouts", all); fillSel();
  } }, t("live.deleteLayout"));
  const clearBtn = h("button", { type: "button", id: "clear-wall", onclick: () => { wall.tiles.fill(null); wall.enlarged = -1; save(); draw(); } }, t("live.clearWall"));

  // Tours and the alarm tile drive the wall through these.
  const wallAPI = {
    layouts: () => named(),
    loadLayout(l) {
      wall.layout = l.layout; wall.enlarged = -1;
      wall.tiles = Array.from({ length: 16 }, (_, i) => (l.tiles[i] && camera(l.tiles[i]) ? l.tiles[i] : null));
      draw();
    },
    showIn(i, id) { wall.tiles[i] = id; draw(); },
    active: () => wall.active,
    size: () => wall.layout,
    tileEl: (i) => tiles[i].el,
    cameras: () => wall.tiles.slice(0, wall.layout).filter(Boolean),
  };
  const tour = popout ? null : tourControl(wallAPI);
  const alarm = popout ? null : alarmControl(wallAPI);
  if (popout) {
    main.classList.add("popout");
    main.append(grid, status);
  } else {
    main.append(
      h("div", { class: "toolbar" },
        h("h1", { class: "view-title" }, t("live.title")),
        h("div", { class: "segs", role: "group", "aria-label": t("live.layout") }, layoutBtns),
        layoutSel, saveBtn, delBtn, clearBtn, tour.el, alarm.el, helpButton(),
        h("p", { class: "muted small hint" }, t("live.hint"))),
      grid, status);
  }
  draw();

  const view = {
    el: main,
    // A camera picked in the tree or on the map goes to the selected tile,
    // or the first empty one, and selection moves on.
    onCamera(id) {
      let i = wall.active < wall.layout && !wall.tiles[wall.active] ? wall.active : wall.tiles.slice(0, wall.layout).indexOf(null);
      if (i < 0) i = wall.active < wall.layout ? wall.active : 0;
      assign(i, id);
      select(i + 1 < wall.layout ? i + 1 : i);
    },
    dispose() {
      if (tour) tour.stop();
      if (alarm) alarm.stop();
      tiles.forEach((tl) => { tl.tools.dispose(); tl.player.stop(); untrack(tl.player); });
    },
  };
  if (state.pendingCamera) { const id = state.pendingCamera; state.pendingCamera = ""; view.onCamera(id); }
  return view;
}
