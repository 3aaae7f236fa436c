package webrtc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/vigil-vms/vigil/internal/media"
)

const (
	// queueLen absorbs the hub's GOP replay (a few seconds of video plus
	// audio) before the writer goroutine runs, and jitter afterwards.
	queueLen = 1024
	// maxPendingGOP bounds the units kept while ICE/DTLS connects; a longer
	// GOP is restarted from the next keyframe.
	maxPendingGOP = 600
	// rtpPayloadMax keeps packets under a 1280-byte path MTU after SRTP and
	// header extensions (TWCC).
	rtpPayloadMax = 1100
	// burstTick spaces the replayed GOP frames 1 ms apart (90 kHz clock) so
	// the browser decodes them back to back and shows the newest at once,
	// instead of replaying the last second in real time.
	burstTick = 90
)

// trackPick is what we forward from a stream's description.
type trackPick struct {
	video      *format.H264
	videoCodec string // first video codec seen, for error messages
	g711       *format.G711
	audioNote  string // why audio is absent, for X-Vigil-Audio
}

func (p trackPick) audioMime() string {
	switch {
	case p.g711 == nil:
		return "none"
	case p.g711.MULaw:
		return pwebrtc.MimeTypePCMU
	default:
		return pwebrtc.MimeTypePCMA
	}
}

func pickTracks(sd *description.Session) trackPick {
	var p trackPick
	if sd == nil {
		return p
	}
	for _, m := range sd.Medias {
		for _, f := range m.Formats {
			switch f := f.(type) {
			case *format.H264:
				if p.video == nil {
					p.video = f
					if p.videoCodec == "" {
						p.videoCodec = "H.264"
					}
				}
			case *format.H265:
				if p.videoCodec == "" {
					p.videoCodec = "H.265"
				}
			case *format.G711:
				// WebRTC's PCMU/PCMA are 8 kHz mono; anything else would
				// need resampling.
				if p.g711 == nil && f.SampleRate == 8000 && f.ChannelCount == 1 {
					p.g711 = f
				}
			case *format.MPEG4Audio:
				p.audioNote = "dropped; reason=aac-not-supported-in-webrtc"
			default:
				if m.Type == description.MediaTypeVideo && p.videoCodec == "" {
					p.videoCodec = f.Codec()
				}
			}
		}
	}
	if p.g711 != nil {
		p.audioNote = ""
	}
	return p
}

// boundTrack tells the writer when pion has bound the track to an SRTP
// stream: packets written earlier are silently discarded, and the first
// ones carry the keyframe.
type boundTrack struct {
	*pwebrtc.TrackLocalStaticRTP
	once  sync.Once
	bound chan struct{}
}

func (t *boundTrack) Bind(c pwebrtc.TrackLocalContext) (pwebrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticRTP.Bind(c)
	if err == nil {
		t.once.Do(func() { close(t.bound) })
	}
	return p, err
}

type session struct {
	srv     *Server
	id      string
	camera  string
	variant media.Variant
	created time.Time

	queue   chan *media.Unit
	dropped atomic.Int64

	// set by start, read by the writer goroutine it starts
	pc          *pwebrtc.PeerConnection
	handle      media.ReaderHandle
	pick        trackPick
	video       *boundTrack
	audio       *pwebrtc.TrackLocalStaticRTP
	enc         *rtph264.Encoder
	audioSeq    uint16
	remoteUfrag string

	done      chan struct{}
	closeOnce sync.Once
	firstSent chan struct{} // closed when the first video packet went out
	rtcpSeen  chan struct{} // closed on the first RTCP from the browser
}

func newSession(s *Server, camera string, v media.Variant) *session {
	return &session{
		srv:       s,
		id:        newID(),
		camera:    camera,
		variant:   v,
		created:   time.Now(),
		queue:     make(chan *media.Unit, queueLen),
		done:      make(chan struct{}),
		firstSent: make(chan struct{}),
		rtcpSeen:  make(chan struct{}),
	}
}

// OnUnit implements media.UnitReader. It never blocks: the hub's goroutine
// must not wait on a browser.
func (ss *session) OnUnit(u *media.Unit) {
	select {
	case ss.queue <- u:
	default:
		ss.dropped.Add(1)
	}
}

type offerInfo struct {
	h264, pcmu, pcma bool
	ufrag            string
}

