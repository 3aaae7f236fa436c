// The map: Leaflet with marker clustering (both vendored under vendor/,
// embedded in the binary), on an offline basemap of the province outlines
// shipped with the console; XYZ tiles from the site's tile server
// (web.map_tile_url) are laid over it only when one is configured, and a
// tile that fails is hidden and reported in one clear line, never shown as
// a broken image. Markers show each camera's status; a popup has a live
// thumbnail and the actions; Enter or a click on a marker opens the popup.
import { h, clear } from "./dom.js";
import { t } from "./i18n.js";
import { state, onChange, statusOf } from "./state.js";

const enc = encodeURIComponent;
let loading = null;

// loadLeaflet adds the vendored scripts and styles once (classic scripts:
// they define window.L).
function loadLeaflet() {
  if (loading) return loading;
  const css = (href) => document.head.append(h("link", { rel: "stylesheet", href }));
  const js = (src) => new Promise((resolve, reject) => {
    const s = h("script", { src });
    s.onload = resolve; s.onerror = () => reject(new Error("load " + src));
    document.head.append(s);
  });
  css("/ui/vendor/leaflet/leaflet.css");
  css("/ui/vendor/leaflet.markercluster/MarkerCluster.css");
  loading = js("/ui/vendor/leaflet/leaflet.js").then(() => js("/ui/vendor/leaflet.markercluster/leaflet.markercluster.js"));
  return loading;
}

let provinces = null;
const loadProvinces = () => (provinces = provinces || fetch("/ui/vendor/geo/vn-provinces.json").then((r) => r.json()));

