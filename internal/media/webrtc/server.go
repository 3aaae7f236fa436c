// Package webrtc serves live camera streams to browsers over WebRTC, signalled
// with WHEP (RFC 9725): the browser POSTs an SDP offer, gets an SDP answer and a
// session resource it DELETEs when done.
//
// Each session is one hub reader (media.ReaderOpener.OpenReader), so every
// viewer is authorized and audited by the hub. H.264 is forwarded as is (no
// transcoding); G.711 audio too. H.265 and AAC are not playable in browsers'
// WebRTC stacks: H.265 main streams fall back to the sub stream when that one is
// H.264, AAC audio is dropped (docs/playback-compat.md).
package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/httpread"
)

// ICEServer is a STUN or TURN server handed to peers; real deployments behind
// NAT need one, the loopback tests and LAN sites do not.
type ICEServer struct {
	URLs       []string `json:"urls" yaml:"urls"`
	Username   string   `json:"username,omitempty" yaml:"username"`
	Credential string   `json:"credential,omitempty" yaml:"credential"`
}

// Config tunes the WHEP server. The zero value works on loopback and LAN.
type Config struct {
	// ICEServers are used by the server's ICE agent (srflx/relay candidates)
	// and advertised to clients in Link headers (OPTIONS/POST), as WHEP
	// suggests.
	ICEServers []ICEServer
	// NAT1To1IPs are public addresses announced instead of the host's own when
	// the server sits behind a 1:1 NAT (typical cloud VM). Empty: announce the
	// interface addresses.
	NAT1To1IPs []string
	// UDPPort, when > 0, multiplexes every session on this one UDP port so a
	// firewall needs a single rule. Zero: an ephemeral port per session.
	UDPPort int
	// HostIPFilter chooses which local addresses become host candidates.
	// Default: loopback and private (RFC 1918, ULA) addresses only, so a
	// server with a public interface does not leak it unless told to.
	HostIPFilter func(net.IP) bool
	// AllowedOrigins lists origins allowed by CORS ("*" for any). Tokens come
	// in a header, never a cookie, so "*" does not expose ambient credentials.
	AllowedOrigins []string
	// MaxSessions bounds concurrent sessions (default 256): each one costs a
	// UDP socket, a DTLS handshake and a hub reader.
	MaxSessions int
	// NoSubFallback disables the automatic switch from an H.265 main stream
	// to an H.264 sub stream.
	NoSubFallback bool
	// ConnectTimeout ends a session whose peer never connects (default 20 s),
	// so abandoned offers do not hold hub readers.
	ConnectTimeout time.Duration
	// OpenTimeout bounds waiting for the hub (camera connect, description).
	OpenTimeout time.Duration
	Logger      *slog.Logger
}

// Server is the WHEP endpoint; it implements http.Handler.
//
// Routes (the handler looks at the last path segments, so it can be mounted
// under any prefix such as /whep/):
//
//	OPTIONS /whep/{camera}/{variant}            CORS preflight, ICE servers in Link
//	POST    /whep/{camera}/{variant}            SDP offer → 201 SDP answer, Location
//	PATCH   /whep/{camera}/{variant}/{session}  trickle ICE (application/trickle-ice-sdpfrag)
//	DELETE  /whep/{camera}/{variant}/{session}  end the session
type Server struct {
	opener media.ReaderOpener
	cfg    Config
	api    *pwebrtc.API
	log    *slog.Logger
	udpMux interface{ Close() error }

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
}

// New builds the server. Close releases the shared UDP port, if any, and
// ends all sessions.
func New(opener media.ReaderOpener, cfg Config) (*Server, error) {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 256
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 20 * time.Second
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 15 * time.Second
	}
	if cfg.HostIPFilter == nil {
		cfg.HostIPFilter = LANOnly
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		opener:   opener,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "whep"),
		sessions: make(map[string]*session),
	}

	me := &pwebrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// NACK responder, RTCP sender reports and TWCC: loss repair without
	// transcoding is what keeps a forwarded stream watchable on Wi-Fi.
	if err := pwebrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("webrtc interceptors: %w", err)
	}

	se := pwebrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(cfg.HostIPFilter)
	// mDNS would open a multicast socket per session and is useless to a
	// server; browsers' .local candidates are learnt as peer-reflexive anyway.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, pwebrtc.ICECandidateTypeHost)
	}
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4, pwebrtc.NetworkTypeUDP6})
	if cfg.UDPPort > 0 {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: cfg.UDPPort})
		if err != nil {
			return nil, fmt.Errorf("webrtc: listen udp %d: %w", cfg.UDPPort, err)
		}
		mux := pwebrtc.NewICEUDPMux(nil, conn)
		se.SetICEUDPMux(mux)
		s.udpMux = mux
	}
	s.api = pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me), pwebrtc.WithInterceptorRegistry(ir), pwebrtc.WithSettingEngine(se))
	return s, nil
}

