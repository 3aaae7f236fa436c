package media

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrNotFound is returned for a camera the hub does not know.
	ErrNotFound = errors.New("media: camera not found")
	// ErrUnavailable is returned (wrapped, with the camera's last error) when
	// a stream did not come online in time.
	ErrUnavailable = errors.New("media: stream unavailable")
)

// Config configures the hub. Zero values take the defaults shown.
type Config struct {
	// RTSPAddr is the listener for the RTSP re-stream and push-in, e.g.
	// ":8554". Empty disables RTSP serving (ingest still works).
	RTSPAddr string
	// UDPRTPAddr and UDPRTCPAddr, both set, let RTSP readers use UDP.
	UDPRTPAddr, UDPRTCPAddr string
	// ServerTLS, if set, makes the RTSP listener speak RTSPS.
	ServerTLS *tls.Config
	// CameraTLS verifies RTSPS cameras; nil accepts any certificate, since
	// cameras nearly always have self-signed ones.
	CameraTLS *tls.Config

	ReadTimeout time.Duration // upstream silence before reconnect; 10 s
	BackoffMin  time.Duration // first reconnect delay; 1 s
	// BackoffMax caps the reconnect delay; 2.5 s: footage resumes within
	// 2.5 s (plus the camera's connect time and first keyframe) of a
	// camera's return after an outage of any length, and a camera that is
	// down is tried at most once every 1.25–2.5 s (equal jitter). See
	// docs/design/0140-disk-full-and-reconnect.md.
	BackoffMax     time.Duration
	OnDemandLinger time.Duration // keep an on-demand camera after its last reader; 10 s
	WaitReady      time.Duration // how long a new reader waits for the camera; 10 s
	ReaderQueue    int           // units queued per reader before dropping; 256
	// OfflineGrace: viewers of a camera offline this long are ended (the
	// recorder and relays stay attached); 15 s, negative disables.
	OfflineGrace time.Duration
	LogEvery     time.Duration // rate limit for repeated warnings; 10 s
	// CoalesceWrites holds an RTSP reader's writes this long and sends them
	// as one (one syscall per frame instead of per packet); 2 ms, negative
	// disables. See coalesce.go.
	CoalesceWrites time.Duration
	// OnDemand, if set, is told when a pushed camera marked on demand (a
	// federated camera, which its site pushes only when asked) gets its
	// first reader (wanted) and when it has had none for OnDemandLinger
	// (not wanted; the hub then also closes the publish session, so the
	// push stops even if the message is lost). While wanted and not online
	// it is told again every WaitReady, so a lost request or a relay that
	// failed is retried. A camera with a pushed sub stream (Source.PushSub)
	// is driven per variant: its sub stream's readers want (camera, Sub)
	// only. Calls for one stream come one at a time from that stream's
	// goroutine; they may block for a few seconds.
	OnDemand func(cameraID string, v Variant, wanted bool)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.BackoffMin, time.Second)
	def(&c.BackoffMax, 2500*time.Millisecond)
	def(&c.OnDemandLinger, 10*time.Second)
	def(&c.WaitReady, 10*time.Second)
	def(&c.LogEvery, 10*time.Second)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.OfflineGrace == 0 {
		c.OfflineGrace = 15 * time.Second
	}
	if c.CoalesceWrites == 0 {
		c.CoalesceWrites = 2 * time.Millisecond
	}
	if c.ReaderQueue <= 0 {
		c.ReaderQueue = 256
	}
}

// Hub is the stream hub. It implements ReaderOpener.
type Hub struct {
	cfg  Config
	res  SourceResolver
	auth Authorizer
	log  *slog.Logger
	m    *metrics
	rl   *rateLog
	srv  *gortsplib.Server

	ctx    context.Context
	cancel context.CancelFunc

	reloadMu sync.Mutex // serialises Reload
	mu       sync.RWMutex
	cams     map[string]*camera
	closed   bool
}

type camera struct {
	src  Source
	main *stream
	sub  *stream // nil when the camera has no sub stream
}

func (c *camera) stream(v Variant) *stream {
	if v == Sub && c.sub != nil {
		return c.sub
	}
	return c.main
}

var _ ReaderOpener = (*Hub)(nil)

