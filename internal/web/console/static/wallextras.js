// Wall-wide tools: camera and layout tours, the alarm tile (the camera of a
// new incident, with a sound the operator can mute) and the keyboard help.
import { h, clear, toast } from "./dom.js";
import { t } from "./i18n.js";
import { get } from "./api.js";
import { state, userKey, camera } from "./state.js";
import { icon } from "./icons.js";

function storeKey(k) { return `vigil.${k}.${userKey()}`; }
function loadJSON(k, dflt) { try { return JSON.parse(localStorage.getItem(storeKey(k))) || dflt; } catch (_) { return dflt; } }
function saveJSON(k, v) { localStorage.setItem(storeKey(k), JSON.stringify(v)); }

// tourControl: a sequence of saved layouts, or of cameras (a wall-full at
// a time), cycling every N seconds until stopped.
export function tourControl(wall) {
  let timer = 0, step = 0, steps = [];
  const btn = h("button", { type: "button", id: "tour-open", "aria-pressed": "false" }, t("tour.button"));
  const stop = () => {
    clearInterval(timer); timer = 0;
    btn.setAttribute("aria-pressed", "false");
    btn.textContent = t("tour.button");
    document.body.dataset.tour = "";
  };
  const show = () => {
    const s = steps[step % steps.length];
    if (s.layout) wall.loadLayout(s.layout);
    else wall.loadLayout({ layout: wall.size(), tiles: s.cameras });
    btn.textContent = t("tour.running", (step % steps.length) + 1, steps.length);
    document.body.dataset.tour = String((step % steps.length) + 1);
    step++;
  };
  const start = (cfg) => {
    stop();
    const layouts = wall.layouts();
    if (cfg.mode === "layouts") steps = cfg.items.filter((n) => layouts[n]).map((n) => ({ layout: layouts[n] }));
    else {
      const cams = cfg.items.filter((id) => camera(id));
      const n = wall.size();
      steps = [];
      for (let i = 0; i < cams.length; i += n) steps.push({ cameras: cams.slice(i, i + n) });
    }
    if (steps.length < 1) { toast(t("tour.empty"), "warn"); return; }
    saveJSON("tour", cfg);
    step = 0;
    show();
    timer = setInterval(show, Math.max(3, cfg.seconds) * 1000);
    btn.setAttribute("aria-pressed", "true");
  };
  btn.addEventListener("click", () => { if (timer) { stop(); return; } openDialog(); });

  const openDialog = () => {
    const cfg = loadJSON("tour", { mode: "cameras", seconds: 15, items: [] });
    const list = h("div", { class: "tour-items" });
    const mode = h("select", { name: "mode", id: "tour-mode" },
      h("option", { value: "cameras" }, t("tour.cameras")), h("option", { value: "layouts" }, t("tour.layouts")));
    mode.value = cfg.mode;
    const secs = h("input", { type: "number", name: "seconds", id: "tour-seconds", min: 3, max: 3600, value: String(cfg.seconds) });
    const fill = () => {
      const items = mode.value === "layouts" ? Object.keys(wall.layouts()).sort().map((n) => [n, n])
        : [...state.cameras].sort((a, b) => a.name.localeCompare(b.name, "vi")).map((c) => [c.id, c.name]);
      clear(list).append(...items.map(([v, label]) => h("label", { class: "check" },
        h("input", { type: "checkbox", value: v, checked: cfg.mode === mode.value && cfg.items.includes(v) }), " ", label)));
      if (!items.length) list.append(h("p", { class: "muted" }, t("tour.none")));
    };
    mode.addEventListener("change", fill);
    fill();
    const err = h("p", { class: "error", hidden: true });
    const dlg = h("dialog", { class: "dlg", id: "tour-form" },
      h("h2", {}, t("tour.title")),
      h("div", { class: "field" }, h("label", { for: "tour-mode" }, t("tour.mode")), mode),
      h("div", { class: "field" }, h("label", { for: "tour-seconds" }, t("tour.seconds")), secs),
      h("fieldset", { class: "field checks" }, h("legend", {}, t("tour.items")), list), err,
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => dlg.close() }, t("common.cancel")),
        h("button", { type: "button", class: "primary", id: "tour-start", onclick: () => {
          const items = [...list.querySelectorAll("input:checked")].map((x) => x.value);
          const seconds = Number(secs.value);
          if (!items.length || !(seconds >= 3)) { err.hidden = false; err.textContent = t("tour.invalid"); return; }
          dlg.close();
          start({ mode: mode.value, seconds, items });
        } }, t("tour.start"))));
    dlg.addEventListener("close", () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
  };
  return { el: btn, stop, start };
}

