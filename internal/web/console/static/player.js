// LivePlayer plays one camera in one <video>: WebRTC over WHEP first (the
// same exchange as the /player page), LL-HLS when WebRTC cannot carry the
// stream and the browser plays HLS natively. Sessions are authorised by a
// short-lived stream token the API issues per camera and variant.
import { post } from "./api.js";

function waitGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

export const canNativeHLS = () => {
  const v = document.createElement("video");
  return !!v.canPlayType("application/vnd.apple.mpegurl");
};

export class LivePlayer {
  // onState(state, info): state is connecting | playing | error | ended | idle.
  constructor(video, onState) {
    this.video = video;
    this.onState = onState || (() => {});
    this.pc = null;
    this.session = "";
    this.gen = 0;
    this.protocol = "";
  }

  async start(camera, variant) {
    this.stop();
    const gen = ++this.gen;
    const alive = () => gen === this.gen;
    this.onState("connecting", {});
    let tok;
    try {
      tok = await post(`/cameras/${encodeURIComponent(camera)}/stream-token`, { variant });
    } catch (e) {
      if (alive()) this.onState("error", { code: e.status === 403 ? "forbidden" : "failed", message: e.message });
      return;
    }
    if (!alive()) return;
    try {
      await this.webrtc(tok, alive);
    } catch (e) {
      if (!alive()) return;
      if (this.pc) { this.pc.close(); this.pc = null; }
      if (e.status === 403 || e.status === 401) { this.onState("error", { code: "forbidden", message: e.message }); return; }
      if (canNativeHLS()) { this.hls(tok); return; }
      this.onState("error", { code: e.code === "codec_unsupported" ? "codec" : "failed", message: e.message });
    }
  }

  async webrtc(tok, alive) {
    const pc = (this.pc = new RTCPeerConnection());
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (ev) => {
      stream.addTrack(ev.track);
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
    };
    pc.onconnectionstatechange = () => {
      if (!alive()) return;
      if (pc.connectionState === "failed" || pc.connectionState === "closed") this.onState("ended", {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathering(pc);
    if (!alive()) { pc.close(); return; }
    const res = await fetch(tok.whep_url, {
      method: "POST", body: pc.localDescription.sdp,
      headers: { "Content-Type": "application/sdp", Authorization: "Bearer " + tok.token },
    });
    if (res.status !== 201) {
      let body = {};
      try { body = await res.json(); } catch (_) { /* not JSON */ }
      const err = new Error(body.message || res.statusText);
      err.status = res.status; err.code = body.code || "";
      throw err;
    }
    this.session = res.headers.get("Location") || "";
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    if (!alive()) { this.stop(); return; }
    this.protocol = "webrtc";
    this.firstFrame(alive, "WebRTC");
  }

  hls(tok) {
    this.protocol = "hls";
    this.video.src = tok.hls_url;
    this.firstFrame(() => true, "LL-HLS");
  }

  firstFrame(alive, proto) {
    const v = this.video;
    const done = () => { if (alive()) this.onState("playing", { protocol: proto }); };
    if ("requestVideoFrameCallback" in v) v.requestVideoFrameCallback(done);
    else v.addEventListener("playing", done, { once: true });
    v.play().catch(() => { /* autoplay of a muted video is allowed; retry on user input */ });
  }

  stop() {
    this.gen++;
    if (this.session) {
      fetch(this.session, { method: "DELETE", keepalive: true }).catch(() => {});
      this.session = "";
    }
    if (this.pc) { this.pc.close(); this.pc = null; }
    const v = this.video;
    v.srcObject = null;
    if (v.getAttribute("src")) { v.removeAttribute("src"); v.load(); }
    this.protocol = "";
  }
}

// Stop every session when the page goes away.
const all = new Set();
export function track(p) { all.add(p); return p; }
export function untrack(p) { all.delete(p); }
window.addEventListener("pagehide", () => all.forEach((p) => p.stop()));
