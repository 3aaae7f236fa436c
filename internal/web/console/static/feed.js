// The live feed: the server's event stream (GET /api/v1/live/events) keeps
// the camera list and the statuses current without a reload, and tells when
// the server can no longer be heard. While it cannot, every status is
// "unknown" (the page cannot vouch for it) and a banner says so; when the
// server answers again the stream resumes by itself.
import { get } from "./api.js";
import { state, changed, loadInventory } from "./state.js";

const LOST_AFTER_CLOSED = 4000;   // not connected this long: lost
let es = null, timer = 0, lastHeard = 0, notOpenSince = 0, beatMS = 3000, fingerprint = "", reloading = null;
const watchers = new Set();

// onConnection(fn): fn(connected, since) when the server is lost or back.
export function onConnection(fn) { watchers.add(fn); return () => watchers.delete(fn); }

function setConnected(ok) {
  if (state.connected === ok) return;
  state.connected = ok;
  state.lostAt = ok ? 0 : Date.now();
  watchers.forEach((fn) => fn(ok, state.lostAt));
  changed();
}

async function reloadCameras() {
  // One reload at a time; a change during it reloads once more after.
  if (reloading) { reloading.again = true; return; }
  reloading = { again: false };
  try {
    do { reloading.again = false; await loadInventory(); } while (reloading.again);
  } catch (_) { /* the next registry event or reconnect tries again */ } finally { reloading = null; }
}

function registry(fp) {
  if (fp && fp !== fingerprint) { fingerprint = fp; reloadCameras(); }
}

function open() {
  if (es) es.close();
  es = new EventSource("/api/v1/live/events");
  notOpenSince = Date.now();
  const heard = () => { lastHeard = Date.now(); notOpenSince = 0; setConnected(true); };
  es.addEventListener("hello", (ev) => {
    const m = JSON.parse(ev.data);
    beatMS = m.heartbeat_ms || beatMS;
    state.status = new Map(Object.entries(m.status || {}));
    state.flags = new Map(Object.entries(m.flags || {}));
    heard();
    registry(m.registry);
    changed();
  });
  es.addEventListener("registry", (ev) => { heard(); registry(JSON.parse(ev.data).registry); });
  es.addEventListener("status", (ev) => {
    heard();
    for (const [id, st] of Object.entries(JSON.parse(ev.data))) {
      if (st) state.status.set(id, st); else state.status.delete(id);
    }
    changed();
  });
  es.addEventListener("flags", (ev) => {
    heard();
    for (const [id, f] of Object.entries(JSON.parse(ev.data))) {
      if (f) state.flags.set(id, f); else state.flags.delete(id);
    }
    changed();
  });
  es.addEventListener("ping", heard);
  es.addEventListener("error", async () => {
    if (!notOpenSince) notOpenSince = Date.now();
    if (es && es.readyState === EventSource.CLOSED) {
      // The server answered but refused the stream (e.g. the session
      // ended: /auth/me then signs the page out) or is gone: try again.
      es = null;
      try { await get("/auth/me"); } catch (_) { /* 401 signs out; anything else: still lost */ }
    }
  });
}

// startFeed opens the stream and watches it; stopFeed ends both.
export function startFeed() {
  stopFeed();
  state.connected = true;
  fingerprint = "";
  open();
  lastHeard = Date.now();
  timer = setInterval(() => {
    const now = Date.now();
    const quiet = now - lastHeard > 3 * beatMS;
    const closed = notOpenSince && now - notOpenSince > LOST_AFTER_CLOSED;
    if (quiet || closed) setConnected(false);
    // A stream the browser gave up on, or one silent past three beats
    // (a cut the socket did not notice), is opened anew.
    if (!es || (quiet && now - lastHeard > 4 * beatMS && es.readyState !== EventSource.CONNECTING)) open();
  }, 1000);
}

export function stopFeed() {
  clearInterval(timer);
  timer = 0;
  if (es) { es.close(); es = null; }
}