// LANOnly keeps loopback and private addresses: the default host-candidate
// filter.
func LANOnly(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate()
}

// registerCodecs offers only what we can forward without transcoding: H.264
// (packetization-mode 1, the usual browser profiles) and G.711.
func registerCodecs(me *pwebrtc.MediaEngine) error {
	fb := []pwebrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	pt := pwebrtc.PayloadType(102)
	for _, plid := range []string{"42e01f", "42001f", "4d001f", "64001f"} {
		err := me.RegisterCodec(pwebrtc.RTPCodecParameters{
			RTPCodecCapability: pwebrtc.RTPCodecCapability{
				MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid,
				RTCPFeedback: fb,
			},
			PayloadType: pt,
		}, pwebrtc.RTPCodecTypeVideo)
		if err != nil {
			return fmt.Errorf("register h264: %w", err)
		}
		pt++
	}
	for _, c := range []struct {
		mime string
		pt   pwebrtc.PayloadType
	}{{pwebrtc.MimeTypePCMU, 0}, {pwebrtc.MimeTypePCMA, 8}} {
		err := me.RegisterCodec(pwebrtc.RTPCodecParameters{
			RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: 8000, Channels: 1},
			PayloadType:        c.pt,
		}, pwebrtc.RTPCodecTypeAudio)
		if err != nil {
			return fmt.Errorf("register g711: %w", err)
		}
	}
	return nil
}

// Sessions reports how many WHEP sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close ends every session and stops accepting new ones.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close("server closing")
	}
	if s.udpMux != nil {
		_ = s.udpMux.Close()
	}
}

func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	if httpread.AllowOrigin(w, r, s.cfg.AllowedOrigins) {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "OPTIONS, POST, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, X-Vigil-Variant, X-Vigil-Audio")
		h.Set("Access-Control-Max-Age", "600")
	}
}

// ServeHTTP routes WHEP requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	camera, variant, sessionID, ok := ParsePath(r.URL.Path)
	if !ok {
		httpread.WriteError(w, http.StatusNotFound, "not_found", "expected /whep/{camera}/{main|sub}")
		return
	}
	switch {
	case r.Method == http.MethodOptions:
		s.linkICEServers(w)
		w.Header().Set("Accept-Post", "application/sdp")
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && sessionID == "":
		s.handleOffer(w, r, camera, variant)
	case r.Method == http.MethodDelete && sessionID != "":
		ss := s.lookup(camera, variant, sessionID)
		if ss == nil {
			httpread.WriteError(w, http.StatusNotFound, "not_found", "no such session")
			return
		}
		ss.close("client deleted session")
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPatch && sessionID != "":
		s.handlePatch(w, r, camera, variant, sessionID)
	default:
		w.Header().Set("Allow", "OPTIONS, POST, PATCH, DELETE")
		httpread.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" not allowed here")
	}
}

// ParsePath extracts {camera}/{variant}[/{session}] from the end of a WHEP
// path. The handler may be mounted under any prefix, so it only needs the path
// to contain a "whep" segment followed by these.
func ParsePath(p string) (camera string, variant media.Variant, session string, ok bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	i := -1
	for j, s := range segs {
		if s == "whep" {
			i = j
		}
	}
	rest := segs[i+1:]
	if len(rest) != 2 && len(rest) != 3 {
		return "", "", "", false
	}
	camera = rest[0]
	if camera == "" || len(camera) > 128 || strings.ContainsAny(camera, "\x00\\") {
		return "", "", "", false
	}
	switch media.Variant(rest[1]) {
	case media.Main, media.Sub:
		variant = media.Variant(rest[1])
	default:
		return "", "", "", false
	}
	if len(rest) == 3 {
		session = rest[2]
		if len(session) != 32 {
			return "", "", "", false
		}
		if _, err := hex.DecodeString(session); err != nil {
			return "", "", "", false
		}
	}
	return camera, variant, session, true
}

