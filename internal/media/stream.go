package media

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
)

// Stream statuses (State.Status).
const (
	StatusIdle       = "idle"
	StatusConnecting = "connecting"
	StatusOnline     = "online"
	StatusOffline    = "offline"
)

// Limits of the GOP cache: a camera with a huge keyframe interval must not
// make the hub hold minutes of video per stream.
const (
	maxGOPFrames = 1500
	maxGOPBytes  = 32 << 20
)

var errIdle = errors.New("no reader left")

// track is one hub-side elementary stream. Its Media/Format objects are what
// readers see; they survive upstream reconnects as long as the camera keeps
// the same layout, so readers are not disturbed by a reconnect.
type track struct {
	idx       int
	media     *description.Media
	format    format.Format
	clockRate int
	video     bool
	codec     string
	// encode re-packetises a unit for the RTSP re-stream, once for all RTSP
	// readers. Owning the packetiser gives readers continuous sequence numbers
	// and timestamps across camera reconnects, and caps packet sizes whatever
	// the camera sent.
	encode  func(u *Unit) ([]*rtp.Packet, error)
	rtpBase uint32
	lastPTS int64 // hub PTS of the last unit, in clockRate
}

// frame is a unit plus its RTP packets, shared read-only by all readers.
type frame struct {
	u    *Unit
	t    *track
	pkts []*rtp.Packet
	size int
}

type stream struct {
	hub      *Hub
	cameraID string
	variant  Variant
	url      string // with credentials: never log, use RedactURL
	tr       Transport
	onDemand bool
	push     bool
	// pushOnDemand: pushed only when asked (Config.OnDemand tells whom).
	pushOnDemand bool
	log          *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	poke   chan struct{} // demand changed (on-demand streams)

	// counters for metrics, read without the lock
	bytesIn    atomic.Uint64
	framesIn   atomic.Uint64
	reconnects atomic.Uint64
	dropped    atomic.Uint64

	mu         sync.Mutex
	status     string
	onlineGen  uint64 // +1 each time the stream goes online
	graceArmed bool   // an offline-grace timer runs for the current outage
	attempt    int    // failed reconnects in a row (the back-off's exponent)
	lastErr    string
	since      time.Time
	ready      chan struct{} // closed while online with a description
	desc       *description.Session
	tracks     []*track
	descStream *gortsplib.ServerStream // answers DESCRIBE; never written to
	hasVideo   bool
	gop        []*frame
	gopBytes   int
	readers    map[*reader]struct{}
	demand     int
	width      int
	height     int
	lastSPS    []byte
	// continuity of PTS across upstream sessions
	maxPTS   time.Duration
	lastWall time.Time
	// rates over a sliding ~1 s window
	winStart  time.Time
	winBytes  int
	winFrames int
	bitrate   float64
	fps       float64
	publisher *gortsplib.ServerSession
}

func newStream(h *Hub, src Source, v Variant, rawURL string) *stream {
	s := &stream{
		hub:          h,
		cameraID:     src.CameraID,
		variant:      v,
		url:          rawURL,
		tr:           src.Transport,
		onDemand:     src.OnDemand && !src.Push,
		push:         src.Push,
		pushOnDemand: src.Push && src.OnDemand,
		poke:         make(chan struct{}, 1),
		ready:        make(chan struct{}),
		readers:      map[*reader]struct{}{},
		since:        time.Now(),
	}
	s.log = h.log.With("camera", src.CameraID, "variant", string(v))
	switch {
	case s.push:
		s.status, s.lastErr = StatusOffline, "waiting for the camera to push"
	case s.onDemand:
		s.status = StatusIdle
	default:
		s.status = StatusConnecting
	}
	return s
}

func (s *stream) start(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	if s.push {
		if s.pushOnDemand && s.hub.cfg.OnDemand != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.demandLoop()
			}()
		}
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pullLoop()
	}()
}

// stop ends ingest and every reader of the stream.
func (s *stream) stop(reason string) {
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Lock()
	pub := s.publisher
	s.mu.Unlock()
	if pub != nil {
		pub.Close()
	}
	s.wg.Wait()
	s.closeReaders(reason)
	s.mu.Lock()
	if s.descStream != nil {
		s.descStream.Close()
		s.descStream = nil
	}
	s.mu.Unlock()
}

