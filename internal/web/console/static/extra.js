// Views that rest on rooms built by other issues (recording and playback,
// health and incidents): each is offered only when the server has its API.
import { hasRoute } from "./api.js";
import { playbackView } from "./playback.js";
import { incidentsView } from "./incidents.js";

let views = [];
export function extraViews() { return views; }

export async function detectExtras() {
  const out = [];
  if (await hasRoute("GET", "/recordings/timeline")) out.push({ id: "playback", label: "nav.playback", nav: true, tree: true, mount: (main) => playbackView(main) });
  if (await hasRoute("GET", "/incidents")) out.push({ id: "incidents", label: "nav.incidents", nav: true, tree: false, mount: (main) => incidentsView(main) });
  views = out;
}
