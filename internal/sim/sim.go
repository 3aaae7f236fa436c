// Package sim runs simulated RTSP cameras for the demo, the tests and the
// benchmarks: N cameras on one listener, each with a main (1280x720) and a sub
// (640x360) stream looping an embedded H.264 or H.265 clip with a moving
// clock, optionally with a G.711 or AAC audio track, and fault switches (drop, stall,
// broken SDP, resolution change) that tests flip at runtime.
package sim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// CameraSpec describes one simulated camera.
type CameraSpec struct {
	ID    string // path segment: rtsp://addr/<ID>/main
	Codec string // "h264" (default) or "h265"
	Audio bool   // add an audio track to both streams
	// AudioCodec, with Audio: "g711" (default: mu-law, 8 kHz mono, 20 ms
	// packets) or "aac" (AAC-LC, 16 kHz mono, one access unit a packet, from
	// a pre-encoded clip).
	AudioCodec string
	// PadBitrate, if set, pads the main stream with filler NAL units up to
	// about this many bits per second, so a benchmark gets a realistic
	// 4 Mbit/s packet rate from a tiny embedded clip.
	PadBitrate int
}

func (c CameraSpec) aac() bool { return c.Audio && c.AudioCodec == "aac" }

// Config configures a simulator.
type Config struct {
	// Addr is the RTSP listen address, e.g. "127.0.0.1:8554"; port 0 picks a
	// free port (see Sim.Addr).
	Addr string
	// UDPRTPAddr and UDPRTCPAddr enable the UDP transport when both are set
	// (e.g. ":8000" and ":8001").
	UDPRTPAddr, UDPRTCPAddr string
	// User and Pass, if set, are required from clients (Basic or Digest), as
	// a real camera would; they appear in URL() so tests can pass them on.
	User, Pass string
	Cameras    []CameraSpec
	Logger     *slog.Logger
}

// Sim is a running simulator.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	srv    *gortsplib.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	addr   string

	cams    map[string]*camera
	streams map[string]*stream // key: "<cam>/<variant>"
}

type camera struct {
	spec      CameraSpec
	stall     atomic.Bool
	brokenSDP atomic.Bool
	dropEvery atomic.Int64 // time.Duration
	changed   chan struct{}
	streams   [2]*stream
}

type stream struct {
	cam     *camera
	variant string
	srv     *gortsplib.Server

	mu       sync.Mutex
	gen      int // bumped whenever the clip (and so the SDP) changes
	clip     *clip
	st       *gortsplib.ServerStream
	vmedia   *description.Media
	amedia   *description.Media
	sessions map[*gortsplib.ServerSession]struct{}
}

// Start starts the simulator; it stops when ctx is done or Close is called.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	if err := loadClips(); err != nil {
		return nil, fmt.Errorf("sim: embedded clips: %w", err)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8554"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sim{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "sim"),
		cams:    map[string]*camera{},
		streams: map[string]*stream{},
	}
	s.srv = &gortsplib.Server{
		Handler:        s,
		RTSPAddress:    cfg.Addr,
		UDPRTPAddress:  cfg.UDPRTPAddr,
		UDPRTCPAddress: cfg.UDPRTCPAddr,
		// Generous queue: a padded 4 Mbit/s keyframe is a burst of packets.
		WriteQueueSize: 1024,
	}
	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("sim: listen %s: %w", cfg.Addr, err)
	}
	s.addr = s.srv.NetListener().Addr().String()

	for _, spec := range cfg.Cameras {
		if spec.ID == "" || strings.Contains(spec.ID, "/") {
			s.srv.Close()
			return nil, fmt.Errorf("sim: bad camera id %q", spec.ID)
		}
		if _, dup := s.cams[spec.ID]; dup {
			s.srv.Close()
			return nil, fmt.Errorf("sim: duplicate camera id %q", spec.ID)
		}
		if spec.Codec == "" {
			spec.Codec = "h264"
		}
		if spec.Codec != "h264" && spec.Codec != "h265" {
			s.srv.Close()
			return nil, fmt.Errorf("sim: camera %s: codec %q (want h264 or h265)", spec.ID, spec.Codec)
		}
		c := &camera{spec: spec, changed: make(chan struct{}, 1)}
		s.cams[spec.ID] = c
		for i, v := range []string{"main", "sub"} {
			w, h := 1280, 720
			if v == "sub" {
				w, h = 640, 360
			}
			st := &stream{cam: c, variant: v, srv: s.srv, sessions: map[*gortsplib.ServerSession]struct{}{}}
			if err := st.setClip(clips[clipKey(spec.Codec, w, h)]); err != nil {
				s.srv.Close()
				return nil, err
			}
			c.streams[i] = st
			s.streams[spec.ID+"/"+v] = st
		}
	}

	s.ctx, s.cancel = context.WithCancel(ctx)
	for _, c := range s.cams {
		for _, st := range c.streams {
			s.wg.Add(1)
			go func() { defer s.wg.Done(); st.run(s.ctx) }()
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.dropLoop(s.ctx, c) }()
	}
	go func() { <-s.ctx.Done(); s.srv.Close() }()
	s.log.Info("simulated cameras ready", "addr", s.addr, "cameras", len(s.cams))
	return s, nil
}