func (s *stream) closeReaders(reason string) {
	s.mu.Lock()
	rs := make([]*reader, 0, len(s.readers))
	for r := range s.readers {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.close(reason)
	}
}

func (s *stream) setStatusLocked(status string, err string) {
	if s.status != status {
		s.since = time.Now()
	}
	s.status = status
	if err != "" || status == StatusOnline {
		s.lastErr = err
	}
	// The grace runs from the start of an outage, once: the failed
	// reconnects that follow (offline, connecting, offline…) must not
	// re-arm it, or viewers of a camera that stays down are never ended.
	if status == StatusOffline && s.hub.cfg.OfflineGrace > 0 && !s.graceArmed {
		s.graceArmed = true
		gen := s.onlineGen
		time.AfterFunc(s.hub.cfg.OfflineGrace, func() { s.endViewersIfStillOffline(gen) })
	}
	if status == StatusOnline {
		s.onlineGen++
		s.graceArmed = false
		s.attempt = 0
		select {
		case <-s.ready:
		default:
			close(s.ready)
		}
	} else {
		select {
		case <-s.ready:
			s.ready = make(chan struct{})
		default:
		}
		// A new reader must not start on a picture from before the outage.
		s.gop, s.gopBytes = nil, 0
	}
}

// endViewersIfStillOffline ends the viewers (not the node's own recorder or
// relay) of a stream that has not been online since the outage began
// (generation gen) for the grace period, whatever its reconnects did
// meanwhile: a player staring at a frozen picture for minutes is worse than
// a clear end it can retry on. Internal readers stay attached and resume
// with continuous PTS.
func (s *stream) endViewersIfStillOffline(gen uint64) {
	s.mu.Lock()
	if s.onlineGen != gen || s.status == StatusOnline {
		s.mu.Unlock()
		return // back within the grace
	}
	s.graceArmed = false // a later outage (after a reconnect) gets its own grace
	var rs []*reader
	for r := range s.readers {
		if !r.internal {
			rs = append(rs, r)
		}
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.close("camera offline")
	}
}

func (s *stream) setStatus(status, err string) {
	s.mu.Lock()
	s.setStatusLocked(status, err)
	s.mu.Unlock()
}

// addDemand/removeDemand count who needs an on-demand stream connected.
func (s *stream) addDemand() {
	s.mu.Lock()
	s.demand++
	s.mu.Unlock()
	s.wake()
}

func (s *stream) removeDemand() {
	s.mu.Lock()
	s.demand--
	s.mu.Unlock()
	s.wake()
}

func (s *stream) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *stream) demandCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.demand
}

// demandLoop drives Config.OnDemand for a pushed on-demand stream: wanted
// at the first reader (and again every WaitReady while still not online),
// not wanted once it has had no reader for OnDemandLinger.
func (s *stream) demandLoop() {
	cb := s.hub.cfg.OnDemand
	wanted := false
	var linger, retry <-chan time.Time
	defer func() {
		if wanted {
			// Not waited for: stop() runs under Reload, which must not
			// hang on a slow link.
			go cb(s.cameraID, s.variant, false)
		}
	}()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.poke:
		case <-retry:
			retry = nil
			if wanted && s.demandCount() > 0 && !s.isOnline() {
				s.log.Info("on-demand pushed camera still not online: asking again")
				cb(s.cameraID, s.variant, true)
			}
		case <-linger:
			linger = nil
			if wanted && s.demandCount() <= 0 {
				wanted, retry = false, nil
				s.log.Info("on-demand pushed camera released: no reader left")
				cb(s.cameraID, s.variant, false)
				s.mu.Lock()
				pub := s.publisher
				s.mu.Unlock()
				if pub != nil {
					pub.Close()
				}
			}
			continue
		}
		if s.demandCount() > 0 {
			linger = nil
			if !wanted {
				wanted = true
				cb(s.cameraID, s.variant, true)
			}
		} else if wanted && linger == nil {
			linger = time.After(s.hub.cfg.OnDemandLinger)
		}
		if wanted && retry == nil {
			retry = time.After(s.hub.cfg.WaitReady)
		}
	}
}