func parseOffer(offer string) (offerInfo, error) {
	var oi offerInfo
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return oi, err
	}
	for _, a := range sd.Attributes {
		if a.Key == "ice-ufrag" {
			oi.ufrag = a.Value
		}
	}
	for _, md := range sd.MediaDescriptions {
		for _, a := range md.Attributes {
			if a.Key == "ice-ufrag" && oi.ufrag == "" {
				oi.ufrag = a.Value
			}
			if a.Key != "rtpmap" {
				continue
			}
			switch md.MediaName.Media {
			case "video":
				oi.h264 = oi.h264 || containsFold(a.Value, "H264/90000")
			case "audio":
				oi.pcmu = oi.pcmu || containsFold(a.Value, "PCMU/8000")
				oi.pcma = oi.pcma || containsFold(a.Value, "PCMA/8000")
			}
		}
	}
	return oi, nil
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			a, b := s[i+j], sub[j]
			if 'a' <= a && a <= 'z' {
				a -= 'a' - 'A'
			}
			if 'a' <= b && b <= 'z' {
				b -= 'a' - 'A'
			}
			if a != b {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// profileLevelID returns the fmtp profile-level-id matching the camera's SPS,
// so pion picks the browser payload type of the same profile.
func profileLevelID(f *format.H264) string {
	sps, _ := f.SafeParams()
	if len(sps) >= 4 {
		return hex.EncodeToString(sps[1:4])
	}
	return "42e01f"
}

// start negotiates the peer connection and starts forwarding. It returns the
// SDP answer with all host candidates (no server-side trickle).
func (ss *session) start(ctx context.Context, h media.ReaderHandle, pick trackPick, offer string) (string, error) {
	ss.handle = h
	ss.pick = pick
	oi, err := parseOffer(offer)
	if err != nil {
		return "", err
	}
	ss.remoteUfrag = oi.ufrag

	var ice []pwebrtc.ICEServer
	for _, is := range ss.srv.cfg.ICEServers {
		ice = append(ice, pwebrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	pc, err := ss.srv.api.NewPeerConnection(pwebrtc.Configuration{ICEServers: ice})
	if err != nil {
		return "", err
	}
	ss.pc = pc

	vt, err := pwebrtc.NewTrackLocalStaticRTP(pwebrtc.RTPCodecCapability{
		MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID(pick.video),
	}, "video", "vigil-"+ss.camera)
	if err != nil {
		return "", err
	}
	ss.video = &boundTrack{TrackLocalStaticRTP: vt, bound: make(chan struct{})}
	vs, err := pc.AddTrack(ss.video)
	if err != nil {
		return "", err
	}
	go drainRTCP(vs, ss.rtcpSeen)

	if pick.g711 != nil && ((pick.g711.MULaw && oi.pcmu) || (!pick.g711.MULaw && oi.pcma)) {
		at, err := pwebrtc.NewTrackLocalStaticRTP(pwebrtc.RTPCodecCapability{
			MimeType: pick.audioMime(), ClockRate: 8000, Channels: 1,
		}, "audio", "vigil-"+ss.camera)
		if err != nil {
			return "", err
		}
		as, err := pc.AddTrack(at)
		if err != nil {
			return "", err
		}
		ss.audio = at
		go drainRTCP(as, nil)
	}

	ss.enc = &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: rtpPayloadMax}
	if err := ss.enc.Init(); err != nil {
		return "", err
	}

	pc.OnConnectionStateChange(func(st pwebrtc.PeerConnectionState) {
		switch st {
		case pwebrtc.PeerConnectionStateFailed:
			ss.close("ice/dtls failed")
		case pwebrtc.PeerConnectionStateClosed:
			ss.close("peer connection closed")
		}
	})

	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("ice gathering: %w", ctx.Err())
	}

	go ss.run()
	go func() {
		t := time.NewTimer(ss.srv.cfg.ConnectTimeout)
		defer t.Stop()
		select {
		case <-ss.done:
		case <-ss.video.bound:
		case <-t.C:
			ss.close("peer did not connect in time")
		}
	}()
	go func() {
		select {
		case <-ss.done:
		case <-h.Done():
			// The grant was revoked or the stream went away: the browser
			// must stop receiving now, not at its next request.
			ss.close("reader ended (revoked or stream gone)")
		}
	}()
	return pc.LocalDescription().SDP, nil
}

func drainRTCP(s *pwebrtc.RTPSender, seen chan struct{}) {
	// Reading RTCP drives the interceptors (NACK, reports); PLIs cannot be
	// honoured without transcoding, the next camera keyframe answers them.
	buf := make([]byte, 1500)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
		if seen != nil {
			close(seen)
			seen = nil
		}
	}
}

// waitReceiver closes ready once the browser can take media: the track is
// bound (our DTLS/SRTP is up) and the browser has sent its first RTCP (its
// SRTP is up too). Chromium discards SRTP that arrives before its own
// handshake completes, and a lost replayed keyframe would cost a whole GOP
// (it answers with PLIs we cannot honour without transcoding). The RTCP wait
// is capped (receiverWait) since Chromium sends none before it gets RTP.
func (ss *session) waitReceiver(ready chan struct{}) {
	select {
	case <-ss.video.bound:
	case <-ss.done:
		return
	}
	t := time.NewTimer(receiverWait)
	defer t.Stop()
	select {
	case <-ss.rtcpSeen:
	case <-t.C:
	case <-ss.done:
		return
	}
	close(ready)
}