// Run starts a simulator and blocks until ctx is done: the entry point for
// `vigil sim`.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	for _, c := range cfg.Cameras {
		s.log.Info("camera", "id", c.ID, "main", s.redactedURL(c.ID, "main"), "sub", s.redactedURL(c.ID, "sub"))
	}
	<-ctx.Done()
	s.Close()
	return nil
}

// Close stops the simulator and waits for its goroutines.
func (s *Sim) Close() {
	s.cancel()
	s.srv.Close()
	s.wg.Wait()
	for _, st := range s.streams {
		st.mu.Lock()
		st.st.Close()
		st.mu.Unlock()
	}
}

// Addr is the actual listen address (host:port).
func (s *Sim) Addr() string { return s.addr }

// URL returns the RTSP URL of a camera's "main" or "sub" stream, with the
// simulator's credentials if any.
func (s *Sim) URL(cameraID, variant string) string {
	u := url.URL{Scheme: "rtsp", Host: s.addr, Path: "/" + cameraID + "/" + variant}
	if s.cfg.User != "" {
		u.User = url.UserPassword(s.cfg.User, s.cfg.Pass)
	}
	return u.String()
}

func (s *Sim) redactedURL(cameraID, variant string) string {
	u := url.URL{Scheme: "rtsp", Host: s.addr, Path: "/" + cameraID + "/" + variant}
	if s.cfg.User != "" {
		u.User = url.UserPassword("***", "***")
	}
	return u.String()
}

// URLs maps every camera id to its [main, sub] URLs.
func (s *Sim) URLs() map[string][2]string {
	m := make(map[string][2]string, len(s.cams))
	for id := range s.cams {
		m[id] = [2]string{s.URL(id, "main"), s.URL(id, "sub")}
	}
	return m
}

func (s *Sim) cam(id string) (*camera, error) {
	c, ok := s.cams[id]
	if !ok {
		return nil, fmt.Errorf("sim: unknown camera %q", id)
	}
	return c, nil
}