func (s *stream) isOnline() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status == StatusOnline
}

// waitReady waits until the stream is online with a description.
func (s *stream) waitReady(ctx context.Context) error {
	for {
		s.mu.Lock()
		ch, status, lastErr := s.ready, s.status, s.lastErr
		s.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			if lastErr != "" {
				return fmt.Errorf("%w: %s: %s", ErrUnavailable, status, lastErr)
			}
			return fmt.Errorf("%w: %s", ErrUnavailable, status)
		case <-s.ctx.Done():
			return ErrUnavailable
		case <-s.poke:
			s.wake() // not for us: pass the poke on to the ingest loop
			select {
			case <-ch:
				return nil
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// pullLoop keeps one upstream session alive, reconnecting with backoff.
func (s *stream) pullLoop() {
	attempt := 0
	for {
		if s.onDemand {
			for s.demandCount() <= 0 {
				s.setStatus(StatusIdle, "")
				select {
				case <-s.ctx.Done():
					return
				case <-s.poke:
				}
			}
		}
		s.setStatus(StatusConnecting, "")
		online, err := s.pullOnce()
		if s.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errIdle) {
			attempt = 0
			continue
		}
		msg := redactErr(err, s.url)
		s.mu.Lock()
		s.setStatusLocked(StatusOffline, msg)
		s.mu.Unlock()
		s.reconnects.Add(1)
		if online {
			attempt = 0
		}
		wait := backoff(attempt, s.hub.cfg.BackoffMin, s.hub.cfg.BackoffMax)
		attempt++
		s.mu.Lock()
		s.attempt = attempt
		s.mu.Unlock()
		if ok, n := s.hub.rl.allow("upstream:" + s.cameraID + "/" + string(s.variant)); ok {
			s.log.Warn("camera stream offline", "error", msg, "retry_in", wait.Round(time.Millisecond), "suppressed", n)
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *stream) pullOnce() (online bool, err error) {
	defer func() {
		// A camera speaking broken RTSP must never take the node down.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error handling camera: %v", r)
		}
	}()
	u, err := base.ParseURL(s.url)
	if err != nil {
		return false, fmt.Errorf("bad camera URL: %w", err)
	}
	if s.tr == TransportRTSPS && u.Scheme == "rtsp" {
		u.Scheme = "rtsps"
	}
	c := &gortsplib.Client{
		Scheme:      u.Scheme,
		Host:        u.Host,
		ReadTimeout: s.hub.cfg.ReadTimeout,
		UserAgent:   "vigil",
		// gortsplib logs these with the standard logger by default; route
		// them to slog, rate-limited, since a lossy camera reports them often.
		OnPacketsLost: func(lost uint64) {
			if ok, n := s.hub.rl.allow("lost:" + s.cameraID); ok {
				s.log.Debug("camera stream: RTP packets lost", "lost", lost, "suppressed", n)
			}
		},
		OnDecodeError: func(err error) {
			if ok, n := s.hub.rl.allow("decode:" + s.cameraID); ok {
				s.log.Debug("camera stream: undecodable packet", "error", redactErr(err, s.url), "suppressed", n)
			}
		},
		OnTransportSwitch: func(err error) {
			s.log.Info("camera stream: transport switched", "reason", redactErr(err, s.url))
		},
	}
	if u.Scheme == "rtsps" {
		c.TLSConfig = s.hub.cfg.CameraTLS
		if c.TLSConfig == nil {
			// Cameras almost always present self-signed certificates; RTSPS
			// here protects the credentials and video on the wire.
			c.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec
		}
	}
	proto := gortsplib.ProtocolTCP
	if s.tr == TransportUDP {
		proto = gortsplib.ProtocolUDP
	}
	c.Protocol = &proto
	if err := c.Start(); err != nil {
		return false, err
	}
	defer c.Close()

	desc, _, err := c.Describe(u)
	if err != nil {
		return false, err
	}
	ing, err := s.attach(desc)
	if err != nil {
		return false, err
	}
	for _, it := range ing.tracks {
		if _, err := c.Setup(desc.BaseURL, it.media, 0, 0); err != nil {
			return false, err
		}
		c.OnPacketRTP(it.media, it.format, func(pkt *rtp.Packet) {
			pts, ok := c.PacketPTS(it.media, pkt)
			if !ok {
				return
			}
			s.onPacket(ing, it, pkt, pts)
		})
	}
	if _, err := c.Play(nil); err != nil {
		return false, err
	}
	s.mu.Lock()
	s.setStatusLocked(StatusOnline, "")
	s.mu.Unlock()
	s.log.Info("camera stream online", "url", RedactURL(s.url), "codecs", strings.Join(s.codecs(), ","))

	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	var linger <-chan time.Time
	var lingerT *time.Timer
	defer func() {
		if lingerT != nil {
			lingerT.Stop()
		}
	}()
	for {
		select {
		case err := <-waitErr:
			return true, err
		case <-s.ctx.Done():
			return true, s.ctx.Err()
		case <-s.poke:
			if !s.onDemand {
				continue
			}
			if s.demandCount() > 0 {
				if lingerT != nil {
					lingerT.Stop()
					lingerT, linger = nil, nil
				}
			} else if lingerT == nil {
				lingerT = time.NewTimer(s.hub.cfg.OnDemandLinger)
				linger = lingerT.C
			}
		case <-linger:
			if s.demandCount() <= 0 {
				s.log.Info("on-demand camera stream closed: no reader left")
				return true, errIdle
			}
			lingerT, linger = nil, nil
		}
	}
}

// ingest maps one upstream session's medias to the hub tracks.
type ingest struct {
	tracks    []*ingestTrack
	ptsOffset time.Duration
}

type ingestTrack struct {
	t      *track
	media  *description.Media
	format format.Format
	decode func(pkt *rtp.Packet) (au [][]byte, payload []byte, err error)
	offset int64 // ptsOffset in the track's clock rate
}

// supported picks the first format of each media the hub can pass through.
func supported(desc *description.Session) (medias []*description.Media, formats []format.Format) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			switch ff := f.(type) {
			case *format.H264:
				if ff.PacketizationMode == 0 {
					continue // single-NAL mode: too rare to be worth a second path
				}
			case *format.H265, *format.MPEG4Audio, *format.G711:
			default:
				continue
			}
			medias = append(medias, m)
			formats = append(formats, f)
			break
		}
	}
	return medias, formats
}

