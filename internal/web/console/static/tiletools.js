// The operator's tools on one wall tile, built around the tile's live
// player (player.js is left alone): a PTZ pad with presets, an instant
// replay of the last seconds from the recordings and back to live, a
// snapshot download (audited by the server), digital zoom (wheel or pinch,
// drag to pan), full screen and a pop-out window for a second monitor.
import { h, clear, toast } from "./dom.js";
import { t } from "./i18n.js";
import { get, post } from "./api.js";
import { icon } from "./icons.js";

const enc = encodeURIComponent;

// tileTools(tile) adds the tools to a tile {el, video, camera()}; it returns
// {bar: buttons for the tile bar, setCamera(id), replay(s), live(), snapshot(),
// togglePTZ(), resetZoom(), fullscreen(), popout(), dispose()}.
export function tileTools(tile) {
  let cam = null;
  let ptzOK = false;          // the camera has PTZ and the user may steer it
  const stage = h("div", { class: "stage" });
  tile.video.replaceWith(stage);
  stage.append(tile.video);

  // Digital zoom: scale and offset applied to the stage's videos.
  const z = { s: 1, x: 0, y: 0 };
  const applyZoom = () => {
    const r = stage.getBoundingClientRect();
    const maxX = (r.width * (z.s - 1)) / 2, maxY = (r.height * (z.s - 1)) / 2;
    z.x = Math.max(-maxX, Math.min(maxX, z.x));
    z.y = Math.max(-maxY, Math.min(maxY, z.y));
    for (const v of stage.querySelectorAll("video")) v.style.transform = z.s === 1 ? "" : `translate(${z.x}px, ${z.y}px) scale(${z.s})`;
    tile.el.dataset.zoom = z.s.toFixed(2);
    tile.el.draggable = z.s === 1 && !!cam;
    zoomReset.hidden = z.s === 1;
  };
  const zoomBy = (f, cx = 0, cy = 0) => {
    const ns = Math.max(1, Math.min(8, z.s * f));
    // Keep the point under the cursor where it is.
    z.x = cx - ((cx - z.x) * ns) / z.s;
    z.y = cy - ((cy - z.y) * ns) / z.s;
    z.s = ns;
    if (ns === 1) { z.x = 0; z.y = 0; }
    applyZoom();
  };
  const centred = (ev) => { const r = stage.getBoundingClientRect(); return [ev.clientX - r.left - r.width / 2, ev.clientY - r.top - r.height / 2]; };
  stage.addEventListener("wheel", (ev) => {
    if (!cam) return;
    ev.preventDefault();
    zoomBy(ev.deltaY < 0 ? 1.25 : 0.8, ...centred(ev));
  }, { passive: false });
  const pointers = new Map();
  let pinch = 0;
  stage.addEventListener("pointerdown", (ev) => {
    if (!cam || (z.s === 1 && ev.pointerType === "mouse")) return;
    pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    stage.setPointerCapture(ev.pointerId);
    if (pointers.size === 2) { const [a, b] = [...pointers.values()]; pinch = Math.hypot(a[0] - b[0], a[1] - b[1]); }
  });
  stage.addEventListener("pointermove", (ev) => {
    const p = pointers.get(ev.pointerId);
    if (!p) return;
    if (pointers.size === 2) {
      pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      if (pinch) zoomBy(d / pinch);
      pinch = d;
      return;
    }
    z.x += ev.clientX - p[0]; z.y += ev.clientY - p[1];
    pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    applyZoom();
  });
  const up = (ev) => { pointers.delete(ev.pointerId); pinch = 0; };
  stage.addEventListener("pointerup", up);
  stage.addEventListener("pointercancel", up);
  const resetZoom = () => { z.s = 1; z.x = 0; z.y = 0; applyZoom(); };
  const zoomReset = h("button", { type: "button", class: "zoom-reset", hidden: true, title: t("tool.zoomReset"), "aria-label": t("tool.zoomReset"), onclick: (ev) => { ev.stopPropagation(); resetZoom(); } }, "1:1");
  tile.el.append(zoomReset);

  // Instant replay: a second video over the live one plays the recorded
  // last seconds; live keeps running underneath so going back is instant.
  const replayVideo = h("video", { class: "replay", muted: true, playsinline: true, hidden: true, "aria-hidden": "true" });
  replayVideo.muted = true;
  stage.append(replayVideo);
  const replayBadge = h("div", { class: "replay-badge", hidden: true },
    h("span", { class: "rb-text" }), h("button", { type: "button", class: "rb-live", onclick: (ev) => { ev.stopPropagation(); live(); } }, t("tool.backToLive")));
  tile.el.append(replayBadge);
  const replay = async (secs) => {
    if (!cam) return;
    const to = Date.now(), from = to - secs * 1000;
    replayVideo.hidden = false;
    replayBadge.hidden = false;
    replayBadge.querySelector(".rb-text").textContent = t("tool.replaying", secs);
    tile.el.dataset.mode = "replay";
    replayVideo.onerror = () => { toast(t("tool.replayFailed"), "error"); live(); };
    replayVideo.onended = () => live();
    replayVideo.src = `/api/v1/cameras/${enc(cam)}/playback.mp4?from=${from}&to=${to}`;
    applyZoom();
    try { await replayVideo.play(); } catch (_) { /* onerror says why */ }
  };
  const live = () => {
    replayVideo.onerror = null;
    replayVideo.onended = null;
    if (replayVideo.getAttribute("src")) { replayVideo.removeAttribute("src"); replayVideo.load(); }
    replayVideo.hidden = true;
    replayBadge.hidden = true;
    tile.el.dataset.mode = "live";
  };
  const replayMenu = h("div", { class: "menu", role: "menu", hidden: true },
    [10, 30, 60].map((s) => h("button", { type: "button", role: "menuitem", dataset: { secs: s }, onclick: (ev) => { ev.stopPropagation(); replayMenu.hidden = true; replay(s); } }, t("tool.lastN", s))));
  tile.el.append(replayMenu);

  // Snapshot: the server makes the JPEG from the main stream's keyframe
  // and writes the audit entry before the file leaves.
  const snapshot = () => {
    if (!cam) return;
    const a = h("a", { href: `/api/v1/cameras/${enc(cam)}/snapshot.jpg?variant=main&download=true`, download: "" });
    document.body.append(a);
    a.click();
    a.remove();
    toast(t("tool.snapshotTaken"));
  };

  // PTZ pad: press and hold an arrow (or zoom) to move, release to stop.
  const presetSel = h("select", { class: "ptz-presets", "aria-label": t("tool.presets") });
  presetSel.addEventListener("change", async () => {
    if (!presetSel.value) return;
    try { await post(`/cameras/${enc(cam)}/ptz/presets/${enc(presetSel.value)}`); toast(t("tool.presetGone", presetSel.selectedOptions[0].textContent)); }
    catch (e) { toast(e.message, "error"); }
    presetSel.value = "";
  });
  const move = (pan, tilt, zoom) => post(`/cameras/${enc(cam)}/ptz/move`, { pan, tilt, zoom, timeout_ms: 3000 }).catch((e) => toast(e.message, "error"));
  const stop = () => post(`/cameras/${enc(cam)}/ptz/stop`).catch((e) => toast(e.message, "error"));
  const pad = [
    ["↖", -1, 1, 0, "upLeft"], ["↑", 0, 1, 0, "up"], ["↗", 1, 1, 0, "upRight"],
    ["←", -1, 0, 0, "left"], null, ["→", 1, 0, 0, "right"],
    ["↙", -1, -1, 0, "downLeft"], ["↓", 0, -1, 0, "down"], ["↘", 1, -1, 0, "downRight"],
  ];
  const padBtn = ([label, p, ti, zo, dir]) => {
    const b = h("button", { type: "button", class: "ptz-btn", dataset: { dir }, "aria-label": t("ptz." + dir), title: t("ptz." + dir) }, label);
    let moving = false;
    const start = (ev) => { ev.preventDefault(); ev.stopPropagation(); moving = true; move(p * 0.5, ti * 0.5, zo * 0.5); };
    const end = (ev) => { ev.stopPropagation(); if (moving) { moving = false; stop(); } };
    b.addEventListener("pointerdown", start);
    b.addEventListener("pointerup", end);
    b.addEventListener("pointerleave", end);
    b.addEventListener("keydown", (ev) => { if ((ev.key === "Enter" || ev.key === " ") && !moving) start(ev); });
    b.addEventListener("keyup", (ev) => { if (ev.key === "Enter" || ev.key === " ") end(ev); });
    b.addEventListener("click", (ev) => ev.stopPropagation());
    return b;
  };
  const ptzPanel = h("div", { class: "ptz", hidden: true, role: "group", "aria-label": t("tool.ptz") },
    h("div", { class: "ptz-pad" }, pad.map((d) => (d ? padBtn(d) : h("span", {})))),
    h("div", { class: "ptz-zoom" }, padBtn([icon("plus"), 0, 0, 1, "zoomIn"]), padBtn([icon("minus"), 0, 0, -1, "zoomOut"])),
    presetSel);
  ptzPanel.addEventListener("click", (ev) => ev.stopPropagation());
  ptzPanel.addEventListener("dblclick", (ev) => ev.stopPropagation());
  tile.el.append(ptzPanel);
  const togglePTZ = async () => {
    if (!ptzOK) return;
    ptzPanel.hidden = !ptzPanel.hidden;
    if (!ptzPanel.hidden) {
      try {
        const r = await get(`/cameras/${enc(cam)}/ptz/presets`);
        clear(presetSel).append(h("option", { value: "" }, t("tool.presets")),
          ...(r.presets || []).map((p) => h("option", { value: p.token }, p.name || p.token)));
      } catch (e) { toast(e.message, "error"); }
    }
  };

  const fullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else tile.el.requestFullscreen().catch(() => {});
  };
  // Pop-out: the camera alone in a window of its own (a second monitor).
  const popout = () => { if (cam) window.open(`/#/popout/${enc(cam)}`, "vigil-" + cam, "popup,width=960,height=560"); };

  const btn = (act, label, title, fn) => h("button", { type: "button", class: "icon", dataset: { act }, "aria-label": title, title, onclick: (ev) => { ev.stopPropagation(); fn(ev); } }, label);
  const ptzBtn = btn("ptz", icon("ptz"), t("tool.ptz"), togglePTZ);
  ptzBtn.hidden = true;
  const bar = [
    ptzBtn,
    btn("replay", icon("replay"), t("tool.replay"), () => { replayMenu.hidden = !replayMenu.hidden; }),
    btn("snapshot", icon("snapshot"), t("tool.snapshot"), snapshot),
    btn("fullscreen", icon("fullscreen"), t("tool.fullscreen"), fullscreen),
    btn("popout", icon("popout"), t("tool.popout"), popout),
  ];

  let gen = 0;
  const setCamera = async (id) => {
    if (id === cam) return;
    cam = id;
    live(); resetZoom();
    ptzPanel.hidden = true; replayMenu.hidden = true;
    ptzOK = false; ptzBtn.hidden = true;
    for (const b of bar) b.hidden = !id || b === ptzBtn;
    if (!id) return;
    // PTZ is offered when the camera has it and the access rules allow it.
    const my = ++gen;
    try {
      const [d, dev] = await Promise.all([get(`/cameras/${enc(id)}/decision?action=ptz`), get(`/cameras/${enc(id)}/onvif`, { quiet401: true })]);
      if (my === gen && d.allow && dev.ptz) { ptzOK = true; ptzBtn.hidden = false; }
    } catch (_) { /* no ONVIF device: no PTZ */ }
  };
  for (const b of bar) b.hidden = true;
  return { bar, setCamera, replay, live, snapshot, togglePTZ, resetZoom, fullscreen, popout,
    dispose() { live(); } };
}