// SetDropEvery makes the camera drop all its client sessions every d (0
// stops it), like a camera with a flaky link or a watchdog reboot.
func (s *Sim) SetDropEvery(cameraID string, d time.Duration) error {
	c, err := s.cam(cameraID)
	if err != nil {
		return err
	}
	c.dropEvery.Store(int64(d))
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

// DropNow closes every client session of the camera once.
func (s *Sim) DropNow(cameraID string) error {
	c, err := s.cam(cameraID)
	if err != nil {
		return err
	}
	for _, st := range c.streams {
		st.dropSessions()
	}
	return nil
}

// SetStall stops (true) or resumes (false) sending packets while keeping
// the connections open, like a camera whose encoder hung.
func (s *Sim) SetStall(cameraID string, on bool) error {
	c, err := s.cam(cameraID)
	if err != nil {
		return err
	}
	c.stall.Store(on)
	return nil
}

// SetBrokenSDP makes DESCRIBE answer 200 with an unparsable SDP.
func (s *Sim) SetBrokenSDP(cameraID string, on bool) error {
	c, err := s.cam(cameraID)
	if err != nil {
		return err
	}
	c.brokenSDP.Store(on)
	return nil
}

// SetResolution switches a stream ("main" or "sub") to the clip of the given
// size (1280x720 or 640x360). Like a real camera being reconfigured, current
// sessions are dropped and new ones get the new SDP.
func (s *Sim) SetResolution(cameraID, variant string, width, height int) error {
	c, err := s.cam(cameraID)
	if err != nil {
		return err
	}
	cl, ok := clips[clipKey(c.spec.Codec, width, height)]
	if !ok {
		return fmt.Errorf("sim: no %s clip of %dx%d", c.spec.Codec, width, height)
	}
	for _, st := range c.streams {
		if st.variant == variant {
			return st.setClip(cl)
		}
	}
	return fmt.Errorf("sim: unknown variant %q", variant)
}

// Sessions is the number of client sessions currently open on a camera.
func (s *Sim) Sessions(cameraID string) int {
	c, err := s.cam(cameraID)
	if err != nil {
		return 0
	}
	n := 0
	for _, st := range c.streams {
		st.mu.Lock()
		n += len(st.sessions)
		st.mu.Unlock()
	}
	return n
}

func (s *Sim) dropLoop(ctx context.Context, c *camera) {
	for {
		d := time.Duration(c.dropEvery.Load())
		var tick <-chan time.Time
		var t *time.Timer
		if d > 0 {
			t = time.NewTimer(d)
			tick = t.C
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-c.changed:
			if t != nil {
				t.Stop()
			}
		case <-tick:
			s.log.Info("fault: dropping sessions", "camera", c.spec.ID)
			for _, st := range c.streams {
				st.dropSessions()
			}
		}
	}
}

// setClip (re)builds the description and the ServerStream for a clip.
func (st *stream) setClip(cl *clip) error {
	var vf format.Format
	if cl.codec == "h264" {
		vf = &format.H264{PayloadTyp: 96, SPS: cl.sps, PPS: cl.pps, PacketizationMode: 1}
	} else {
		vf = &format.H265{PayloadTyp: 96, VPS: cl.vps, SPS: cl.sps, PPS: cl.pps}
	}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{vf}}}}
	var am *description.Media
	if st.cam.spec.Audio {
		var af format.Format = &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: audioRate, ChannelCount: 1}
		if st.cam.spec.aac() {
			af = &format.MPEG4Audio{PayloadTyp: 97, Config: aacConfig, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		}
		am = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{af}}
		desc.Medias = append(desc.Medias, am)
	}
	ns := &gortsplib.ServerStream{Server: st.srv, Desc: desc}
	if err := ns.Initialize(); err != nil {
		return fmt.Errorf("sim: stream: %w", err)
	}
	st.mu.Lock()
	old := st.st
	st.st, st.clip, st.vmedia, st.amedia = ns, cl, desc.Medias[0], am
	st.gen++
	st.mu.Unlock()
	if old != nil {
		old.Close() // disconnects the readers of the old SDP
	}
	return nil
}

func (st *stream) dropSessions() {
	st.mu.Lock()
	ss := make([]*gortsplib.ServerSession, 0, len(st.sessions))
	for s := range st.sessions {
		ss = append(ss, s)
	}
	st.mu.Unlock()
	for _, s := range ss {
		s.Close()
	}
}

type videoEncoder interface {
	Encode([][]byte) ([]*rtp.Packet, error)
}

