// Line icons drawn as SVG (the system fonts lack several symbols, and an
// icon font would be one more file to ship): stroke in the text colour.
import { s } from "./dom.js";

const PATHS = {
  fullscreen: "M3 9V3h6M21 9V3h-6M3 15v6h6M21 15v6h-6",
  popout: "M14 3h7v7M21 3l-9 9M19 14v6H4V5h6",
  snapshot: "M4 8h4l2-3h4l2 3h4v11H4zM12 10.5a3 3 0 1 0 0 6a3 3 0 1 0 0-6",
  replay: "M4 12a8 8 0 1 0 2.4-5.7M4 4v5h5",
  ptz: "M12 3v18M3 12h18M9 6l3-3 3 3M9 18l3 3 3-3M6 9l-3 3 3 3M18 9l3 3-3 3",
  bell: "M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0",
  bellOff: "M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0M3 3l18 18",
  star: "M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1L3.2 9.5l6.1-.9z",
  record: "M12 7a5 5 0 1 0 0 10a5 5 0 1 0 0-10",
  dome: "M4 10h16M6 10a6 6 0 0 0 12 0M12 12.5a1.5 1.5 0 1 0 0 .1",
  bullet: "M3 8h12l4-2v10l-4-2H3zM7 14v4",
  lock: "M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3",
  globe: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M3 12h18M12 3c3 3 3 15 0 18M12 3c-3 3-3 15 0 18",
  sun: "M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8M12 2v2M12 20v2M2 12h2M20 12h2M5 5l1.5 1.5M17.5 17.5L19 19M5 19l1.5-1.5M17.5 6.5L19 5",
  moon: "M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z",
  plus: "M12 5v14M5 12h14",
  minus: "M5 12h14",
};

export function icon(name, cls = "") {
  return s("svg", { class: "ic " + cls, viewBox: "0 0 24 24", width: "1em", height: "1em", "aria-hidden": "true", focusable: "false" },
    s("path", { d: PATHS[name] }));
}
