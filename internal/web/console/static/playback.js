// Playback: a day's timeline per camera (recorded spans and gaps, from the
// index), click or keys to seek, speed, up to four cameras in sync, and the
// export dialog that requires purpose and requester and then offers the MP4
// and its signed manifest.
import { h, s, clear, toast } from "./dom.js";
import { t, fmtDate, fromZonedInput, toZonedInput } from "./i18n.js";
import { get, post } from "./api.js";
import { camera } from "./state.js";
import { formDialog } from "./forms.js";
import { describe } from "./login.js";

const MAX = 4;
const WINDOW = 60 * 60 * 1000; // one MP4 request covers at most an hour
const SPEEDS = [0.5, 1, 2, 4, 8];
const enc = encodeURIComponent;

// dayStart is midnight of the site's day containing ms.
function dayStart(ms) { return Date.parse(fromZonedInput(toZonedInput(new Date(ms).toISOString()).slice(0, 10) + "T00:00")); }

export function playbackView(main) {
  const st = { cams: [], day: dayStart(Date.now()), pos: Date.now() - 60000, speed: 1, playing: true, timelines: new Map(), windowFrom: 0 };
  const players = new Map(); // camera id → {video, el}
  const dateIn = h("input", { type: "date", id: "pb-date", "aria-label": t("pb.day"), value: toZonedInput(new Date(st.day).toISOString()).slice(0, 10) });
  const speedSel = h("select", { id: "pb-speed", "aria-label": t("pb.speed") }, SPEEDS.map((x) => h("option", { value: x }, `${x}×`)));
  speedSel.value = "1";
  const playBtn = h("button", { type: "button", id: "pb-play" }, t("pb.pause"));
  const clock = h("output", { id: "pb-clock", class: "pb-clock", "aria-live": "off" });
  const bars = h("div", { class: "pb-bars", id: "pb-timeline" });
  const videos = h("div", { class: "pb-videos", id: "pb-videos" });
  const empty = h("p", { class: "muted", id: "pb-empty" }, t("pb.pick"));

  const W = 1000;
  const x = (ms) => ((ms - st.day) / 86400000) * W;
  const drawBars = () => {
    clear(bars);
    for (const id of st.cams) {
      const tl = st.timelines.get(id);
      const c = camera(id);
      const svg = s("svg", { viewBox: `0 0 ${W} 28`, class: "pb-bar", role: "slider", tabindex: 0, "data-camera": id,
        "aria-label": t("pb.timelineOf", c ? c.name : id), "aria-valuemin": st.day, "aria-valuemax": st.day + 86400000, "aria-valuenow": st.pos, "aria-valuetext": fmtDate(st.pos) },
      s("rect", { x: 0, y: 4, width: W, height: 20, class: "pb-gap" }));
      for (const sp of (tl && tl.spans) || []) {
        const a = Math.max(x(Date.parse(sp.from)), 0), b = Math.min(x(Date.parse(sp.to)), W);
        if (b > a) svg.append(s("rect", { x: a, y: 4, width: Math.max(b - a, 1), height: 20, class: "pb-span" }));
      }
      for (let hr = 0; hr <= 24; hr += 3) svg.append(s("line", { x1: x(st.day + hr * 3600000), x2: x(st.day + hr * 3600000), y1: 0, y2: 28, class: "pb-tick" }));
      svg.append(s("line", { x1: x(st.pos), x2: x(st.pos), y1: 0, y2: 28, class: "pb-cursor" }));
      svg.addEventListener("click", (ev) => {
        const r = svg.getBoundingClientRect();
        seek(st.day + ((ev.clientX - r.left) / r.width) * 86400000);
      });
      svg.addEventListener("keydown", (ev) => {
        const step = { ArrowLeft: -10000, ArrowRight: 10000, PageDown: -600000, PageUp: 600000 }[ev.key];
        if (step) { ev.preventDefault(); seek(st.pos + step); }
      });
      bars.append(h("div", { class: "pb-row" }, h("span", { class: "pb-name" }, c ? c.name : id), svg,
        h("span", { class: "muted small" }, tl ? t("pb.recorded", tl.segments, tl.recording ? t("pb.recordingNow") : "") : "")));
    }
    const axis = h("div", { class: "pb-row pb-axis", "aria-hidden": "true" }, h("span", { class: "pb-name" }),
      h("div", { class: "pb-hours" }, [0, 3, 6, 9, 12, 15, 18, 21, 24].map((hr) => h("span", {}, String(hr).padStart(2, "0") + ":00"))), h("span"));
    if (st.cams.length) bars.append(axis);
  };

  const loadTimelines = async () => {
    if (!st.cams.length) return;
    try {
      const r = await get(`/recordings/timeline?camera_ids=${enc(st.cams.join(","))}&from=${st.day}&to=${st.day + 86400000}`);
      st.timelines = new Map(r.timelines.map((x) => [x.camera_id, x]));
    } catch (e) { toast(describe(e), "error"); }
    drawBars();
  };

  const master = () => players.get(st.cams[0]);
  // seek loads an hour from ms in every player (or moves inside the loaded hour).
  const seek = (ms) => {
    ms = Math.max(st.day, Math.min(ms, Date.now()));
    // A target in a gap moves to the next recorded span (gaps are left out).
    const spans = (st.timelines.get(st.cams[0]) || {}).spans || [];
    if (spans.length && !spans.some((sp) => ms >= Date.parse(sp.from) && ms < Date.parse(sp.to))) {
      const next = spans.find((sp) => Date.parse(sp.from) > ms);
      if (next) ms = Math.min(Date.parse(next.from) + 1000, Date.parse(next.to));
    }
    st.pos = Math.round(ms); // the API takes whole milliseconds
    const inWindow = st.windowFrom && st.pos >= st.windowFrom && st.pos < st.windowFrom + WINDOW - 5000;
    if (!inWindow) {
      st.windowFrom = st.pos;
      const to = Math.min(st.windowFrom + WINDOW, Date.now());
      for (const [id, p] of players) {
        p.video.src = `/api/v1/cameras/${enc(id)}/playback.mp4?from=${st.windowFrom}&to=${Math.max(to, st.windowFrom + 1000)}`;
        p.video.playbackRate = st.speed;
        if (st.playing) p.video.play().catch(() => {});
      }
    } else {
      for (const p of players.values()) p.video.currentTime = (st.pos - st.windowFrom) / 1000;
    }
    drawBars();
    tick();
  };

  const tick = () => {
    const m = master();
    if (m && st.windowFrom && !m.video.seeking && m.video.readyState > 0) st.pos = st.windowFrom + m.video.currentTime * 1000;
    clock.textContent = fmtDate(st.pos);
    main.dataset.position = String(Math.round(st.pos));
    // Followers stay within half a second of the first camera.
    if (m) for (const p of players.values()) {
      if (p !== m && p.video.readyState > 0 && Math.abs(p.video.currentTime - m.video.currentTime) > 0.5) p.video.currentTime = m.video.currentTime;
    }
    const cur = bars.querySelectorAll(".pb-cursor");
    cur.forEach((l) => { l.setAttribute("x1", x(st.pos)); l.setAttribute("x2", x(st.pos)); });
  };
  const timer = setInterval(tick, 500);

  const addCamera = (id) => {
    if (st.cams.includes(id)) return;
    if (st.cams.length >= MAX) { toast(t("pb.max", MAX), "warn"); return; }
    st.cams.push(id);
    const c = camera(id);
    const video = h("video", { muted: true, playsinline: true, "aria-label": t("pb.videoOf", c ? c.name : id) });
    video.muted = true;
    const exportBtn = h("button", { type: "button", class: "pb-export", hidden: true, onclick: () => exportDialog(id) }, t("pb.export"));
    const removeBtn = h("button", { type: "button", "aria-label": t("live.remove"), title: t("live.remove"), onclick: () => removeCamera(id) }, "✕");
    const state = h("span", { class: "muted small" });
    video.addEventListener("error", () => { state.textContent = t("pb.noFootage"); });
    video.addEventListener("playing", () => { state.textContent = ""; });
    // The loaded window ran out (it ends at "now" when recent): load on from
    // where it ended, so playback follows a recording that is still growing.
    video.addEventListener("ended", () => {
      const m = master();
      if (!m || m.video !== video || !st.playing) return;
      const end = st.windowFrom + video.duration * 1000;
      // At the live edge, give the recorder a moment to write more.
      setTimeout(() => { st.windowFrom = 0; seek(end); }, Date.now() - end < 3000 ? 2000 : 0);
    });
    const el = h("figure", { class: "pb-video", dataset: { camera: id } }, video, h("figcaption", {}, h("strong", {}, c ? c.name : id), " ", state, exportBtn, removeBtn));
    players.set(id, { video, el });
    videos.append(el);
    empty.hidden = true;
    get(`/cameras/${enc(id)}/decision?action=export`).then((d) => { exportBtn.hidden = !d.allow; }).catch(() => {});
    st.windowFrom = 0;
    loadTimelines().then(() => {
      // Nothing recorded at the cursor: go to the start of the latest recording.
      const spans = (st.timelines.get(id) || {}).spans || [];
      const inside = spans.some((sp) => st.pos >= Date.parse(sp.from) && st.pos < Date.parse(sp.to));
      if (!inside && spans.length) st.pos = Date.parse(spans[spans.length - 1].from) + 1000;
      seek(st.pos);
    });
  };
  const removeCamera = (id) => {
    const p = players.get(id);
    if (p) { p.video.removeAttribute("src"); p.video.load(); p.el.remove(); players.delete(id); }
    st.cams = st.cams.filter((x) => x !== id);
    empty.hidden = st.cams.length > 0;
    drawBars();
  };

  const exportDialog = async (id) => {
    const c = camera(id);
    const from = st.pos - 30000, to = st.pos + 30000;
    const ex = await formDialog({ id: "export-form", title: t("pb.exportOf", c ? c.name : id), submitLabel: t("pb.exportGo"), fields: [
      { name: "from", label: t("audit.from"), type: "datetime", required: true },
      { name: "to", label: t("audit.to"), type: "datetime", required: true },
      { name: "purpose", label: t("pb.purpose"), type: "textarea", rows: 2, required: true, help: t("pb.purposeHelp") },
      { name: "req_name", label: t("pb.reqName"), required: true },
      { name: "req_org", label: t("pb.reqOrg"), required: true },
      { name: "req_doc", label: t("pb.reqDoc"), required: true },
    ], values: { from: new Date(from).toISOString(), to: new Date(Math.min(to, Date.now())).toISOString() },
    submit: (v) => post(`/cameras/${enc(id)}/exports`, { from: v.from, to: v.to, purpose: v.purpose,
      requester: { name: v.req_name, organisation: v.req_org, document: v.req_doc } }) });
    if (!ex) return;
    const dlg = h("dialog", { class: "dlg", id: "export-done", "aria-labelledby": "export-done-title" },
      h("h2", { id: "export-done-title" }, t("pb.exportReady")),
      h("dl", { class: "facts" },
        h("dt", {}, t("pb.range")), h("dd", {}, `${fmtDate(ex.from)} – ${fmtDate(ex.to)}`),
        h("dt", {}, t("pb.size")), h("dd", {}, `${(ex.bytes / 1048576).toFixed(2)} MB`),
        h("dt", {}, "SHA-256"), h("dd", {}, h("code", { class: "wrap", id: "export-sha" }, ex.sha256))),
      h("p", { class: "row-actions" },
        h("a", { class: "button primary", id: "export-file", href: `/api/v1/exports/${enc(ex.id)}/file`, download: `${ex.id}.mp4` }, t("pb.downloadMP4")),
        h("a", { class: "button", id: "export-manifest", href: `/api/v1/exports/${enc(ex.id)}/manifest`, download: `${ex.id}.manifest.json` }, t("pb.downloadManifest"))),
      h("p", { class: "muted small" }, t("pb.verifyHint", ex.id)),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => dlg.close() }, t("form.close"))));
    dlg.addEventListener("close", () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
  };

  dateIn.addEventListener("change", () => {
    if (!dateIn.value) return;
    st.day = Date.parse(fromZonedInput(dateIn.value + "T00:00"));
    st.windowFrom = 0;
    loadTimelines().then(() => seek(st.day + 12 * 3600000 > Date.now() ? st.day : st.day + 12 * 3600000));
  });
  speedSel.addEventListener("change", () => { st.speed = Number(speedSel.value); players.forEach((p) => { p.video.playbackRate = st.speed; }); });
  playBtn.addEventListener("click", () => {
    st.playing = !st.playing;
    players.forEach((p) => (st.playing ? p.video.play().catch(() => {}) : p.video.pause()));
    playBtn.textContent = st.playing ? t("pb.pause") : t("pb.play");
  });
  const back = h("button", { type: "button", id: "pb-back", "aria-label": t("pb.back30"), title: t("pb.back30"), onclick: () => seek(st.pos - 30000) }, "−30 s");
  const fwd = h("button", { type: "button", id: "pb-fwd", "aria-label": t("pb.fwd30"), title: t("pb.fwd30"), onclick: () => seek(st.pos + 30000) }, "+30 s");
  const refresh = h("button", { type: "button", onclick: loadTimelines }, t("pb.refresh"));

  main.append(
    h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, t("pb.title")), dateIn, back, playBtn, fwd, speedSel, clock, refresh,
      h("p", { class: "muted small hint" }, t("pb.hint"))),
    empty, videos, bars);
  const timelineTimer = setInterval(loadTimelines, 30000);
  return {
    el: main,
    onCamera: addCamera,
    dispose() { clearInterval(timer); clearInterval(timelineTimer); players.forEach((p) => { p.video.removeAttribute("src"); p.video.load(); }); },
  };
}