func (s *Server) linkICEServers(w http.ResponseWriter) {
	for _, is := range s.cfg.ICEServers {
		for _, u := range is.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if is.Username != "" {
				v += `; username="` + is.Username + `"; credential="` + is.Credential + `"; credential-type="password"`
			}
			w.Header().Add("Link", v)
		}
	}
}

func (s *Server) lookup(camera string, v media.Variant, id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil || ss.camera != camera || ss.variant != v {
		return nil
	}
	return ss
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// codecUnsupportedMsg is bilingual because it is shown as is by third-party
// players; the console translates by code.
const codecUnsupportedMsg = "Trình duyệt không phát được %s qua WebRTC; hãy xem luồng phụ (sub) hoặc dùng LL-HLS. " +
	"Browsers cannot play %s over WebRTC; watch the sub stream or use LL-HLS."

func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request, camera string, variant media.Variant) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/sdp") {
		httpread.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_content_type", "Content-Type must be application/sdp")
		return
	}
	token := httpread.Token(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		httpread.WriteError(w, http.StatusUnauthorized, "unauthorized", "Cần token truy cập. A bearer token is required.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		httpread.WriteError(w, http.StatusBadRequest, "bad_request", "cannot read offer")
		return
	}
	if len(body) > 64<<10 {
		httpread.WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "SDP offer larger than 64 KiB")
		return
	}
	offer := string(body)
	browserH264, err := offersH264(offer)
	if err != nil {
		httpread.WriteError(w, http.StatusBadRequest, "bad_sdp", "invalid SDP offer")
		return
	}

	s.mu.Lock()
	full := len(s.sessions) >= s.cfg.MaxSessions
	closed := s.closed
	s.mu.Unlock()
	if closed || full {
		w.Header().Set("Retry-After", "5")
		httpread.WriteError(w, http.StatusServiceUnavailable, "busy", "Máy chủ đang quá tải. Too many WebRTC sessions.")
		return
	}

	ss := newSession(s, camera, variant)
	req := media.ReadRequest{CameraID: camera, Variant: variant, Protocol: media.ProtoWebRTC, Token: token, Remote: r.RemoteAddr}
	octx, cancel := context.WithTimeout(r.Context(), s.cfg.OpenTimeout)
	defer cancel()

	h, err := s.opener.OpenReader(octx, req, ss)
	if err != nil {
		s.openError(w, camera, variant, err)
		return
	}
	pick := pickTracks(h.Session())
	if pick.video == nil && pick.videoCodec != "" && variant == media.Main && !s.cfg.NoSubFallback {
		// The main stream is H.265 (or another codec browsers do not take):
		// try the sub stream, which is usually H.264, before refusing.
		h.Close()
		ss = newSession(s, camera, media.Sub)
		req.Variant = media.Sub
		h, err = s.opener.OpenReader(octx, req, ss)
		if err != nil {
			s.openError(w, camera, media.Sub, err)
			return
		}
		p2 := pickTracks(h.Session())
		if p2.video == nil {
			h.Close()
			httpread.WriteError(w, http.StatusUnsupportedMediaType, "codec_unsupported", fmt.Sprintf(codecUnsupportedMsg, pick.videoCodec, pick.videoCodec))
			return
		}
		pick = p2
		w.Header().Set("X-Vigil-Variant", string(media.Sub))
	}
	if pick.video == nil {
		h.Close()
		name := pick.videoCodec
		if name == "" {
			name = "this stream (no video)"
		}
		httpread.WriteError(w, http.StatusUnsupportedMediaType, "codec_unsupported", fmt.Sprintf(codecUnsupportedMsg, name, name))
		return
	}
	if !browserH264 {
		h.Close()
		httpread.WriteError(w, http.StatusUnsupportedMediaType, "codec_unsupported",
			"Trình duyệt không hỗ trợ H.264 qua WebRTC; hãy dùng LL-HLS. The browser did not offer H.264; use LL-HLS.")
		return
	}
	if pick.audioNote != "" {
		w.Header().Set("X-Vigil-Audio", pick.audioNote)
	}

	answer, err := ss.start(octx, h, pick, offer)
	if err != nil {
		ss.close("setup failed")
		s.log.Warn("whep setup failed", "camera", camera, "variant", ss.variant, "remote", r.RemoteAddr, "err", err)
		httpread.WriteError(w, http.StatusBadRequest, "bad_sdp", "cannot negotiate: "+err.Error())
		return
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ss.close("server closing")
		httpread.WriteError(w, http.StatusServiceUnavailable, "busy", "server closing")
		return
	}
	s.sessions[ss.id] = ss
	s.mu.Unlock()

	s.log.Info("whep session started", "session", ss.id[:8], "camera", camera, "variant", ss.variant, "remote", r.RemoteAddr, "audio", pick.audioMime())
	s.linkICEServers(w)
	w.Header().Set("Location", locationFor(r, ss.variant, ss.id))
	w.Header().Set("ETag", `"`+ss.id[:8]+`"`)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// locationFor builds the session URL from the path the client used
