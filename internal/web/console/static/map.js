// The map: camera positions (WGS-84) projected with Web Mercator onto a plain
// background, or onto XYZ tiles when the site configures a tile server.
// Markers are focusable; Enter or click opens the camera on the live wall.
import { h, s, clear } from "./dom.js";
import { t } from "./i18n.js";
import { state, onChange } from "./state.js";
import { statusOf } from "./tree.js";

const TILE = 256;
const merc = (lat, lon, z) => {
  const n = TILE * 2 ** z;
  const x = ((lon + 180) / 360) * n;
  const r = (lat * Math.PI) / 180;
  const y = ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n;
  return [x, y];
};

export function mapView(main) {
  const W = 1000, H = 640, PAD = 60;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "map", id: "camera-map", role: "group", "aria-label": t("map.label") });
  const info = h("div", { class: "map-info", "aria-live": "polite" });
  const legend = h("ul", { class: "legend" }, ["online", "connecting", "offline", "unknown"].map((st) =>
    h("li", {}, h("span", { class: "dot " + st, "aria-hidden": "true" }), t("status." + st))));

  const draw = () => {
    clear(svg);
    const cams = state.cameras.filter((c) => c.lat || c.lon);
    svg.append(s("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }));
    if (!cams.length) { svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "map-empty" }, t("map.empty"))); return; }
    // Zoom: the largest that fits every camera inside the padding.
    let z = 18, pts;
    for (; z > 1; z--) {
      pts = cams.map((c) => merc(c.lat, c.lon, z));
      const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
      if (Math.max(...xs) - Math.min(...xs) <= W - 2 * PAD && Math.max(...ys) - Math.min(...ys) <= H - 2 * PAD) break;
    }
    pts = cams.map((c) => merc(c.lat, c.lon, z));
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const ox = (Math.min(...xs) + Math.max(...xs)) / 2 - W / 2, oy = (Math.min(...ys) + Math.max(...ys)) / 2 - H / 2;
    const tpl = state.settings.map_tile_url;
    if (tpl) {
      const g = s("g", { class: "tiles", "aria-hidden": "true" });
      for (let tx = Math.floor(ox / TILE); tx * TILE < ox + W; tx++) {
        for (let ty = Math.floor(oy / TILE); ty * TILE < oy + H; ty++) {
          const href = tpl.replace("{z}", z).replace("{x}", tx).replace("{y}", ty);
          g.append(s("image", { href, x: tx * TILE - ox, y: ty * TILE - oy, width: TILE, height: TILE }));
        }
      }
      svg.append(g);
    } else {
      // A light grid so distances read without tiles.
      const g = s("g", { class: "grid", "aria-hidden": "true" });
      for (let x = 0; x < W; x += 50) g.append(s("line", { x1: x, y1: 0, x2: x, y2: H }));
      for (let y = 0; y < H; y += 50) g.append(s("line", { x1: 0, y1: y, x2: W, y2: y }));
      svg.append(g);
    }
    cams.forEach((c, i) => {
      const [x, y] = [pts[i][0] - ox, pts[i][1] - oy];
      const st = statusOf(c.id);
      const lbl = `${c.name}, ${t("status." + st)}`;
      const m = s("g", { class: "marker " + st, tabindex: 0, role: "button", "aria-label": lbl, "data-camera": c.id, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` },
        s("title", {}, `${c.name}\n${c.address || ""}\n${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}`),
        s("circle", { r: 9 }), s("text", { x: 13, y: 4, class: "mlabel" }, c.name));
      const open = () => { state.pendingCamera = c.id; location.hash = "#/live"; };
      m.addEventListener("click", open);
      m.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
      m.addEventListener("focus", () => { info.textContent = `${c.name} — ${c.address || ""} (${t("status." + st)})`; });
      m.addEventListener("mouseenter", () => { info.textContent = `${c.name} — ${c.address || ""} (${t("status." + st)})`; });
      svg.append(m);
    });
    svg.append(s("text", { x: 10, y: H - 10, class: "map-note" }, tpl ? t("map.tiles") : t("map.noTiles")));
  };
  draw();
  const off = onChange(draw);
  main.append(h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, t("map.title")), legend), svg, info);
  return { el: main, dispose: off, onCamera: (id) => {
    const m = svg.querySelector(`[data-camera="${CSS.escape(id)}"]`);
    if (m) m.focus();
  } };
}