func newDecoder(f format.Format) (func(*rtp.Packet) ([][]byte, []byte, error), error) {
	switch ff := f.(type) {
	case *format.H264:
		d, err := ff.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return func(p *rtp.Packet) ([][]byte, []byte, error) { au, err := d.Decode(p); return au, nil, err }, nil
	case *format.H265:
		d, err := ff.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return func(p *rtp.Packet) ([][]byte, []byte, error) { au, err := d.Decode(p); return au, nil, err }, nil
	case *format.MPEG4Audio:
		d, err := ff.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return func(p *rtp.Packet) ([][]byte, []byte, error) { au, err := d.Decode(p); return au, nil, err }, nil
	case *format.G711:
		d, err := ff.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return func(p *rtp.Packet) ([][]byte, []byte, error) { pl, err := d.Decode(p); return nil, pl, err }, nil
	}
	return nil, fmt.Errorf("unsupported format %s", f.Codec())
}

// newTrack builds a hub-side copy of an upstream format and its packetiser.
func newTrack(idx int, m *description.Media, f format.Format) (*track, error) {
	var hf format.Format
	switch ff := f.(type) {
	case *format.H264:
		sps, pps := ff.SafeParams()
		hf = &format.H264{PayloadTyp: ff.PayloadTyp, SPS: sps, PPS: pps, PacketizationMode: 1}
	case *format.H265:
		vps, sps, pps := ff.SafeParams()
		hf = &format.H265{PayloadTyp: ff.PayloadTyp, VPS: vps, SPS: sps, PPS: pps, MaxDONDiff: ff.MaxDONDiff}
	case *format.MPEG4Audio:
		c := *ff
		hf = &c
	case *format.G711:
		c := *ff
		hf = &c
	default:
		return nil, fmt.Errorf("unsupported format %s", f.Codec())
	}
	t := &track{
		idx:       idx,
		media:     &description.Media{Type: m.Type, Formats: []format.Format{hf}},
		format:    hf,
		clockRate: hf.ClockRate(),
		video:     m.Type == description.MediaTypeVideo,
		codec:     hf.Codec(),
		rtpBase:   randU32(),
	}
	switch ff := hf.(type) {
	case *format.H264:
		e, err := ff.CreateEncoder()
		if err != nil {
			return nil, err
		}
		t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.AU) }
	case *format.H265:
		e, err := ff.CreateEncoder()
		if err != nil {
			return nil, err
		}
		t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.AU) }
	case *format.MPEG4Audio:
		e, err := ff.CreateEncoder()
		if err != nil {
			return nil, err
		}
		t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.AU) }
	case *format.G711:
		e, err := ff.CreateEncoder()
		if err != nil {
			return nil, err
		}
		t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.Payload) }
	}
	return t, nil
}

