// Package public is the read-only public endpoint for the citizen app
// (R-PUB-1, R-PUB-2, clause 10.3 of the regulation).
//
// It is a listener of its own: nothing else of the site is mounted on it, it
// sets no cookie and reads none, and it answers only GET, HEAD and OPTIONS.
// Which cameras exist for it is decided by one SQL predicate (Where) that
// every route goes through; a camera that stops satisfying it disappears
// from the list and its snapshot and live routes answer 404 from the next
// request (the app calls Invalidate after every registry change, and kept
// answers expire after public.decision_ttl in any case), so a public viewer's
// live session ends at once.
//
// Routes:
//
//	GET /                                    the public page (Vietnamese)
//	GET /static/{file}                       its script and style
//	GET /api/cameras                         list of public cameras
//	GET /api/cameras/{id}                    one public camera
//	GET /api/cameras/{id}/snapshot.jpg       JPEG from the cached keyframe
//	GET /live/{id}/{variant}/index.m3u8 …    LL-HLS from the shared muxers
//	GET /healthz                             {"status":"ok"}
//
// Every answer carries Cache-Control for a CDN in front; errors are JSON
// {code, message} with no-store. Per-address and global limits answer 429.
package public

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/hls"
	"github.com/vigil-vms/vigil/internal/store"
)

//go:embed web
var webFS embed.FS

// Hub is what the public room needs of the media hub.
type Hub interface {
	OpenInternalReader(ctx context.Context, cameraID string, v media.Variant, p media.Protocol, r media.UnitReader) (media.ReaderHandle, error)
	State(cameraID string) ([]media.State, bool)
}

// HLSMounter mounts the shared LL-HLS muxers under another authorization
// (*hls.Server does).
type HLSMounter interface {
	Handler(auth hls.AuthorizeFunc) http.Handler
}

// Deps are the rooms the public endpoint reads from.
type Deps struct {
	Cfg    config.Public
	DB     *store.DB
	Hub    Hub
	HLS    HLSMounter
	Logger *slog.Logger
	// FFmpeg is the ffmpeg binary; empty looks it up on PATH.
	FFmpeg string
}

// Server is the public endpoint.
type Server struct {
	cfg     config.Public
	log     *slog.Logger
	q       querier
	gate    *gate
	hub     Hub
	snaps   *snapshots
	lim     *limiter
	hlsH    http.Handler
	variant media.Variant
	origins map[string]bool
	anyOrig bool
	handler http.Handler

	mu   sync.Mutex
	ln   net.Listener
	srv  *http.Server
	stop chan struct{}
	wg   sync.WaitGroup
}

// New builds the endpoint; Start opens its listener.
func New(d Deps) (*Server, error) {
	if d.DB == nil || d.Hub == nil || d.HLS == nil {
		return nil, errors.New("public: DB, Hub and HLS are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	var proxies []netip.Prefix
	for _, p := range d.Cfg.TrustedProxies {
		pr, err := parsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("config: public.trusted_proxies: %w", err)
		}
		proxies = append(proxies, pr)
	}
	ff := d.FFmpeg
	if ff == "" {
		ff, _ = exec.LookPath("ffmpeg")
	}
	s := &Server{
		cfg: d.Cfg, log: d.Logger.With("room", "public"), q: querier{d.DB}, hub: d.Hub,
		variant: media.Variant(d.Cfg.LiveVariant), origins: map[string]bool{}, stop: make(chan struct{}),
	}
	if s.variant == "" {
		s.variant = media.Sub
	}
	if ff == "" {
		s.log.Warn("ffmpeg not found on PATH: public snapshots will answer 503 snapshot_unavailable")
	}
	s.gate = newGate(s.q, d.Cfg.DecisionTTL)
	s.snaps = newSnapshots(d.Hub, s.variant, max(d.Cfg.SnapshotInterval, time.Second), ff, 2)
	s.lim = newLimiter(max(1, d.Cfg.RatePerSecond), max(1, d.Cfg.Burst), max(1, d.Cfg.GlobalRatePerSecond), max(1, d.Cfg.MaxInflight), proxies)
	for _, o := range d.Cfg.AllowedOrigins {
		if o == "*" {
			s.anyOrig = true
		}
		s.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	s.hlsH = d.HLS.Handler(func(r *http.Request, camera string, v media.Variant) error {
		// Checked again here (cheap, kept answers) so that the muxers are
		// never reached for a camera that is not public.
		ok, err := s.gate.allowed(r.Context(), camera)
		if err != nil {
			return err
		}
		if !ok || v != s.variant {
			return media.ErrDenied
		}
		return nil
	})
	s.handler = s.routes()
	return s, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Handler is the whole public endpoint (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Invalidate forgets every kept "is it public" answer; the app calls it
// after each registry change so the change applies from the next request.
func (s *Server) Invalidate() { s.gate.invalidate() }

// Start listens on cfg.Listen and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("public.listen: %w", err)
	}
	if s.cfg.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("config: public.tls_cert: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12})
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.ln, s.srv = ln, srv
	s.mu.Unlock()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("public server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.snaps.forget(10 * s.snaps.interval)
			}
		}
	}()
	s.log.Info("public endpoint serving", "addr", ln.Addr().String())
	return nil
}

// URL is the base URL of the listener ("" before Start).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Close stops the listener.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = srv.Shutdown(ctx)
	cancel()
	_ = srv.Close() // blocking LL-HLS requests do not wait for Shutdown
	s.wg.Wait()
}