export function mapView(main) {
  const box = h("div", { class: "map", id: "camera-map", role: "region", "aria-label": t("map.label") });
  const note = h("p", { class: "map-note", id: "map-note", "aria-live": "polite", hidden: true });
  const legend = h("ul", { class: "legend" }, ["online", "connecting", "idle", "offline", "unknown"].map((st) =>
    h("li", {}, h("span", { class: "dot " + st, "aria-hidden": "true" }), t("status." + st))));
  main.append(h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, t("map.title")), legend), box, note);

  let map = null, cluster = null, off = null, disposed = false;
  const markers = new Map(); // camera id → {marker, el, status, name}

  const open = (id, view) => { state.pendingCamera = id; location.hash = "#/" + view; };
  const popupOf = (c) => {
    const st = statusOf(c.id);
    return h("div", { class: "map-pop", dataset: { camera: c.id } },
      h("strong", {}, c.name),
      h("p", { class: "muted small" }, c.address || c.admin_unit || "", " · ", h("span", { class: "dot " + st, "aria-hidden": "true" }), " ", t("status." + st)),
      h("img", { class: "map-thumb", alt: t("map.thumb", c.name), src: `/api/v1/cameras/${enc(c.id)}/snapshot.jpg?variant=sub&t=${Date.now()}`,
        onerror: (ev) => { ev.target.hidden = true; } }),
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "primary", dataset: { act: "live" }, onclick: () => open(c.id, "live") }, t("tree.openLive")),
        h("button", { type: "button", dataset: { act: "playback" }, onclick: () => open(c.id, "playback") }, t("tree.openPlayback"))));
  };
  const iconOf = (c, st) => {
    const el = h("span", { class: "cam-marker " + st, dataset: { camera: c.id, status: st } }, h("span", { class: "pin" }), h("span", { class: "mlabel" }, c.name));
    return L.divIcon({ html: el, className: "marker", iconSize: null, iconAnchor: [9, 9] });
  };
  const sync = () => {
    if (!map) return;
    const cams = state.cameras.filter((c) => c.lat || c.lon);
    const seen = new Set();
    for (const c of cams) {
      seen.add(c.id);
      const st = statusOf(c.id);
      const m = markers.get(c.id);
      if (m && m.status === st && m.name === c.name && m.lat === c.lat && m.lon === c.lon) continue;
      if (m) cluster.removeLayer(m.marker);
      const marker = L.marker([c.lat, c.lon], { icon: iconOf(c, st), title: c.name, alt: `${c.name}, ${t("status." + st)}`, keyboard: true, riseOnHover: true });
      marker.vigilStatus = st;
      marker.bindPopup(() => popupOf(c), { minWidth: 240 });
      markers.set(c.id, { marker, status: st, name: c.name, lat: c.lat, lon: c.lon });
      cluster.addLayer(marker);
    }
    for (const [id, m] of markers) if (!seen.has(id)) { cluster.removeLayer(m.marker); markers.delete(id); }
    box.dataset.cameras = String(markers.size);
    if (!cams.length) { note.hidden = false; note.textContent = t("map.empty"); }
  };

  (async () => {
    try { await loadLeaflet(); } catch (e) { note.hidden = false; note.textContent = e.message; return; }
    if (disposed) return;
    map = L.map(box, { zoomControl: true, attributionControl: true, minZoom: 5, maxZoom: 19, worldCopyJump: false });
    map.attributionControl.setPrefix(false);
    L.control.scale({ imperial: false }).addTo(map);
    graticule(map);
    // Offline basemap: province outlines, the site's province stressed.
    map.createPane("outline").style.zIndex = 250;
    try {
      const geo = await loadProvinces();
      if (disposed) return;
      const mine = (state.settings.province || "").toLowerCase();
      const layer = L.geoJSON(geo, {
        pane: "outline", interactive: false,
        style: (f) => ({ className: "province" + (f.properties.name.toLowerCase() === mine ? " mine" : ""), weight: f.properties.name.toLowerCase() === mine ? 2.5 : 1 }),
        onEachFeature: (f, l) => l.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "province-label", interactive: false }),
      }).addTo(map);
      map.attributionControl.addAttribution(t("map.attribution"));
      box.dataset.basemap = String(geo.features.length);
      // Province names only where they can be read.
      const labels = () => box.classList.toggle("labels-on", map.getZoom() >= 7 && map.getZoom() <= 11);
      map.on("zoomend", labels);
      labels();
      if (!state.cameras.some((c) => c.lat || c.lon)) map.fitBounds(layer.getBounds());
    } catch (_) { /* the plain background remains */ }
    const tpl = state.settings.map_tile_url;
    if (tpl) {
      let failed = 0;
      L.tileLayer(tpl, { maxZoom: 19, crossOrigin: false, attribution: "" })
        .on("tileerror", (ev) => {
          ev.tile.classList.add("tile-failed"); // hidden by CSS: never a broken image
          if (++failed === 1) { note.hidden = false; note.textContent = t("map.tilesFailed"); box.dataset.tilesFailed = "true"; }
        })
        .on("tileload", () => { if (!failed) box.dataset.tilesLoaded = "true"; })
        .addTo(map);
    }
    cluster = L.markerClusterGroup({
      maxClusterRadius: 50, showCoverageOnHover: false, spiderfyOnMaxZoom: true,
      iconCreateFunction: (cl) => {
        const ms = cl.getAllChildMarkers();
        const online = ms.filter((m) => m.vigilStatus === "online").length;
        const worst = online === ms.length ? "online" : online === 0 ? "offline" : "mixed";
        const el = h("span", { class: "cluster " + worst, dataset: { count: ms.length, online } }, h("b", {}, String(ms.length)), h("small", {}, `${online}/${ms.length}`));
        return L.divIcon({ html: el, className: "marker-cluster", iconSize: L.point(46, 46) });
      },
    });
    map.addLayer(cluster);
    sync();
    const pts = [...markers.values()].map((m) => [m.lat, m.lon]);
    if (pts.length) map.fitBounds(pts, { padding: [40, 40], maxZoom: 16 });
    else if (!box.dataset.basemap) map.setView([21.39, 103.02], 8);
    off = onChange(sync);
    box.dataset.ready = "true";
  })();

  return {
    el: main,
    dispose() { disposed = true; if (off) off(); if (map) map.remove(); },
    onCamera(id) {
      const m = markers.get(id);
      if (!m || !map) return;
      cluster.zoomToShowLayer(m.marker, () => m.marker.openPopup());
    },
  };
}

// graticule draws lines of latitude and longitude across the view, about
// ten each way, so distances and bearings read on the plain basemap.
function graticule(map) {
  const layer = L.layerGroup().addTo(map);
  const steps = [5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001];
  const draw = () => {
    layer.clearLayers();
    const b = map.getBounds();
    const span = Math.max(b.getEast() - b.getWest(), b.getNorth() - b.getSouth());
    const step = steps.find((s) => span / s >= 6) || steps[steps.length - 1];
    const line = (pts) => layer.addLayer(L.polyline(pts, { className: "graticule", interactive: false, weight: 1 }));
    for (let x = Math.ceil(b.getWest() / step) * step; x <= b.getEast(); x += step) line([[b.getSouth(), x], [b.getNorth(), x]]);
    for (let y = Math.ceil(b.getSouth() / step) * step; y <= b.getNorth(); y += step) line([[y, b.getWest()], [y, b.getEast()]]);
  };
  map.on("moveend zoomend", draw);
  map.whenReady(draw);
}