func randU32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// run paces the clip in real time. Frames are scheduled on an absolute
// timeline from the start so the rate never drifts, and the RTP timestamps
// keep counting across loops, stalls and clip changes, as a live camera's do.
func (st *stream) run(ctx context.Context) {
	start := time.Now()
	var vi, ai int64 // frames and audio chunks scheduled so far
	var fi int       // position inside the video clip (audio: from ai)
	vts, ats := randU32(), randU32()
	gen := -1
	var venc videoEncoder
	var aenc func(int) ([]*rtp.Packet, error) // packets of the audio clip's unit i
	// audio: ticks (samples) per packet at its clock rate
	astep, arate := int64(audioChunk), int64(audioRate)
	if st.cam.spec.aac() {
		astep, arate = 1024, aacRate
	}
	pad := 0
	if st.variant == "main" {
		pad = st.cam.spec.PadBitrate / 8 / clipFPS
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		nextV := start.Add(time.Duration(vi) * time.Second / clipFPS)
		next, isAudio := nextV, false
		if st.cam.spec.Audio {
			if nextA := start.Add(time.Duration(ai) * time.Second * time.Duration(astep) / time.Duration(arate)); nextA.Before(nextV) {
				next, isAudio = nextA, true
			}
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}

		st.mu.Lock()
		ss, cl, vm, am, g := st.st, st.clip, st.vmedia, st.amedia, st.gen
		st.mu.Unlock()
		if g != gen {
			gen, fi = g, 0 // a new clip starts at its first keyframe
			var err error
			switch f := vm.Formats[0].(type) {
			case *format.H264:
				venc, err = f.CreateEncoder()
			case *format.H265:
				venc, err = f.CreateEncoder()
			}
			if err != nil {
				return
			}
			if am != nil {
				switch f := am.Formats[0].(type) {
				case *format.G711:
					e, err := f.CreateEncoder()
					if err != nil {
						return
					}
					aenc = func(n int) ([]*rtp.Packet, error) {
						chunk := make([]byte, audioChunk)
						for i := range chunk {
							chunk[i] = audioClip[(n*audioChunk+i)%len(audioClip)]
						}
						return e.Encode(chunk)
					}
				case *format.MPEG4Audio:
					e, err := f.CreateEncoder()
					if err != nil {
						return
					}
					aenc = func(i int) ([]*rtp.Packet, error) { return e.Encode([][]byte{aacClip[i%len(aacClip)]}) }
				}
			}
		}
		stalled := st.cam.stall.Load()
		now := time.Now()

		if isAudio {
			if !stalled && aenc != nil {
				pkts, err := aenc(int(ai))
				if err == nil {
					for _, p := range pkts {
						p.Timestamp += ats
						_ = ss.WritePacketRTPWithNTP(am, p, now)
					}
				}
			}
			ats += uint32(astep)
			ai++
			continue
		}

		au := cl.aus[fi%len(cl.aus)]
		fi++
		if pad > 0 {
			size := 0
			for _, n := range au {
				size += len(n)
			}
			if pad > size+16 {
				au = append(au[:len(au):len(au)], filler(cl.codec, pad-size))
			}
		}
		if !stalled {
			pkts, err := venc.Encode(au)
			if err == nil {
				for _, p := range pkts {
					p.Timestamp += vts
					// Errors only mean the stream was just replaced or closed.
					_ = ss.WritePacketRTPWithNTP(vm, p, now)
				}
			}
		}
		vts += frameTicks
		vi++
	}
}

func (s *Sim) lookup(path string) (*camera, *stream) {
	st, ok := s.streams[strings.Trim(path, "/")]
	if !ok {
		return nil, nil
	}
	return st.cam, st
}

func (s *Sim) checkAuth(conn *gortsplib.ServerConn, req *base.Request) bool {
	if s.cfg.User == "" {
		return true
	}
	return conn.VerifyCredentials(req, s.cfg.User, s.cfg.Pass)
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (s *Sim) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.checkAuth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	c, st := s.lookup(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if c.brokenSDP.Load() {
		return &base.Response{
			StatusCode: base.StatusOK,
			Body:       []byte("v=0\r\no=- broken\r\nm=video notaport RTP/AVP x\r\na=rtpmap:garbage\r\n"),
		}, nil, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, st.st, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (s *Sim) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil, errors.New("sim cameras do not accept publishing")
	}
	if !s.checkAuth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	_, st := s.lookup(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if prev, ok := ctx.Session.UserData().(*sessionData); ok && prev.ss != st.st {
		// The stream was replaced between two SETUPs (resolution change).
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, errors.New("stream changed")
	}
	st.sessions[ctx.Session] = struct{}{}
	ctx.Session.SetUserData(&sessionData{st: st, ss: st.st})
	return &base.Response{StatusCode: base.StatusOK}, st.st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (s *Sim) OnPlay(_ *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (s *Sim) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if d, ok := ctx.Session.UserData().(*sessionData); ok {
		d.st.mu.Lock()
		delete(d.st.sessions, ctx.Session)
		d.st.mu.Unlock()
	}
}

type sessionData struct {
	st *stream
	ss *gortsplib.ServerStream
}
