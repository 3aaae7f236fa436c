// Vigil live player: WHEP (WebRTC) first; LL-HLS where the browser plays HLS
// natively (Safari/iOS). No third-party code: other browsers get a note.
const t0 = performance.now();
const q = new URLSearchParams(location.search);
const camera = q.get("camera") || "";
const variant = q.get("variant") === "sub" ? "sub" : "main";
const token = q.get("token") || "";
const lang = q.get("lang") === "en" ? "en" : "vi";

const T = {
  vi: {
    connecting: "Đang kết nối…",
    playing: (v, p) => `Đang phát (${p}, luồng ${v === "sub" ? "phụ" : "chính"})`,
    noCamera: "Thiếu tham số camera.",
    forbidden: "Không có quyền xem camera này.",
    unauthorized: "Cần đăng nhập hoặc token hợp lệ.",
    codec: "Trình duyệt không phát được mã hoá của luồng này qua WebRTC.",
    ended: "Phiên xem đã kết thúc.",
    failed: "Không kết nối được luồng trực tiếp.",
    hlsNote: "Trình duyệt này không phát LL-HLS trực tiếp (cần Safari). Địa chỉ LL-HLS: ",
    trySub: "Thử luồng phụ",
  },
  en: {
    connecting: "Connecting…",
    playing: (v, p) => `Playing (${p}, ${v} stream)`,
    noCamera: "Missing camera parameter.",
    forbidden: "You may not view this camera.",
    unauthorized: "A valid login or token is required.",
    codec: "This browser cannot play this stream's codec over WebRTC.",
    ended: "The viewing session ended.",
    failed: "Could not connect to the live stream.",
    hlsNote: "This browser does not play LL-HLS natively (Safari does). LL-HLS address: ",
    trySub: "Try the sub stream",
  },
}[lang];
document.documentElement.lang = lang;

const video = document.getElementById("video");
const statusEl = document.getElementById("status");
const noteEl = document.getElementById("note");

// window.vigilPlayer is read by the end-to-end tests and the benchmark.
const state = (window.vigilPlayer = { state: "idle", protocol: "", ttffMs: null, error: "", marks: {} });
const mark = (name) => { state.marks[name] = Math.round(performance.now() - t0); };

function setStatus(s, text) {
  state.state = s;
  statusEl.dataset.state = s;
  statusEl.textContent = text;
}

function note(text) {
  noteEl.hidden = false;
  noteEl.textContent = text;
}

const enc = encodeURIComponent;
const whepURL = `/whep/${enc(camera)}/${variant}`;
const hlsURL = `/hls/${enc(camera)}/${variant}/index.m3u8` + (token ? `?token=${enc(token)}` : "");

let sessionURL = "";
let pc = null;

function firstFrame(proto) {
  const done = () => {
    if (state.ttffMs === null) state.ttffMs = Math.round(performance.now() - t0);
    if (pc) pc.getStats().then((st) => st.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        state.stats = { pli: r.pliCount, nack: r.nackCount, fir: r.firCount, decoded: r.framesDecoded, keyframes: r.keyFramesDecoded, dropped: r.framesDropped, lost: r.packetsLost, jbDelay: r.jitterBufferDelay, jbEmitted: r.jitterBufferEmittedCount };
      }
    }));
    setStatus("playing", T.playing(state.variant || variant, proto));
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(done);
  else video.addEventListener("playing", done, { once: true });
}

function waitGathering(pc) {
  // Non-trickle WHEP: send all candidates in the offer. Host candidates on a
  // LAN arrive in milliseconds; STUN may take longer, so cap the wait.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

async function playWebRTC() {
  pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (ev) => {
    stream.addTrack(ev.track);
    if (video.srcObject !== stream) video.srcObject = stream;
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") mark("connected");
    if (pc.connectionState === "failed" || pc.connectionState === "closed") {
      setStatus("ended", T.ended);
    }
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await waitGathering(pc);
  mark("gathered");
  const headers = { "Content-Type": "application/sdp" };
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(whepURL, { method: "POST", headers, body: pc.localDescription.sdp });
  if (res.status !== 201) {
    let body = {};
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    const err = new Error(body.message || res.statusText);
    err.status = res.status;
    err.code = body.code || "";
    throw err;
  }
  sessionURL = res.headers.get("Location") || "";
  state.variant = res.headers.get("X-Vigil-Variant") || variant;
  mark("answered");
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  state.protocol = "webrtc";
  firstFrame("WebRTC");
  // ICE consent failure (revoked grant, server gone) ends the session: the
  // server closes the peer connection, which the browser sees as failed or
  // as the track ending.
  video.addEventListener("emptied", () => setStatus("ended", T.ended));
}

function playHLS() {
  if (!video.canPlayType("application/vnd.apple.mpegurl")) {
    note(T.hlsNote + location.origin + hlsURL);
    return false;
  }
  video.src = hlsURL;
  state.protocol = "hls";
  firstFrame("LL-HLS");
  return true;
}

function stop() {
  if (sessionURL) {
    // keepalive lets the DELETE outlive the page; the server also ends the
    // session on ICE timeout, so a lost DELETE only delays the audit end.
    fetch(sessionURL, { method: "DELETE", keepalive: true }).catch(() => {});
    sessionURL = "";
  }
  if (pc) pc.close();
}
window.addEventListener("pagehide", stop);

async function main() {
  if (!camera) { setStatus("error", T.noCamera); return; }
  setStatus("connecting", T.connecting);
  try {
    await playWebRTC();
  } catch (e) {
    state.error = e.code || String(e);
    if (e.status === 403) { setStatus("error", T.forbidden); return; }
    if (e.status === 401) { setStatus("error", T.unauthorized); return; }
    if (pc) pc.close();
    if (e.code === "codec_unsupported") {
      setStatus("error", T.codec);
      note(e.message);
    } else {
      setStatus("error", T.failed);
    }
    playHLS();
  }
}

main();
