// The site's REST API. Cookie session + CSRF header on unsafe requests;
// errors become ApiError {status, code, message, details}.
import { lang } from "./i18n.js";

let csrf = "";
export function setCSRF(t) { csrf = t || ""; }

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ("HTTP " + status));
    this.status = status;
    this.code = (body && body.code) || "";
    this.field = (body && body.field) || "";
    this.details = (body && body.details) || [];
  }
}

const listeners = new Set();
// onUnauthenticated(fn): fn runs when the server says the session is gone.
export function onUnauthenticated(fn) { listeners.add(fn); }

export async function api(method, path, body, opts = {}) {
  const headers = { "Accept": "application/json", "Accept-Language": lang() };
  let payload;
  if (body !== undefined && body !== null) {
    if (opts.contentType) { headers["Content-Type"] = opts.contentType; payload = body; }
    else { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  }
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch("/api/v1" + path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (_) { data = text; } }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !opts.quiet401) listeners.forEach((fn) => fn(err));
    throw err;
  }
  return data;
}

export const get = (p, o) => api("GET", p, null, o);
export const post = (p, b, o) => api("POST", p, b === undefined ? {} : b, o);
export const put = (p, b) => api("PUT", p, b);
export const del = (p) => api("DELETE", p);

// getAll pages through a list endpoint that answers {items, total}.
export async function getAll(path, max = 5000) {
  const out = [];
  const sep = path.includes("?") ? "&" : "?";
  for (let off = 0; off < max; ) {
    const page = await get(`${path}${sep}limit=500&offset=${off}`);
    out.push(...(page.items || []));
    off += (page.items || []).length;
    if (!page.items || !page.items.length || off >= page.total) break;
  }
  return out;
}

// exists tells whether the server knows an operation (routes added by other
// rooms appear in the OpenAPI document once they are built).
let openapi = null;
export async function hasRoute(method, path) {
  if (!openapi) {
    try { openapi = await get("/openapi.json"); } catch (_) { openapi = { paths: {} }; }
  }
  const p = openapi.paths && openapi.paths["/api/v1" + path];
  return !!(p && p[method.toLowerCase()]);
}