// compatible reports whether an upstream layout can feed the existing hub
// tracks, so readers survive the reconnect.
func compatible(tracks []*track, formats []format.Format) bool {
	if len(tracks) != len(formats) {
		return false
	}
	for i, t := range tracks {
		if t.codec != formats[i].Codec() || t.clockRate != formats[i].ClockRate() {
			return false
		}
		if a, ok := formats[i].(*format.MPEG4Audio); ok {
			b := t.format.(*format.MPEG4Audio)
			if a.Config == nil || b.Config == nil || a.Config.SampleRate != b.Config.SampleRate ||
				a.Config.ChannelCount != b.Config.ChannelCount || a.Config.Type != b.Config.Type {
				return false
			}
		}
	}
	return true
}

// attach installs the description of a new upstream session (pull or push).
func (s *stream) attach(desc *description.Session) (*ingest, error) {
	medias, formats := supported(desc)
	if len(medias) == 0 {
		var codecs []string
		for _, m := range desc.Medias {
			for _, f := range m.Formats {
				codecs = append(codecs, f.Codec())
			}
		}
		return nil, fmt.Errorf("no supported codec in the camera's SDP (has %s; want H264, H265, AAC or G711)", strings.Join(codecs, ","))
	}
	ing := &ingest{}
	var stale []*reader
	s.mu.Lock()
	if s.tracks == nil || !compatible(s.tracks, formats) {
		tracks := make([]*track, len(formats))
		nd := &description.Session{Title: "vigil " + s.cameraID + " " + string(s.variant)}
		for i := range formats {
			t, err := newTrack(i, medias[i], formats[i])
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			tracks[i] = t
			nd.Medias = append(nd.Medias, t.media)
		}
		if s.tracks != nil {
			// The camera changed codec or tracks: readers set up for the old
			// layout cannot follow, they must reconnect.
			for r := range s.readers {
				stale = append(stale, r)
			}
			s.log.Info("camera stream layout changed; readers restart")
		}
		s.tracks, s.desc = tracks, nd
		s.hasVideo = false
		for _, t := range tracks {
			s.hasVideo = s.hasVideo || t.video
		}
		s.gop, s.gopBytes, s.lastSPS, s.width, s.height = nil, 0, nil, 0, 0
		if old := s.descStream; old != nil {
			old.Close()
			s.descStream = nil
		}
		if srv := s.hub.srv; srv != nil {
			ds := &gortsplib.ServerStream{Server: srv, Desc: nd}
			if err := ds.Initialize(); err == nil {
				s.descStream = ds
			}
		}
	} else {
		// Same layout: take the new parameter sets for future DESCRIBEs.
		for i, t := range s.tracks {
			updateParams(t.format, formats[i])
		}
		if s.descStream != nil {
			s.descStream.ReloadDesc()
		}
	}
	// PTS continue from where the previous session stopped, plus the time the
	// camera was away, so the recorder and readers see one continuous clock.
	if !s.lastWall.IsZero() {
		ing.ptsOffset = s.maxPTS + max(time.Since(s.lastWall), time.Millisecond)
	}
	for i, t := range s.tracks {
		dec, err := newDecoder(formats[i])
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		ing.tracks = append(ing.tracks, &ingestTrack{
			t: t, media: medias[i], format: formats[i], decode: dec,
			offset: int64(ing.ptsOffset) * int64(t.clockRate) / int64(time.Second),
		})
	}
	s.mu.Unlock()
	for _, r := range stale {
		r.close("camera stream changed")
	}
	return ing, nil
}

