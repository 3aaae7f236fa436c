// Vigil operator console: boot, sign-in, the shell (header, camera tree,
// views chosen by the #fragment), the idle timeout and the language switch.
import { h, clear, toast } from "./dom.js";
import { t, setLang, lang, onLang, langSwitch, initLang, setTimezone } from "./i18n.js";
import { get, post, setCSRF, onUnauthenticated } from "./api.js";
import { state, can, loadInventory } from "./state.js";
import { startFeed, stopFeed, onConnection } from "./feed.js";
import { fmtDate } from "./i18n.js";
import { icon } from "./icons.js";
import { showLogin } from "./login.js";
import { cameraTree } from "./tree.js";
import { liveView } from "./live.js";
import { mapView } from "./map.js";
import { adminView, adminSections } from "./admin.js";
import { auditView } from "./audit.js";
import { accountView } from "./account.js";
import { reportView, canReport } from "./ops.js";
import { extraViews, detectExtras } from "./extra.js";

const root = document.getElementById("app");
let current = null;       // the mounted view: {el, dispose?, onCamera?}
let idle = null;

async function boot() {
  try { state.settings = await (await fetch("/ui/settings.json")).json(); } catch (_) { state.settings = {}; }
  setTimezone(state.settings.timezone || "Asia/Ho_Chi_Minh");
  initLang(state.settings.language || "vi");
  document.title = state.settings.site_name ? `Vigil – ${state.settings.site_name}` : "Vigil";
  onLang(() => { if (state.me) renderShell(); });
  onUnauthenticated(() => signedOut(t("session.expired")));
  try {
    const me = await get("/auth/me", { quiet401: true });
    if (me.user && !me.user.must_change && !me.user.must_enroll_totp) { await signedIn(me); return; }
  } catch (_) { /* not signed in */ }
  await login();
}

async function login(notice) {
  state.me = null;
  await showLogin(root, notice);
  await signedIn(await get("/auth/me"));
}

async function signedIn(me) {
  state.me = me;
  setCSRF(me.csrf_token);
  root.setAttribute("aria-busy", "true");
  try { await Promise.all([loadInventory(), detectExtras()]); } catch (e) { toast(e.message, "error"); }
  renderShell();
  startIdle();
  startFeed();
}

// The banner shown while the server cannot be heard: statuses are greyed
// (unknown) meanwhile; it goes away by itself when the server answers.
const banner = document.createElement("div");
banner.id = "conn-banner";
banner.setAttribute("role", "alert");
banner.hidden = true;
document.body.prepend(banner);
function drawBanner() {
  banner.hidden = state.connected || !state.me;
  banner.textContent = banner.hidden ? "" : t("conn.lost", fmtDate(new Date(state.lostAt)));
  document.body.classList.toggle("disconnected", !banner.hidden);
}
onConnection(drawBanner);
onLang(drawBanner);

function signedOut(notice) {
  if (!state.me) return;
  stopFeed();
  state.connected = true;
  state.me = null;
  drawBanner();
  if (idle) idle.stop();
  if (current && current.dispose) current.dispose();
  current = null;
  login(notice);
}

export async function logout(notice) {
  try { await post("/auth/logout"); } catch (_) { /* the session may be gone already */ }
  signedOut(notice || t("session.loggedOut"));
}

// The idle timer: any input resets it; a minute before the end a warning
// says how to stay; at the end the page signs out (the server's own idle
// limit ends the session too).
function startIdle() {
  if (idle) idle.stop();
  const limit = (state.settings.idle_seconds || 1800) * 1000;
  let last = Date.now(), warned = false;
  const bump = () => { last = Date.now(); if (warned) { warned = false; toast(t("session.extended")); } };
  const evs = ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"];
  evs.forEach((e) => window.addEventListener(e, bump, { passive: true }));
  const timer = setInterval(() => {
    const left = limit - (Date.now() - last);
    if (left <= 0) { logout(t("session.idle")); return; }
    if (left <= 60000 && !warned) { warned = true; toast(t("session.idleWarn"), "warn"); }
  }, 1000);
  idle = { stop() { clearInterval(timer); evs.forEach((e) => window.removeEventListener(e, bump)); } };
}

// The theme: dark by default on the wall (live view, pop-outs), light
// elsewhere; the switch in the header changes the one of the current kind
// of page, per browser.
function themeKey(wall) { return wall ? "vigil.theme.wall" : "vigil.theme.rest"; }
function themeOf(wall) {
  const v = localStorage.getItem(themeKey(wall));
  return v === "dark" || v === "light" ? v : wall ? "dark" : "light";
}

