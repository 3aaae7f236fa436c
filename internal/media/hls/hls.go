// Package hls serves live camera streams as Low-Latency HLS (fMP4) with
// gohlslib.
//
// One muxer per camera variant is shared by every viewer, so a thousand
// viewers cost one hub reader: the muxer is fed by an internal reader
// (OpenInternalReader) and each HTTP request is authorized on its own. Because
// an LL-HLS player makes several requests a second, authorization is cached
// per (token, camera) as a viewer session: the Authorizer is asked once, the
// grant is kept while the viewer keeps requesting, and its End is called when
// the viewer has been silent for Options.ViewerIdle or the grant is revoked.
// That gives the audit log one view-start and one view-end per viewing, as for
// RTSP and WebRTC.
//
// Routes (the handler reads the last three path segments, so it can be
// mounted under any prefix):
//
//	GET /hls/{camera}/{variant}/index.m3u8     multivariant playlist
//	GET /hls/{camera}/{variant}/{file}         media playlists, init, segments, parts
package hls

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/httpread"
)

// Options tunes the server. Zero values get the defaults noted.
type Options struct {
	// Authorizer decides operator viewers on the default handler
	// (ServeHTTP). Handler(auth) mounts the same muxers with another policy.
	Authorizer media.Authorizer
	// ViewerIdle ends a viewer's grant (audit view-end) after this much
	// silence; default 15 s, several LL-HLS playlist periods.
	ViewerIdle time.Duration
	// DenyCacheTTL remembers a refusal so a player retrying with a bad token
	// does not hit the Authorizer several times a second; default 5 s.
	DenyCacheTTL time.Duration
	// MuxerIdle closes a muxer and its hub reader after no request for this
	// long; default 30 s.
	MuxerIdle time.Duration
	// OpenTimeout bounds waiting for the hub (camera connect); default 15 s.
	OpenTimeout time.Duration
	// SegmentMinDuration and PartMinDuration are passed to gohlslib (1 s and
	// 200 ms); segments are cut on keyframes.
	SegmentMinDuration time.Duration
	PartMinDuration    time.Duration
	// AllowedOrigins lists origins allowed by CORS ("*" for any), for hls.js
	// pages served elsewhere.
	AllowedOrigins []string
	Logger         *slog.Logger
}

// AuthorizeFunc decides one HTTP request for a camera variant; an error
// wrapping media.ErrDenied answers 403, any other error 401.
type AuthorizeFunc func(r *http.Request, camera string, v media.Variant) error

// Stats is a snapshot for metrics and tests.
type Stats struct {
	Muxers  int // camera variants being muxed (= hub readers held)
	Viewers int // live viewer sessions on the default handler
}

// Server owns the shared muxers.
type Server struct {
	opener media.ReaderOpener
	opts   Options
	log    *slog.Logger

	mu      sync.Mutex
	muxers  map[muxKey]*muxer
	viewers map[viewerKey]*viewer
	denied  map[viewerKey]time.Time
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

type muxKey struct {
	camera  string
	variant media.Variant
}

// viewerKey holds a hash of the token, not the token: the map outlives
// requests and must not be a place where credentials sit in clear.
type viewerKey struct {
	token  [32]byte
	camera string
}

type viewer struct {
	ready    chan struct{} // closed once grant/err are set
	grant    media.ReadGrant
	err      error
	lastSeen atomic.Int64 // unix nanos
	inflight atomic.Int64 // requests being served: a blocking LL-HLS reload is not silence
	ended    atomic.Bool
}

// New creates the server and its janitor; Close stops both.
func New(opener media.ReaderOpener, opts Options) *Server {
	if opts.ViewerIdle <= 0 {
		opts.ViewerIdle = 15 * time.Second
	}
	if opts.DenyCacheTTL <= 0 {
		opts.DenyCacheTTL = 5 * time.Second
	}
	if opts.MuxerIdle <= 0 {
		opts.MuxerIdle = 30 * time.Second
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 15 * time.Second
	}
	if opts.SegmentMinDuration <= 0 {
		opts.SegmentMinDuration = time.Second
	}
	if opts.PartMinDuration <= 0 {
		opts.PartMinDuration = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opener:  opener,
		opts:    opts,
		log:     opts.Logger.With("component", "hls"),
		muxers:  map[muxKey]*muxer{},
		viewers: map[viewerKey]*viewer{},
		denied:  map[viewerKey]time.Time{},
		stop:    make(chan struct{}),
	}
	s.wg.Add(1)
	go s.janitor()
	return s
}

// Close ends all viewer sessions and muxers.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	muxers := s.muxers
	viewers := s.viewers
	s.muxers = map[muxKey]*muxer{}
	s.viewers = map[viewerKey]*viewer{}
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	for _, m := range muxers {
		m.close("server closing")
	}
	for _, v := range viewers {
		v.end("server closing")
	}
}