// --- routing and protection -------------------------------------------------

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /static/{file}", s.static)
	mux.HandleFunc("GET /api/cameras", s.list)
	mux.HandleFunc("GET /api/cameras/{id}", s.one)
	mux.HandleFunc("GET /api/cameras/{id}/snapshot.jpg", s.snapshot)
	mux.HandleFunc("GET /live/{id}/{variant}/{file}", s.live)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
	return s.protect(mux)
}

// protect is the outer layer every request crosses first.
func (s *Server) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		s.cors(w, r)
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Chỉ đọc: phương thức không được phép. Read-only endpoint: method not allowed.")
			return
		}
		if !cleanPath(r) {
			notFound(w)
			return
		}
		if !s.lim.allow(s.lim.clientKey(r)) {
			h.Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "rate_limited", "Quá nhiều yêu cầu từ địa chỉ của bạn, vui lòng thử lại sau. Too many requests from your address; retry later.")
			return
		}
		if !s.lim.global.Allow() || !s.lim.acquire() {
			h.Set("Retry-After", "2")
			writeError(w, http.StatusTooManyRequests, "busy", "Hệ thống đang quá tải, vui lòng thử lại sau. The service is at capacity; retry later.")
			return
		}
		defer s.lim.release()
		if r.Method == http.MethodOptions {
			h.Set("Cache-Control", "public, max-age=600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath refuses every path that is not already canonical: dot segments,
// doubled or encoded slashes, backslashes, NUL and control bytes. Nothing is
// redirected or normalised, so no trick can land on another route.
func cleanPath(r *http.Request) bool {
	raw := r.URL.EscapedPath()
	if raw == "" || raw[0] != '/' || len(raw) > 512 {
		return false
	}
	low := strings.ToLower(raw)
	for _, bad := range []string{"//", "/./", "/../", "%2e", "%2f", "%5c", "%00", "\\", "%25"} {
		if strings.Contains(low, bad) {
			return false
		}
	}
	if strings.HasSuffix(low, "/.") || strings.HasSuffix(low, "/..") {
		return false
	}
	for i := 0; i < len(r.URL.Path); i++ {
		if c := r.URL.Path[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return path.Clean(r.URL.Path) == r.URL.Path || (r.URL.Path == "/")
}

// cors allows the configured app origins to read, never with credentials.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	if s.anyOrig {
		h.Set("Access-Control-Allow-Origin", "*")
	} else if s.origins[strings.ToLower(origin)] {
		h.Set("Access-Control-Allow-Origin", origin)
	} else {
		return
	}
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Retry-After")
	h.Set("Access-Control-Max-Age", "600")
}

// --- answers ------------------------------------------------------------------

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "not_found", "Không tìm thấy. Not found.")
}

func (s *Server) internalError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Warn("public "+what+" failed", "err", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "unavailable", "Dịch vụ tạm thời gián đoạn. Temporarily unavailable.")
}

func (s *Server) decorate(c *Camera) {
	c.Status = "unknown"
	if st, ok := s.hub.State(c.ID); ok && len(st) > 0 {
		pick := st[0]
		for _, x := range st {
			if x.Variant == s.variant {
				pick = x
			}
		}
		switch pick.Status {
		case "online", "offline", "idle", "connecting":
			c.Status = pick.Status
		}
	}
	id := url.PathEscape(c.ID)
	c.SnapshotURL = "/api/cameras/" + id + "/snapshot.jpg"
	c.LiveURL = "/live/" + id + "/" + string(s.variant) + "/index.m3u8"
}