function navItems() {
  const items = [
    { id: "live", label: t("nav.live") },
    { id: "map", label: t("nav.map") },
    ...extraViews().filter((v) => v.nav).map((v) => ({ id: v.id, label: t(v.label) })),
  ];
  if (adminSections().length) items.push({ id: "admin", label: t("nav.admin") });
  if (can("read-audit")) items.push({ id: "audit", label: t("nav.audit") });
  if (canReport()) items.push({ id: "report", label: t("nav.report") });
  return items;
}

function route() {
  const frag = location.hash.replace(/^#\/?/, "");
  const [view, ...rest] = frag.split("/");
  return { view: view || "live", rest };
}

function renderShell() {
  if (current && current.dispose) current.dispose();
  current = null;
  const me = state.me;
  const r = route();
  const nav = h("nav", { class: "mainnav", "aria-label": t("nav.label") },
    h("ul", {}, navItems().map((it) => h("li", {},
      h("a", { href: "#/" + it.id, id: "nav-" + it.id, "aria-current": r.view === it.id ? "page" : false }, it.label)))));
  const wallView = r.view === "live" || r.view === "popout";
  const theme = themeOf(wallView);
  document.documentElement.dataset.theme = theme;
  const themeBtn = h("button", { type: "button", id: "theme-toggle", dataset: { theme },
    title: t("theme.dark"), "aria-label": t("theme.dark"), onclick: () => {
      localStorage.setItem(themeKey(wallView), theme === "dark" ? "light" : "dark");
      renderShell();
    } }, icon(theme === "dark" ? "sun" : "moon"));
  const userBox = h("div", { class: "userbox" },
    themeBtn,
    langSwitch(),
    h("a", { href: "#/account", class: "user", id: "user-name", title: t("nav.account") }, me.user.username),
    h("button", { type: "button", id: "logout", onclick: () => logout() }, t("nav.logout")));
  const header = h("header", { class: "top" },
    h("a", { href: "#/live", class: "brand" }, h("img", { src: "/ui/icon.svg", alt: "", width: 28, height: 28 }),
      h("span", {}, h("strong", {}, "Vigil"), " ", h("span", { class: "site" }, state.settings.site_name || ""))),
    nav, userBox);
  const main = h("main", { id: "main", tabindex: "-1" });
  if (r.view === "popout") {
    // A pop-out window (a second monitor): the cameras only.
    clear(root).append(main);
    root.removeAttribute("aria-busy");
    document.documentElement.lang = lang();
    current = liveView(main, { popout: true, cameras: r.rest.map(decodeURIComponent) });
    return;
  }
  const withTree = ["live", "map"].includes(r.view) || extraViews().some((v) => v.id === r.view && v.tree);
  const layout = h("div", { class: "layout" + (withTree ? "" : " no-tree") });
  if (withTree) layout.append(h("aside", { class: "side", "aria-label": t("tree.label") }, cameraTree({
    onPick: (id) => current && current.onCamera && current.onCamera(id),
  })));
  layout.append(main);
  clear(root).append(header, layout);
  root.removeAttribute("aria-busy");
  document.documentElement.lang = lang();
  document.getElementById("skip-link").textContent = t("nav.skip");
  current = mount(r, main) || { el: main };
  // A camera chosen elsewhere (the tree's menu, the map) for this view.
  if (state.pendingCamera && current.onCamera) { const id = state.pendingCamera; state.pendingCamera = ""; current.onCamera(id); }
}

function mount(r, main) {
  switch (r.view) {
    case "live": return liveView(main);
    case "map": return mapView(main);
    case "admin": return adminView(main, r.rest[0], r.rest.slice(1));
    case "report": return canReport() ? reportView(main) : denied(main);
    case "audit": return can("read-audit") ? auditView(main) : denied(main);
    case "account": return accountView(main);
  }
  const x = extraViews().find((v) => v.id === r.view);
  if (x) return x.mount(main, r.rest);
  main.append(h("h1", {}, t("nav.notFound")));
  return null;
}

function denied(main) { main.append(h("p", { class: "error" }, t("err.forbidden"))); return null; }

window.addEventListener("hashchange", () => { if (state.me) renderShell(); });
window.vigilConsole = { state, setLang, logout };
boot();