// Stats reports the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Muxers: len(s.muxers), Viewers: len(s.viewers)}
}

// ParsePath takes {camera}/{variant}/{file} from the end of p. File names are
// the muxer's own (index.m3u8, video1_stream.m3u8, <prefix>_video1_init.mp4,
// …_seg7.mp4, …_part3.mp4); anything else is refused before reaching it.
func ParsePath(p string) (camera string, variant media.Variant, file string, ok bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) < 3 {
		return "", "", "", false
	}
	camera, v, file := segs[len(segs)-3], segs[len(segs)-2], segs[len(segs)-1]
	if camera == "" || len(camera) > 128 || strings.ContainsAny(camera, "\x00\\") {
		return "", "", "", false
	}
	switch media.Variant(v) {
	case media.Main, media.Sub:
	default:
		return "", "", "", false
	}
	if len(file) < 5 || len(file) > 64 || !(strings.HasSuffix(file, ".m3u8") || strings.HasSuffix(file, ".mp4")) {
		return "", "", "", false
	}
	for _, c := range file {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "", "", "", false
		}
	}
	return camera, media.Variant(v), file, true
}

// ServeHTTP serves operator viewers, authorized through Options.Authorizer
// with the per-(token, camera) viewer cache.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, nil)
}

// Handler serves the same muxers under another authorization, e.g. the public
// room's (public flag, rate limit). auth must be cheap: it runs on every
// playlist, part and segment request.
func (s *Server) Handler(auth AuthorizeFunc) http.Handler {
	if auth == nil {
		panic("hls: Handler needs an AuthorizeFunc")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, auth) })
}

func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	if httpread.AllowOrigin(w, r, s.opts.AllowedOrigins) {
		w.Header().Set("Access-Control-Allow-Headers", "Authorization")
		w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, auth AuthorizeFunc) {
	s.cors(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpread.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" not allowed")
		return
	}
	camera, variant, _, ok := ParsePath(r.URL.Path)
	if !ok {
		httpread.WriteError(w, http.StatusNotFound, "not_found", "expected /hls/{camera}/{main|sub}/index.m3u8")
		return
	}

	var err error
	var vw *viewer
	if auth != nil {
		err = auth(r, camera, variant)
		if err != nil && !errors.Is(err, media.ErrDenied) {
			httpread.WriteError(w, http.StatusUnauthorized, "unauthorized", "Cần token truy cập. Authorization required.")
			return
		}
	} else {
		vw, err = s.authorizeViewer(r, camera, variant)
	}
	if vw != nil {
		vw.inflight.Add(1)
		defer func() {
			vw.lastSeen.Store(time.Now().UnixNano())
			vw.inflight.Add(-1)
		}()
	}
	if err != nil {
		if errors.Is(err, errNoToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			httpread.WriteError(w, http.StatusUnauthorized, "unauthorized", "Cần token truy cập. A bearer token is required.")
			return
		}
		if errors.Is(err, media.ErrDenied) {
			httpread.WriteError(w, http.StatusForbidden, "forbidden", "Không có quyền xem camera này. Access to this camera is denied.")
			return
		}
		s.log.Warn("hls authorize failed", "camera", camera, "err", err)
		if httpread.WriteNotAudited(w, err) {
			return
		}
		httpread.WriteError(w, http.StatusServiceUnavailable, "auth_unavailable", "Authorization service unavailable")
		return
	}

	m, err := s.muxerFor(r.Context(), camera, variant)
	if err != nil {
		s.openError(w, camera, variant, err)
		return
	}
	m.inflight.Add(1)
	m.lastReq.Store(time.Now().UnixNano())
	defer func() {
		m.lastReq.Store(time.Now().UnixNano())
		m.inflight.Add(-1)
	}()
	// Tokens sit in the query of every URI; keep them out of shared caches.
	w.Header().Set("Cache-Control", "private, no-store")
	m.mx.Handle(w, r)
}

var errNoToken = errors.New("hls: no token")