func updateParams(dst, src format.Format) {
	switch d := dst.(type) {
	case *format.H264:
		if sps, pps := src.(*format.H264).SafeParams(); sps != nil && pps != nil {
			d.SafeSetParams(sps, pps)
		}
	case *format.H265:
		if vps, sps, pps := src.(*format.H265).SafeParams(); vps != nil && sps != nil && pps != nil {
			d.SafeSetParams(vps, sps, pps)
		}
	}
}

func isBenign(err error) bool {
	return errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) ||
		errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) ||
		errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded)
}

// onPacket decodes one upstream RTP packet; when it completes a unit, the
// unit is stamped with the hub clock, packetised and fanned out. Called from
// the upstream session's reader goroutine(s).
func (s *stream) onPacket(ing *ingest, it *ingestTrack, pkt *rtp.Packet, pts int64) {
	au, payload, err := it.decode(pkt)
	if err != nil {
		if !isBenign(err) {
			if ok, n := s.hub.rl.allow("decode:" + s.cameraID); ok {
				s.log.Debug("camera stream: undecodable packet", "error", err, "suppressed", n)
			}
		}
		return
	}
	t := it.t
	u := &Unit{
		Media:        t.media,
		Format:       t.format,
		PTS:          pts + it.offset,
		NTP:          time.Now().UTC(),
		RandomAccess: true,
		AU:           au,
		Payload:      payload,
	}
	size := len(payload)
	for _, n := range au {
		size += len(n)
	}
	if t.video {
		switch t.format.(type) {
		case *format.H264:
			u.RandomAccess = h264.IsRandomAccess(au)
		case *format.H265:
			u.RandomAccess = h265.IsRandomAccess(au)
		}
		if u.RandomAccess {
			s.updateSize(t, au)
		}
	}
	s.publish(t, u, size)
}

// updateSize follows in-band parameter sets: the picture size for State,
// and the SDP of future readers.
func (s *stream) updateSize(t *track, au [][]byte) {
	var sps, pps, vps []byte
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch t.format.(type) {
		case *format.H264:
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		case *format.H265:
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				vps = n
			case h265.NALUType_SPS_NUT:
				sps = n
			case h265.NALUType_PPS_NUT:
				pps = n
			}
		}
	}
	if sps == nil {
		// Parameter sets only in the SDP: size from there, once.
		s.mu.Lock()
		known := s.lastSPS != nil
		s.mu.Unlock()
		if known {
			return
		}
		switch f := t.format.(type) {
		case *format.H264:
			sps, _ = f.SafeParams()
		case *format.H265:
			_, sps, _ = f.SafeParams()
		}
		if sps == nil {
			return
		}
	}
	s.mu.Lock()
	same := bytes.Equal(sps, s.lastSPS)
	s.mu.Unlock()
	if same {
		return
	}
	w, h := 0, 0
	switch f := t.format.(type) {
	case *format.H264:
		var p h264.SPS
		if p.Unmarshal(sps) == nil {
			w, h = p.Width(), p.Height()
		}
		// Only a real change is written: the format is shared with readers'
		// streams, which gortsplib copies without its lock at SETUP, so a
		// needless write would race with every new reader.
		if cs, cp := f.SafeParams(); pps != nil && (!bytes.Equal(cs, sps) || !bytes.Equal(cp, pps)) {
			f.SafeSetParams(sps, pps)
		}
	case *format.H265:
		var p h265.SPS
		if p.Unmarshal(sps) == nil {
			w, h = p.Width(), p.Height()
		}
		if cv, cs, cp := f.SafeParams(); vps != nil && pps != nil &&
			(!bytes.Equal(cv, vps) || !bytes.Equal(cs, sps) || !bytes.Equal(cp, pps)) {
			f.SafeSetParams(vps, sps, pps)
		}
	}
	s.mu.Lock()
	s.lastSPS = append([]byte(nil), sps...)
	s.width, s.height = w, h
	if s.descStream != nil {
		s.descStream.ReloadDesc()
	}
	s.mu.Unlock()
}