// New builds a hub; nothing runs until Start. reg may be nil.
func New(cfg Config, res SourceResolver, auth Authorizer, log *slog.Logger, reg prometheus.Registerer) (*Hub, error) {
	if res == nil || auth == nil {
		return nil, errors.New("media: a SourceResolver and an Authorizer are required")
	}
	if log == nil {
		log = slog.Default()
	}
	cfg.defaults()
	h := &Hub{
		cfg:  cfg,
		res:  res,
		auth: auth,
		log:  log.With("component", "media"),
		rl:   newRateLog(cfg.LogEvery),
		cams: map[string]*camera{},
	}
	h.m = newMetrics(h)
	if reg != nil {
		if err := h.m.register(reg); err != nil {
			return nil, fmt.Errorf("media: metrics: %w", err)
		}
	}
	return h, nil
}

// Start opens the RTSP listener and starts ingest of every known camera.
func (h *Hub) Start(ctx context.Context) error {
	h.ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if h.cfg.RTSPAddr != "" {
		h.srv = &gortsplib.Server{
			Handler:        &rtspHandler{h: h},
			RTSPAddress:    h.cfg.RTSPAddr,
			UDPRTPAddress:  h.cfg.UDPRTPAddr,
			UDPRTCPAddress: h.cfg.UDPRTCPAddr,
			TLSConfig:      h.cfg.ServerTLS,
			// The GOP replay of a new reader is queued before its writer
			// starts: room for a few seconds of a 4-8 Mbit/s keyframe burst.
			WriteQueueSize: 4096,
			// A token is the password: Basic is the only scheme that carries
			// it to the server (Digest only proves knowledge of a known one).
			AuthMethods: basicOnly,
			ReadTimeout: 10 * time.Second,
		}
		if d := h.cfg.CoalesceWrites; d > 0 {
			h.srv.Listen = func(network, address string) (net.Listener, error) {
				l, err := net.Listen(network, address)
				if err != nil {
					return nil, err
				}
				return coalescingListener{Listener: l, delay: d, max: 32 << 10}, nil
			}
		}
		if err := h.srv.Start(); err != nil {
			h.cancel()
			return fmt.Errorf("media: RTSP listener %s: %w", h.cfg.RTSPAddr, err)
		}
		h.log.Info("RTSP re-stream listening", "addr", h.srv.NetListener().Addr().String())
	}
	if err := h.Reload(ctx); err != nil {
		h.Close()
		return err
	}
	return nil
}

// RTSPAddr is the actual RTSP listen address (useful with port 0).
func (h *Hub) RTSPAddr() string {
	if h.srv == nil {
		return ""
	}
	return h.srv.NetListener().Addr().String()
}

// Reload asks the resolver for the cameras again: new cameras start, removed
// ones stop (their readers end), changed ones restart.
func (h *Hub) Reload(ctx context.Context) error {
	srcs, err := h.res.Sources(ctx)
	if err != nil {
		return fmt.Errorf("media: sources: %w", err)
	}
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	want := make(map[string]Source, len(srcs))
	for _, s := range srcs {
		if s.CameraID == "" || strings.ContainsAny(s.CameraID, "/?#") {
			h.log.Warn("ignoring camera with an unusable id", "camera", s.CameraID)
			continue
		}
		if !s.Push && s.MainURL == "" {
			h.log.Warn("ignoring camera without a main URL", "camera", s.CameraID)
			continue
		}
		want[s.CameraID] = s
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("media: hub closed")
	}
	var stop []*camera
	var start []*camera
	for id, c := range h.cams {
		if s, ok := want[id]; !ok || s != c.src {
			stop = append(stop, c)
			delete(h.cams, id)
		}
	}
	for id, s := range want {
		if _, ok := h.cams[id]; ok {
			continue
		}
		c := &camera{src: s}
		c.main = newStream(h, s, Main, s.MainURL)
		if s.SubURL != "" && !s.Push {
			c.sub = newStream(h, s, Sub, s.SubURL)
		} else if s.Push && s.PushSub {
			c.sub = newStream(h, s, Sub, "")
		}
		h.cams[id] = c
		start = append(start, c)
	}
	h.mu.Unlock()

	for _, c := range stop {
		c.main.stop("camera removed or changed")
		if c.sub != nil {
			c.sub.stop("camera removed or changed")
		}
	}
	for _, c := range start {
		c.main.start(h.ctx)
		if c.sub != nil {
			c.sub.start(h.ctx)
		}
	}
	if len(stop)+len(start) > 0 {
		h.log.Info("camera sources reloaded", "cameras", len(want), "started", len(start), "stopped", len(stop))
	}
	return nil
}