// authorizeViewer finds or creates the viewer session for (token, camera).
func (s *Server) authorizeViewer(r *http.Request, camera string, v media.Variant) (*viewer, error) {
	if s.opts.Authorizer == nil {
		return nil, media.ErrDenied
	}
	token := httpread.Token(r)
	if token == "" {
		return nil, errNoToken
	}
	key := viewerKey{token: sha256.Sum256([]byte(token)), camera: camera}
	now := time.Now()

	s.mu.Lock()
	if until, ok := s.denied[key]; ok {
		if now.Before(until) {
			s.mu.Unlock()
			return nil, media.ErrDenied
		}
		delete(s.denied, key)
	}
	vw, ok := s.viewers[key]
	if ok && vw.ended.Load() {
		delete(s.viewers, key)
		ok = false
	}
	if !ok {
		if s.closed {
			s.mu.Unlock()
			return nil, errors.New("hls: closed")
		}
		vw = &viewer{ready: make(chan struct{})}
		vw.lastSeen.Store(now.UnixNano())
		s.viewers[key] = vw
		s.mu.Unlock()
		// Only the first request asks; concurrent ones wait on ready.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		vw.grant, vw.err = s.opts.Authorizer.AuthorizeRead(ctx, media.ReadRequest{
			CameraID: camera, Variant: v, Protocol: media.ProtoHLS, Token: token, Remote: r.RemoteAddr,
		})
		cancel()
		close(vw.ready)
		if vw.err != nil {
			vw.ended.Store(true)
			s.mu.Lock()
			if s.viewers[key] == vw {
				delete(s.viewers, key)
			}
			if errors.Is(vw.err, media.ErrDenied) && len(s.denied) < 10000 {
				s.denied[key] = now.Add(s.opts.DenyCacheTTL)
			}
			s.mu.Unlock()
			if errors.Is(vw.err, media.ErrDenied) {
				s.log.Info("hls viewer denied", "camera", camera, "remote", r.RemoteAddr)
			}
			return nil, vw.err
		}
		s.log.Info("hls viewer started", "camera", camera, "variant", v, "subject", vw.grant.Subject, "remote", r.RemoteAddr)
	} else {
		s.mu.Unlock()
	}

	select {
	case <-vw.ready:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	if vw.err != nil {
		return nil, vw.err
	}
	if vw.grant.Revoked != nil {
		select {
		case <-vw.grant.Revoked:
			vw.end("access revoked")
			return nil, media.ErrDenied
		default:
		}
	}
	vw.lastSeen.Store(now.UnixNano())
	return vw, nil
}

// end calls the grant's End once.
func (vw *viewer) end(reason string) {
	if vw.ended.Swap(true) {
		return
	}
	select {
	case <-vw.ready:
	default:
		return // still authorizing; that path cleans up
	}
	if vw.err == nil && vw.grant.End != nil {
		vw.grant.End(reason)
	}
}

// janitor ends silent or revoked viewers and closes idle muxers. A ticker
// instead of a timer per viewer keeps a thousand viewers at zero goroutines.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		type ending struct {
			vw     *viewer
			reason string
		}
		var ends []ending
		var idle []*muxer
		s.mu.Lock()
		for k, vw := range s.viewers {
			select {
			case <-vw.ready:
			default:
				continue
			}
			reason := ""
			if vw.inflight.Load() == 0 && now-vw.lastSeen.Load() > int64(s.opts.ViewerIdle) {
				reason = "viewer idle"
			} else if vw.grant.Revoked != nil {
				select {
				case <-vw.grant.Revoked:
					reason = "access revoked"
				default:
				}
			}
			if reason != "" || vw.ended.Load() {
				delete(s.viewers, k)
				ends = append(ends, ending{vw, reason})
			}
		}
		for k, until := range s.denied {
			if now > until.UnixNano() {
				delete(s.denied, k)
			}
		}
		for k, m := range s.muxers {
			select {
			case <-m.ready:
			default:
				continue
			}
			if m.inflight.Load() == 0 && now-m.lastReq.Load() > int64(s.opts.MuxerIdle) {
				delete(s.muxers, k)
				idle = append(idle, m)
			}
		}
		s.mu.Unlock()
		for _, e := range ends {
			if e.reason != "" {
				e.vw.end(e.reason)
			}
		}
		for _, m := range idle {
			m.close("idle")
		}
	}
}

func (s *Server) openError(w http.ResponseWriter, camera string, v media.Variant, err error) {
	switch {
	case errors.Is(err, media.ErrNotFound):
		httpread.WriteError(w, http.StatusNotFound, "not_found", "Không có camera này. No such camera.")
	case errors.Is(err, errCodec):
		httpread.WriteError(w, http.StatusUnsupportedMediaType, "codec_unsupported", err.Error())
	case errors.Is(err, context.Canceled):
		// the client went away; nobody reads this
		w.WriteHeader(499)
	default:
		s.log.Warn("hls stream unavailable", "camera", camera, "variant", v, "err", err)
		w.Header().Set("Retry-After", "5")
		httpread.WriteError(w, http.StatusServiceUnavailable, "stream_unavailable", "Không mở được luồng camera. The camera stream is unavailable.")
	}
}