// listCache is how long a CDN may keep the list and a camera's entry.
const listCache = "public, max-age=5"

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	cams, err := s.q.list(r.Context())
	if err != nil {
		s.internalError(w, "list", err)
		return
	}
	for i := range cams {
		s.decorate(&cams[i])
	}
	w.Header().Set("Cache-Control", listCache)
	writeJSON(w, http.StatusOK, map[string]any{"cameras": cams, "count": len(cams)})
}

func (s *Server) one(w http.ResponseWriter, r *http.Request) {
	c, err := s.q.get(r.Context(), r.PathValue("id"))
	if errors.Is(err, errNotPublic) {
		notFound(w)
		return
	}
	if err != nil {
		s.internalError(w, "camera", err)
		return
	}
	s.decorate(&c)
	w.Header().Set("Cache-Control", listCache)
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ok, err := s.gate.allowed(r.Context(), id)
	if err != nil {
		s.internalError(w, "snapshot", err)
		return
	}
	if !ok {
		notFound(w)
		return
	}
	jpeg, at, err := s.snaps.get(r.Context(), id)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoFFmpeg):
		writeError(w, http.StatusServiceUnavailable, "snapshot_unavailable", ErrNoFFmpeg.Error())
		return
	case errors.Is(err, context.Canceled):
		return
	default:
		s.log.Info("public snapshot failed", "camera", id, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "camera_unavailable", "Camera tạm thời không có hình. The camera has no picture right now.")
		return
	}
	// Fresh for the rest of the interval: a CDN then asks once per interval.
	left := s.snaps.interval - time.Since(at)
	if left < time.Second {
		left = time.Second
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(left/time.Second)))
	h.Set("Last-Modified", at.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(jpeg)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(jpeg)
	}
}

// llhlsParams are the only query parameters passed to the muxer: anything
// else (tokens, cache busters) is dropped so it can neither be echoed into
// playlists nor split a CDN's cache.
var llhlsParams = []string{"_HLS_msn", "_HLS_part", "_HLS_skip"}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if media.Variant(r.PathValue("variant")) != s.variant {
		notFound(w)
		return
	}
	if _, _, file, ok := hls.ParsePath(r.URL.Path); !ok || file != r.PathValue("file") {
		notFound(w)
		return
	}
	ok, err := s.gate.allowed(r.Context(), id)
	if err != nil {
		s.internalError(w, "live", err)
		return
	}
	if !ok {
		notFound(w)
		return
	}
	q := url.Values{}
	in := r.URL.Query()
	for _, k := range llhlsParams {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	r2.Header.Del("Authorization")
	r2.Header.Del("Cookie")
	r2.Header.Del("Origin") // CORS is answered here, not by the operator server
	s.hlsH.ServeHTTP(&cacheWriter{ResponseWriter: w, file: r.PathValue("file")}, r2)
}

// cacheWriter sets the CDN policy on the muxer's answers: playlists change
// every part (LL-HLS blocking reloads are distinct URLs a CDN can collapse),
// segments and parts are immutable under their names; errors are never kept.
type cacheWriter struct {
	http.ResponseWriter
	file  string
	wrote bool
}

func (c *cacheWriter) WriteHeader(status int) {
	if !c.wrote {
		c.wrote = true
		h := c.ResponseWriter.Header()
		switch {
		case status != http.StatusOK:
			h.Set("Cache-Control", "no-store")
		case c.file == "index.m3u8":
			h.Set("Cache-Control", "public, max-age=2")
		case strings.HasSuffix(c.file, ".m3u8"):
			h.Set("Cache-Control", "public, max-age=1")
		default:
			h.Set("Cache-Control", "public, max-age=30")
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *cacheWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

func (c *cacheWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *cacheWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// --- the page -------------------------------------------------------------------

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.serveFile(w, r, "index.html")
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	f := r.PathValue("file")
	if f == "index.html" || strings.HasPrefix(f, ".") {
		notFound(w)
		return
	}
	s.serveFile(w, r, f)
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	data, err := fs.ReadFile(webFS, "web/"+name)
	if err != nil {
		notFound(w)
		return
	}
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "+
		"style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}