// (RequestURI survives http.StripPrefix), so it is right whatever the mount.
func locationFor(r *http.Request, v media.Variant, id string) string {
	p := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		p = u.Path
	}
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[:i] // drop the requested variant: after a fallback it differs
	}
	return p + "/" + string(v) + "/" + id
}

func (s *Server) openError(w http.ResponseWriter, camera string, v media.Variant, err error) {
	switch {
	case errors.Is(err, media.ErrDenied):
		s.log.Info("whep denied", "camera", camera, "variant", v)
		httpread.WriteError(w, http.StatusForbidden, "forbidden", "Không có quyền xem camera này. Access to this camera is denied.")
	case httpread.WriteNotAudited(w, err):
		s.log.Warn("whep refused: not audited", "camera", camera, "variant", v, "err", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		httpread.WriteError(w, http.StatusGatewayTimeout, "stream_timeout", "Camera chưa sẵn sàng. The camera stream did not start in time.")
	default:
		s.log.Warn("whep open failed", "camera", camera, "variant", v, "err", err)
		httpread.WriteError(w, http.StatusServiceUnavailable, "stream_unavailable", "Không mở được luồng camera. The camera stream is unavailable.")
	}
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, camera string, v media.Variant, id string) {
	ss := s.lookup(camera, v, id)
	if ss == nil {
		httpread.WriteError(w, http.StatusNotFound, "not_found", "no such session")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		httpread.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_content_type", "Content-Type must be application/trickle-ice-sdpfrag")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	if err != nil {
		httpread.WriteError(w, http.StatusBadRequest, "bad_request", "cannot read body")
		return
	}
	frag, err := ParseSDPFrag(string(body))
	if err != nil {
		httpread.WriteError(w, http.StatusBadRequest, "bad_sdpfrag", err.Error())
		return
	}
	if frag.Ufrag != "" && ss.remoteUfrag != "" && frag.Ufrag != ss.remoteUfrag {
		// An ICE restart needs a new answer; clients fall back to a new POST.
		httpread.WriteError(w, http.StatusNotImplemented, "ice_restart_unsupported", "ICE restart is not supported; start a new session")
		return
	}
	for _, c := range frag.Candidates {
		mid := c.Mid
		if err := ss.pc.AddICECandidate(pwebrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: &mid}); err != nil {
			httpread.WriteError(w, http.StatusBadRequest, "bad_candidate", "cannot add candidate")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// offersH264 reports whether the offer has a video section accepting H.264.
func offersH264(offer string) (bool, error) {
	oi, err := parseOffer(offer)
	return oi.h264, err
}

// SDPFrag is a parsed application/trickle-ice-sdpfrag body (RFC 8840).
type SDPFrag struct {
	Ufrag      string
	Pwd        string
	Candidates []FragCandidate
}

// FragCandidate is one a=candidate line with the media it belongs to.
type FragCandidate struct {
	Mid       string
	Candidate string // without the "a=" prefix
}

// ParseSDPFrag parses a trickle ICE fragment. It is lenient about line endings
// and unknown lines (as RFC 8840 asks), strict about sizes.
func ParseSDPFrag(body string) (SDPFrag, error) {
	var f SDPFrag
	mid := ""
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if len(line) > 1024 {
			return SDPFrag{}, errors.New("line too long")
		}
		if strings.ContainsAny(line, "\r\x00") {
			return SDPFrag{}, errors.New("control character in line")
		}
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.Ufrag = line[len("a=ice-ufrag:"):]
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.Pwd = line[len("a=ice-pwd:"):]
		case strings.HasPrefix(line, "m="):
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = line[len("a=mid:"):]
		case strings.HasPrefix(line, "a=candidate:"):
			if len(f.Candidates) >= 64 {
				return SDPFrag{}, errors.New("too many candidates")
			}
			c := line[2:]
			if len(strings.Fields(c)) < 8 {
				return SDPFrag{}, errors.New("malformed candidate")
			}
			f.Candidates = append(f.Candidates, FragCandidate{Mid: mid, Candidate: c})
		}
	}
	return f, nil
}