// Close stops everything; readers are ended with reason "shutdown".
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	cams := h.cams
	h.cams = map[string]*camera{}
	h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
	}
	var wg sync.WaitGroup
	for _, c := range cams {
		for _, s := range []*stream{c.main, c.sub} {
			if s != nil {
				wg.Add(1)
				go func() { defer wg.Done(); s.stop("shutdown") }()
			}
		}
	}
	wg.Wait()
	if h.srv != nil {
		h.srv.Close()
	}
}

// States returns every stream's state, sorted by camera and variant.
func (h *Hub) States() []State {
	h.mu.RLock()
	out := make([]State, 0, 2*len(h.cams))
	for _, c := range h.cams {
		out = append(out, c.main.state())
		if c.sub != nil {
			out = append(out, c.sub.state())
		}
	}
	h.mu.RUnlock()
	slices.SortFunc(out, func(a, b State) int {
		if c := strings.Compare(a.CameraID, b.CameraID); c != 0 {
			return c
		}
		return strings.Compare(string(a.Variant), string(b.Variant))
	})
	return out
}

// State returns the states of one camera's streams (main first).
func (h *Hub) State(cameraID string) ([]State, bool) {
	h.mu.RLock()
	c, ok := h.cams[cameraID]
	h.mu.RUnlock()
	if !ok {
		return nil, false
	}
	out := []State{c.main.state()}
	if c.sub != nil {
		out = append(out, c.sub.state())
	}
	return out, true
}

func (h *Hub) lookup(cameraID string, v Variant) (*stream, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c, ok := h.cams[cameraID]
	if !ok {
		return nil, ErrNotFound
	}
	return c.stream(v), nil
}

// lookupPush finds the stream a push to /push/<camera>[/<variant>] feeds:
// no fallback from Sub to Main, so a push of a sub stream the camera does
// not have is refused rather than mixed into its main stream.
func (h *Hub) lookupPush(cameraID string, v Variant) (*stream, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c, ok := h.cams[cameraID]
	if !ok {
		return nil, ErrNotFound
	}
	if v == Sub {
		if c.sub == nil {
			return nil, ErrNotFound
		}
		return c.sub, nil
	}
	return c.main, nil
}

// OpenReader implements ReaderOpener.
func (h *Hub) OpenReader(ctx context.Context, req ReadRequest, r UnitReader) (ReaderHandle, error) {
	if req.Variant != Main && req.Variant != Sub {
		return nil, fmt.Errorf("media: bad variant %q", req.Variant)
	}
	grant, err := h.auth.AuthorizeRead(ctx, req)
	if err != nil {
		h.m.authFailures.WithLabelValues(string(req.Protocol)).Inc()
		return nil, err
	}
	return h.open(ctx, req.CameraID, req.Variant, req.Protocol, grant, r, false)
}

// OpenInternalReader implements ReaderOpener for the node's own readers
// (recorder, federation relay): no authorization, no audit.
func (h *Hub) OpenInternalReader(ctx context.Context, cameraID string, v Variant, p Protocol, r UnitReader) (ReaderHandle, error) {
	if v != Main && v != Sub {
		return nil, fmt.Errorf("media: bad variant %q", v)
	}
	return h.open(ctx, cameraID, v, p, ReadGrant{Subject: "internal:" + string(p)}, r, true)
}

func (h *Hub) open(ctx context.Context, cameraID string, v Variant, p Protocol, grant ReadGrant, ur UnitReader, internal bool) (ReaderHandle, error) {
	s, err := h.lookup(cameraID, v)
	if err != nil {
		if grant.End != nil {
			grant.End("camera not found")
		}
		return nil, err
	}
	r := &reader{proto: p, subject: grant.Subject, grant: grant, internal: internal, deliver: func(f *frame) { ur.OnUnit(f.u) }}
	r.ovf, _ = ur.(OverflowReader)
	s.addDemand()
	if err := h.attach(ctx, s, r); err != nil {
		s.removeDemand()
		if grant.End != nil {
			grant.End("stream unavailable")
		}
		return nil, err
	}
	return handle{r}, nil
}

func randU32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