// publish stamps, caches and fans out one unit. Readers get it through their
// own bounded queue, so a slow reader never holds up the camera or others.
func (s *stream) publish(t *track, u *Unit, size int) {
	pkts, err := t.encode(u)
	if err != nil {
		if ok, n := s.hub.rl.allow("encode:" + s.cameraID); ok {
			s.log.Debug("camera stream: cannot packetise unit", "error", err, "suppressed", n)
		}
		return
	}
	ts := t.rtpBase + uint32(u.PTS)
	for _, p := range pkts {
		p.Timestamp += ts
	}
	f := &frame{u: u, t: t, pkts: pkts, size: size}
	s.bytesIn.Add(uint64(size))
	if t.video {
		s.framesIn.Add(1)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if u.PTS > t.lastPTS {
		t.lastPTS = u.PTS
	}
	if d := time.Duration(u.PTS) * time.Second / time.Duration(t.clockRate); d > s.maxPTS {
		s.maxPTS = d
	}
	now := time.Now()
	s.lastWall = now
	if s.winStart.IsZero() {
		s.winStart = now
	}
	s.winBytes += size
	if t.video {
		s.winFrames++
	}
	if el := now.Sub(s.winStart); el >= time.Second {
		s.bitrate = float64(s.winBytes*8) / el.Seconds()
		s.fps = float64(s.winFrames) / el.Seconds()
		s.winStart, s.winBytes, s.winFrames = now, 0, 0
	}

	// GOP cache: from the latest video keyframe on (audio interleaved).
	switch {
	case t.video && u.RandomAccess:
		s.gop = append(s.gop[:0:0], f)
		s.gopBytes = size
	case len(s.gop) > 0 || !s.hasVideo:
		if len(s.gop) >= maxGOPFrames || s.gopBytes+size > maxGOPBytes {
			if s.hasVideo {
				s.gop, s.gopBytes = nil, 0
			} else {
				s.gop = s.gop[1:]
			}
		}
		if len(s.gop) > 0 || !s.hasVideo {
			s.gop = append(s.gop, f)
			s.gopBytes += size
		}
	}
	for r := range s.readers {
		r.push(f)
	}
}

func (s *stream) codecs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tracks))
	for _, t := range s.tracks {
		out = append(out, t.codec)
	}
	return out
}

func (s *stream) state() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		CameraID:  s.cameraID,
		Variant:   s.variant,
		Status:    s.status,
		LastError: s.lastErr,
		Since:     s.since,
		Width:     s.width,
		Height:    s.height,
		Readers:   len(s.readers),
	}
	if s.status == StatusOnline && time.Since(s.lastWall) < 3*time.Second {
		st.Bitrate, st.FPS = s.bitrate, s.fps
	}
	for _, t := range s.tracks {
		st.Codecs = append(st.Codecs, t.codec)
	}
	return st
}

// onPublish installs a pushing camera's session (RTSP ANNOUNCE/RECORD).
func (s *stream) onPublish(ss *gortsplib.ServerSession, desc *description.Session) (*ingest, error) {
	ing, err := s.attach(desc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	old := s.publisher
	s.publisher = ss
	s.mu.Unlock()
	if old != nil && old != ss {
		// The camera reconnected before its old session timed out: the new
		// one wins, or a network glitch would lock the camera out.
		old.Close()
	}
	return ing, nil
}

func (s *stream) onUnpublish(ss *gortsplib.ServerSession, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher != ss {
		return
	}
	s.publisher = nil
	msg := "publisher disconnected"
	if err != nil {
		msg = "publisher disconnected: " + redactLoose(err.Error())
	}
	s.setStatusLocked(StatusOffline, msg)
	s.reconnects.Add(1)
}