// alarmControl: while on, a new incident about a camera the user may watch
// puts that camera in the wall's last tile, marked, with a short sound
// unless muted.
export function alarmControl(wall) {
  let on = loadJSON("alarm", { on: false, muted: false });
  let timer = 0, seen = null, ctx = null;
  const toggle = h("button", { type: "button", id: "alarm-toggle", "aria-pressed": String(on.on) }, t("alarm.button"));
  const mute = h("button", { type: "button", id: "alarm-mute", "aria-pressed": String(on.muted), title: t("alarm.mute"), "aria-label": t("alarm.mute") }, icon("bell"));
  const beep = () => {
    if (on.muted) return;
    try {
      ctx = ctx || new AudioContext();
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.15;
      o.connect(g).connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.35);
    } catch (_) { /* no audio device */ }
  };
  const poll = async () => {
    let list;
    try { list = await get("/incidents?state=active&limit=100"); } catch (_) { return; }
    if (!seen) { seen = new Set(list.map((i) => i.id)); return; }   // what was open before: not new
    const fresh = list.filter((i) => !seen.has(i.id) && i.camera_id && camera(i.camera_id));
    list.forEach((i) => seen.add(i.id));
    if (!fresh.length) return;
    const inc = fresh.sort((a, b) => new Date(b.detected_at) - new Date(a.detected_at))[0];
    const i = wall.size() - 1;
    wall.showIn(i, inc.camera_id);
    const el = wall.tileEl(i);
    el.classList.add("alarm");
    el.dataset.alarm = inc.id;
    let tag = el.querySelector(".alarm-tag");
    if (!tag) { tag = h("div", { class: "alarm-tag", role: "alert" }); el.append(tag); }
    tag.textContent = t("alarm.incident", inc.title || inc.category);
    tag.onclick = (ev) => { ev.stopPropagation(); el.classList.remove("alarm"); tag.remove(); delete el.dataset.alarm; };
    tag.title = t("alarm.dismiss");
    beep();
  };
  const run = () => {
    clearInterval(timer); timer = 0; seen = null;
    toggle.setAttribute("aria-pressed", String(on.on));
    mute.setAttribute("aria-pressed", String(on.muted));
    clear(mute).append(icon(on.muted ? "bellOff" : "bell"));
    if (on.on) { poll(); timer = setInterval(poll, 3000); }
  };
  toggle.addEventListener("click", () => { on.on = !on.on; saveJSON("alarm", on); run(); });
  mute.addEventListener("click", () => { on.muted = !on.muted; saveJSON("alarm", on); run(); });
  run();
  return { el: h("span", { class: "alarm-ctl" }, toggle, mute), stop() { clearInterval(timer); timer = 0; } };
}

const SHORTCUTS = [["?", "keys.help"], ["← → ↑ ↓", "keys.move"], ["Enter", "keys.enlarge"], ["Esc", "keys.restore"], ["Delete", "keys.remove"],
  ["F", "keys.fullscreen"], ["S", "keys.snapshot"], ["R", "keys.replay"], ["L", "keys.live"], ["P", "keys.ptz"], ["Z", "keys.zoom"], ["O", "keys.popout"]];

export function showHelp() {
  if (document.getElementById("keys-help")) return;
  const dlg = h("dialog", { class: "dlg", id: "keys-help" }, h("h2", {}, t("keys.title")),
    h("table", { class: "data" }, h("tbody", {}, SHORTCUTS.map(([k, d]) => h("tr", {}, h("th", {}, h("kbd", {}, k)), h("td", {}, t(d)))))),
    h("p", { class: "muted small" }, t("keys.mouse")),
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => dlg.close() }, t("common.close"))));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

export function helpButton() {
  return h("button", { type: "button", id: "keys-open", title: t("keys.title"), "aria-label": t("keys.title"), onclick: showHelp }, "?");
}

window.addEventListener("keydown", (ev) => {
  if (ev.key === "?" && !/^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName) && document.getElementById("wall")) { ev.preventDefault(); showHelp(); }
});
