// Every string of the console, Vietnamese first, English available; dates
// in the site's time zone (Asia/Ho_Chi_Minh unless configured otherwise).
import { DICT } from "./dict.js";

let current = "vi";
let tz = "Asia/Ho_Chi_Minh";
const listeners = new Set();

export function lang() { return current; }
export function initLang(dflt) {
  const saved = localStorage.getItem("vigil.lang");
  current = saved === "en" || saved === "vi" ? saved : dflt === "en" ? "en" : "vi";
  document.documentElement.lang = current;
}
export function setLang(l) {
  if (l !== "vi" && l !== "en") return;
  current = l;
  localStorage.setItem("vigil.lang", l);
  document.documentElement.lang = l;
  listeners.forEach((fn) => fn(l));
}
export function onLang(fn) { listeners.add(fn); }
export function setTimezone(z) { tz = z; }
export function timezone() { return tz; }

// t looks key up in the current language (falling back to Vietnamese, then
// to the key itself, so a missing entry is visible) and fills {0}, {1}, …
export function t(key, ...args) {
  const s = DICT[current][key] ?? DICT.vi[key] ?? key;
  return s.replace(/\{(\d)\}/g, (_, i) => (args[i] === undefined ? "" : String(args[i])));
}

// langSwitch is the VI/EN toggle shown on every screen.
export function langSwitch() {
  const wrap = document.createElement("div");
  wrap.className = "langs";
  wrap.setAttribute("role", "group");
  wrap.setAttribute("aria-label", t("lang.label"));
  for (const l of ["vi", "en"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = "lang-" + l;
    b.lang = l;
    b.textContent = l.toUpperCase();
    b.title = DICT[l]["lang.name"];
    b.setAttribute("aria-label", DICT[l]["lang.name"]);
    b.setAttribute("aria-pressed", String(l === current));
    b.addEventListener("click", () => {
      setLang(l);
      wrap.querySelectorAll("button").forEach((x) => x.setAttribute("aria-pressed", String(x.lang === current)));
      wrap.setAttribute("aria-label", t("lang.label"));
      wrap.dispatchEvent(new CustomEvent("vigil-lang", { bubbles: true, detail: l }));
    });
    wrap.append(b);
  }
  return wrap;
}

const fmtCache = new Map();
function formatter(dateOnly) {
  const k = current + tz + dateOnly;
  if (!fmtCache.has(k)) {
    fmtCache.set(k, new Intl.DateTimeFormat(current === "vi" ? "vi-VN" : "en-GB", dateOnly
      ? { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }
      : { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }));
  }
  return fmtCache.get(k);
}

// fmtDate shows an instant (ISO string, ms or Date) in the site's zone.
export function fmtDate(v, dateOnly = false) {
  if (!v) return "";
  const d = v instanceof Date ? v : new Date(v);
  if (isNaN(d) || d.getUTCFullYear() < 1971) return "";
  return formatter(dateOnly).format(d);
}

// offsetAt is the zone's offset from UTC in ms at instant ms.
function offsetAt(ms) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" })
    .formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}

// fromZonedInput reads a datetime-local value as wall time in the site's
// zone and returns the ISO instant.
export function fromZonedInput(v) {
  const guess = Date.parse(v + (v.length === 16 ? ":00" : "") + "Z");
  let ms = guess - offsetAt(guess);
  ms = guess - offsetAt(ms); // settle across an offset change
  return new Date(ms).toISOString();
}

// toZonedInput is the inverse: an instant as a datetime-local value.
export function toZonedInput(v) {
  const ms = new Date(v).getTime();
  if (isNaN(ms) || ms < 86400000) return "";
  return new Date(ms + offsetAt(ms)).toISOString().slice(0, 19);
}