// close ends the session once: hub reader (which ends the audit session),
// peer connection, registry entry.
func (ss *session) close(reason string) {
	ss.closeOnce.Do(func() {
		close(ss.done)
		if ss.handle != nil {
			ss.handle.Close()
		}
		srv := ss.srv
		srv.mu.Lock()
		if srv.sessions[ss.id] == ss {
			delete(srv.sessions, ss.id)
		}
		srv.mu.Unlock()
		if ss.pc != nil {
			// pion may call us from its own callbacks; closing there would
			// wait on itself.
			go func() { _ = ss.pc.Close() }()
		}
		srv.log.Info("whep session ended", "session", ss.id[:8], "camera", ss.camera, "variant", ss.variant,
			"reason", reason, "duration", time.Since(ss.created).Round(time.Millisecond), "dropped_units", ss.dropped.Load())
	})
}

// run is the session's writer: it keeps the GOP replayed by the hub until the
// browser is connected, sends it compressed in time, then forwards live.
func (ss *session) run() {
	var pending []*media.Unit
	ready := make(chan struct{})
	go ss.waitReceiver(ready)
	bound := (<-chan struct{})(ready)
	live := false
	needKey := false
	var lastDropped int64
	for {
		select {
		case <-ss.done:
			return
		case <-bound:
			bound = nil
			live = true
			n := len(pending)
			for i, u := range pending {
				ts := pending[n-1].PTS - int64(n-1-i)*burstTick
				if err := ss.writeVideo(u, ts); err != nil {
					ss.close("write: " + err.Error())
					return
				}
			}
			pending = nil
		case u := <-ss.queue:
			if d := ss.dropped.Load(); d != lastDropped {
				// Units were lost: the decoder would show corruption until
				// the next keyframe, so wait for it.
				lastDropped = d
				needKey = true
				pending = nil
			}
			switch {
			case ss.pick.video != nil && u.Format == format.Format(ss.pick.video):
				if !live {
					switch {
					case u.RandomAccess:
						pending = append(pending[:0], u)
					case len(pending) > 0 && len(pending) < maxPendingGOP:
						pending = append(pending, u)
					default:
						pending = nil
					}
					continue
				}
				if needKey {
					if !u.RandomAccess {
						continue
					}
					needKey = false
				}
				if err := ss.writeVideo(u, u.PTS); err != nil {
					ss.close("write: " + err.Error())
					return
				}
			case ss.audio != nil && u.Format == format.Format(ss.pick.g711):
				// Audio starts with live video; replayed audio would only
				// play out of sync.
				if live && !needKey {
					ss.writeAudio(u)
				}
			}
		}
	}
}

// prepareAU drops NAL units browsers do not need and makes every IDR
// self-contained: WebRTC has no out-of-band parameter sets, so SPS/PPS must
// precede the IDR in band.
func prepareAU(au [][]byte, random bool, sps, pps []byte) [][]byte {
	out := make([][]byte, 0, len(au)+2)
	hasSPS, hasPPS := false, false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 7:
			hasSPS = true
		case 8:
			hasPPS = true
		case 9, 12: // access unit delimiter, filler
			continue
		}
		out = append(out, n)
	}
	if random && (!hasSPS || !hasPPS) && len(sps) > 0 && len(pps) > 0 {
		pre := make([][]byte, 0, len(out)+2)
		if !hasSPS {
			pre = append(pre, sps)
		}
		if !hasPPS {
			pre = append(pre, pps)
		}
		out = append(pre, out...)
	}
	return out
}

func (ss *session) writeVideo(u *media.Unit, ts int64) error {
	sps, pps := ss.pick.video.SafeParams()
	au := prepareAU(u.AU, u.RandomAccess, sps, pps)
	if len(au) == 0 {
		return nil
	}
	pkts, err := ss.enc.Encode(au)
	if err != nil {
		return nil // a malformed AU is skipped, not fatal
	}
	for _, p := range pkts {
		p.Timestamp = uint32(ts)
		if err := ss.video.WriteRTP(p); err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				return err
			}
		}
	}
	select {
	case <-ss.firstSent:
	default:
		close(ss.firstSent)
	}
	return nil
}

// g711Chunk is 60 ms at 8 kHz: small enough for any MTU.
const g711Chunk = 480

func (ss *session) writeAudio(u *media.Unit) {
	payload := u.Payload
	if len(payload) == 0 && len(u.AU) > 0 {
		for _, a := range u.AU {
			payload = append(payload, a...)
		}
	}
	for off := 0; off < len(payload); off += g711Chunk {
		end := min(off+g711Chunk, len(payload))
		p := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: ss.audioSeq, Timestamp: uint32(u.PTS + int64(off))},
			Payload: payload[off:end],
		}
		ss.audioSeq++
		_ = ss.audio.WriteRTP(p)
	}
}

// receiverWait caps the wait for the browser's first RTCP. Chromium sends
// none before it receives RTP, so in practice this is a fixed grace period:
// measured on loopback, 0 ms made Chromium miss the replayed keyframe (PLIs,
// first picture one GOP later) while 30 ms and more never did.
const receiverWait = 60 * time.Millisecond
