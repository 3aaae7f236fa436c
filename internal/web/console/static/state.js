// Shared state of the page: who is signed in, the site settings, the cameras
// the user may watch, their systems and the live stream states.
import { getAll } from "./api.js";

export const state = {
  settings: {},
  me: null,          // /auth/me answer
  cameras: [],       // cameras the user may watch
  systems: new Map(),
  orgs: new Map(),
  status: new Map(), // camera id → online|offline|connecting|idle (from the live feed)
  flags: new Map(),  // camera id → "ptz rec" (from the live feed)
  connected: true,   // false while the server cannot be heard (feed.js)
  lostAt: 0,
  listeners: new Set(),
};

export function can(perm) { return !!(state.me && state.me.site_permissions.includes(perm)); }
export function highest() { return !!(state.me && state.me.highest_access); }
export function userKey() { return state.me ? state.me.user.user_id : "anon"; }

// managedSystems are this site's systems whose cameras the user may
// register: all of them for registry managers, else those of the user's
// organisation.
export function managedSystems() {
  // A lower site's systems (tier 1 holds them for the federation) are
  // managed at that site: their cameras arrive from it.
  const here = state.settings.site_id;
  const all = [...state.systems.values()].filter((s) => !s.site_id || s.site_id === here);
  if (can("manage-registry")) return all;
  const org = state.me && state.me.user.org_id;
  return all.filter((s) => s.managing_org_id === org || s.operating_org_id === org);
}

export function changed() { state.listeners.forEach((fn) => fn()); }
export function onChange(fn) { state.listeners.add(fn); return () => state.listeners.delete(fn); }

export async function loadInventory() {
  const [cams, systems, orgs] = await Promise.all([
    getAll("/cameras"), getAll("/systems"), getAll("/organisations"),
  ]);
  state.cameras = cams;
  state.systems = new Map(systems.map((s) => [s.id, s]));
  state.orgs = new Map(orgs.map((o) => [o.id, o]));
  changed();
}

// statusOf is a camera's status as the server last reported it, or
// "unknown" while the server cannot be heard.
export function statusOf(id) { return (state.connected && state.status.get(id)) || "unknown"; }

export function camera(id) { return state.cameras.find((c) => c.id === id); }
