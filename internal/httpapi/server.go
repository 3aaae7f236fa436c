// Package httpapi is the REST API under /api/v1 (huma: OpenAPI 3.1 generated
// from the handlers, served at /api/v1/openapi.json) and the HTTP plumbing:
// sessions and tokens, CSRF, rate limits, size limits, health and metrics.
// Handlers are thin: decode, decide (access), call a room, encode. Every
// handler that touches a camera or a site function goes through the access
// decision, and every denial is written to the audit log.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/events"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/i18n"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/onvif"
	"github.com/vigil-vms/vigil/internal/ops"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/web/console/feed"
)

// Version is set by cmd/vigil at build time.
var Version = "dev"

// SessionCookie holds the session secret; CSRFHeader carries the CSRF token
// on unsafe requests of a cookie session.
const (
	SessionCookie = "vigil_session"
	CSRFHeader    = "X-CSRF-Token"
)

// Deps are the rooms the API calls.
type Deps struct {
	Cfg         config.Config
	Log         *slog.Logger
	DB          *store.DB
	Audit       *audit.Log
	Auth        *auth.Service
	Access      *access.Store
	Registry    *registry.Service
	Hub         *media.Hub
	Metrics     *prometheus.Registry
	ReloadMedia func(context.Context)
	// Federation is the link between tiers (nil: no federation routes).
	Federation *federation.Service
	// Recorder and Playback serve recordings (nil: no playback routes).
	Recorder *record.Service
	Playback *playback.Service
	// Health and Ops are the health and operations rooms (nil: no routes).
	Health *health.Service
	Ops    *ops.Service
	// Events and ONVIF are the analytics events and ONVIF rooms (nil: no routes).
	Events *events.Service
	ONVIF  *onvif.Service
	// Mounts are extra handlers (WHEP, HLS, the player page) by path prefix.
	Mounts map[string]http.Handler
	// Readiness, when set, adds the site's own checks to /readyz (can the
	// database write, is the data volume above its reserve); any problem
	// makes the site not ready.
	Readiness func(ctx context.Context) []ReadyProblem
}

// ReadyProblem is one reason /readyz answers not ready: the check that
// failed (database, data_dir), an error code of the catalogue (disk_full,
// db_read_only, unavailable) and a detail in English for operators (free
// bytes, the driver's error), never a secret.
type ReadyProblem struct {
	Check  string
	Code   string
	Detail string
}

// Server is the HTTP face of a site.
type Server struct {
	Deps
	api          huma.API
	mux          *http.ServeMux
	loginLimiter *ipLimiter
	requests     *prometheus.CounterVec
	feed         *feed.Feed // registry and status changes for the console (routes_live.go)
	snaps        snapshotters
	ending       chan struct{} // closed by EndStreams
	endOnce      sync.Once
}

type ctxKey int

const (
	keyPrincipal ctxKey = iota
	keyMeta
)

// reqMeta is what handlers need of the raw request.
type reqMeta struct {
	remote string
	tls    bool
	lang   i18n.Lang
	secret string // the session cookie value, for logout
}

func init() { installErrorModel() }

// New builds the API and registers every route.
func New(d Deps) *Server {
	s := &Server{Deps: d, mux: http.NewServeMux(), loginLimiter: newIPLimiter(d.Cfg.Auth.LoginRatePerMinute, 10)}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_http_requests_total", Help: "HTTP requests by route class and status class.",
	}, []string{"class", "status"})
	if d.Metrics != nil {
		_ = d.Metrics.Register(s.requests)
	}
	cfg := huma.DefaultConfig("Vigil API", Version)
	cfg.Info.Description = "API of a Vigil site: camera registry, accounts, access decisions, audit log, live video. " +
		"Errors are JSON {code, message, field}. Messages are Vietnamese by default; send Accept-Language: en for English."
	cfg.OpenAPIPath = "/api/v1/openapi"
	cfg.DocsPath = "" // the hosted docs page loads scripts from a CDN; the JSON is what clients need
	cfg.SchemasPath = "/api/v1/schemas"
	cfg.CreateHooks = nil // no $schema links in bodies: clients post the same shapes they get
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"session": {Type: "apiKey", In: "cookie", Name: SessionCookie},
		"token":   {Type: "http", Scheme: "bearer"},
	}
	cfg.Security = []map[string][]string{{"session": {}}, {"token": {}}}
	s.api = humago.New(s.mux, cfg)

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	if d.Metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{}))
	}
	for prefix, h := range d.Mounts {
		s.mux.Handle(prefix, h)
	}
	s.routesAuth()
	s.routesUsers()
	s.routesRegistry()
	s.routesAccess()
	s.routesAudit()
	s.routesMedia()
	s.routesPlayback()
	s.routesFederation()
	s.routesHealth()
	s.routesOps()
	s.routesEvents()
	s.routesONVIF()
	s.ending = make(chan struct{})
	s.feed = feed.New(s.readSite, liveFeedEvery)
	s.routesLive()
	s.routesSnapshot()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, Err(i18n.FromRequest(r), http.StatusNotFound, "not_found", ""))
	})
	return s
}

// Handler is the whole HTTP surface with its middleware.
func (s *Server) Handler() http.Handler {
	return s.recoverer(s.securityHeaders(s.authenticate(s.mux)))
}

// API exposes the huma API (OpenAPI tests).
func (s *Server) API() huma.API { return s.api }

// ready answers 200 when the site can serve: the database answers and
// (Readiness) can write, and the data volume keeps its reserve. Otherwise
// 503 not_ready with each reason in details, so a load balancer stops
// sending work that would fail and an operator reads why.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	lang := i18n.FromRequest(r)
	var probs []ReadyProblem
	if err := s.DB.SQL.PingContext(ctx); err != nil {
		probs = append(probs, ReadyProblem{Check: "database", Code: "db_unavailable", Detail: err.Error()})
	} else if s.Readiness != nil {
		probs = append(probs, s.Readiness(ctx)...)
	}
	if len(probs) == 0 {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": string(s.DB.Engine)})
		return
	}
	out := Err(lang, http.StatusServiceUnavailable, "not_ready", probs[0].Check)
	for _, p := range probs {
		msg := i18n.Text(lang, p.Code)
		if p.Detail != "" {
			msg += " (" + p.Detail + ")"
		}
		out.Details = append(out.Details, FieldDetail{Field: p.Check, Code: p.Code, Message: msg})
	}
	out.Message += ": " + out.Details[0].Message
	writeAPIError(w, out)
}

// storageErr is the answer when the database cannot write (store.Unwritable
// gave why): 507 disk_full or 503 db_read_only, never a bare 500 nor an
// answer that blames the caller's credentials. The action was not done.
func storageErr(lang i18n.Lang, why string) *APIError {
	if why == store.DiskFull {
		return Err(lang, http.StatusInsufficientStorage, store.DiskFull, "")
	}
	return Err(lang, http.StatusServiceUnavailable, why, "")
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("handler panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeAPIError(w, Err(i18n.FromRequest(r), http.StatusInternalServerError, "internal", ""))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		sw := &statusWriter{ResponseWriter: w, status: 200}
		next.ServeHTTP(sw, r)
		class := "other"
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/"):
			class = "api"
		case strings.HasPrefix(r.URL.Path, "/whep/"):
			class = "whep"
		case strings.HasPrefix(r.URL.Path, "/hls/"):
			class = "hls"
		}
		s.requests.WithLabelValues(class, statusClass(sw.status)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int)        { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func statusClass(c int) string {
	switch {
	case c < 300:
		return "2xx"
	case c < 400:
		return "3xx"
	case c < 500:
		return "4xx"
	}
	return "5xx"
}

// authenticate resolves the caller (session cookie or bearer API token) and
// enforces CSRF for cookie sessions on unsafe methods. It never refuses on
// its own for a missing identity: each handler decides whether it needs one.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		meta := &reqMeta{remote: clientIP(r), tls: r.TLS != nil, lang: i18n.FromRequest(r)}
		ctx := context.WithValue(r.Context(), keyMeta, meta)
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		var p *auth.Principal
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			tp, err := s.Auth.AuthenticateToken(r.Context(), strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")))
			if err != nil {
				writeAPIError(w, s.credentialErr(meta.lang, err))
				return
			}
			p = tp
		} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			sp, err := s.Auth.Authenticate(r.Context(), c.Value)
			if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
				// The session could not be checked (the database failed):
				// say so, rather than 401 a user whose session is fine.
				writeAPIError(w, s.credentialErr(meta.lang, err))
				return
			}
			if err == nil {
				meta.secret = c.Value
				unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
				if unsafe && r.URL.Path != "/api/v1/auth/login" && !sp.CheckCSRF(r.Header.Get(CSRFHeader)) {
					writeAPIError(w, Err(meta.lang, http.StatusForbidden, "csrf", CSRFHeader))
					return
				}
				p = sp
			}
		}
		if p != nil {
			ctx = context.WithValue(ctx, keyPrincipal, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// credentialErr answers a session or token check that failed: 401 when the
// credential is bad, and when the check itself failed (the database) the
// reason, so a full disk is not mistaken for an invalid token.
func (s *Server) credentialErr(lang i18n.Lang, err error) *APIError {
	if errors.Is(err, auth.ErrTokenInvalid) || errors.Is(err, auth.ErrUnauthenticated) {
		return Err(lang, http.StatusUnauthorized, "unauthenticated", "")
	}
	if why := store.Unwritable(err); why != "" {
		return storageErr(lang, why)
	}
	s.Log.Error("credential check failed", "err", err)
	return Err(lang, http.StatusServiceUnavailable, "unavailable", "")
}

func metaOf(ctx context.Context) *reqMeta {
	if m, ok := ctx.Value(keyMeta).(*reqMeta); ok {
		return m
	}
	return &reqMeta{lang: i18n.Default}
}

// caller is an authenticated user with the facts the access rules need.
type caller struct {
	p      *auth.Principal
	subj   access.Subject
	remote string
	lang   i18n.Lang
}

func (c *caller) regActor() registry.Actor {
	return registry.Actor{UserID: c.p.UserID, Username: c.p.Username, OrgID: c.p.OrgID, Remote: c.remote}
}
func (c *caller) authActor() auth.Actor { return c.p.Actor(c.remote) }
func (c *caller) accessActor() access.Actor {
	return access.Actor{ID: c.p.UserID, Name: c.p.Username, OrgID: c.p.OrgID, Remote: c.remote}
}

// who returns the caller, or 401 when there is none. A session restricted to
// changing its password (or enrolling TOTP) gets 403 password_change_required
// everywhere but the routes that let it out of that state.
func (s *Server) who(ctx context.Context, allowRestricted bool) (*caller, error) {
	m := metaOf(ctx)
	p, _ := ctx.Value(keyPrincipal).(*auth.Principal)
	if p == nil {
		return nil, Err(m.lang, http.StatusUnauthorized, "unauthenticated", "")
	}
	if p.Restricted() && !allowRestricted {
		return nil, Err(m.lang, http.StatusForbidden, "password_change_required", "")
	}
	subj, err := BuildSubject(ctx, s.DB, s.Cfg.Access.HighestOrg, p.UserID, p.OrgID, p.Roles, false)
	if err != nil {
		return nil, s.internal(ctx, "load subject", err)
	}
	return &caller{p: p, subj: subj, remote: m.remote, lang: m.lang}, nil
}

// site checks a site action and audits a refusal.
func (s *Server) site(ctx context.Context, c *caller, a access.Action, object string) error {
	d := access.DecideSite(&c.subj, a)
	if d.Allow {
		return nil
	}
	return s.deny(ctx, c, a, object, d)
}

// camera checks a camera action and audits a refusal. Unknown cameras are
// 404 only for callers who could see them anyway; for others the answer is
// the same 403 as for a camera they may not see, so ids cannot be probed.
func (s *Server) camera(ctx context.Context, c *caller, a access.Action, id string) (registry.CameraFacts, error) {
	f, err := s.Registry.CameraFacts(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		if c.subj.Highest {
			return f, Err(c.lang, http.StatusNotFound, "not_found", "id")
		}
		return f, s.deny(ctx, c, a, "camera/"+id, access.Decision{Reason: "no_rule"})
	}
	if err != nil {
		return f, s.internal(ctx, "camera facts", err)
	}
	cam := CameraOf(f)
	d := access.Decide(&c.subj, a, &cam, time.Now())
	if !d.Allow {
		return f, s.deny(ctx, c, a, "camera/"+id, d)
	}
	return f, nil
}

// deny writes the refusal to the audit log (R-SEC-1: every access denial)
// and answers 403 with the reason code.
func (s *Server) deny(ctx context.Context, c *caller, a access.Action, object string, d access.Decision) error {
	_, err := s.Audit.Append(ctx, s.DB.Q(), audit.Entry{
		ActorID: c.p.UserID, Actor: c.p.Username, Org: c.p.OrgID, Action: "access.denied",
		Object: object, Outcome: audit.Denied, Reason: string(d.Reason),
		Details: map[string]any{"action": a.String()}, Remote: c.remote,
	})
	if err != nil {
		s.Log.Error("audit append failed", "err", err)
	}
	e := Err(c.lang, http.StatusForbidden, "forbidden", "")
	e.Details = []FieldDetail{{Code: string(d.Reason), Message: "reason: " + string(d.Reason)}}
	return e
}

// internal logs err (never a secret: room errors do not carry any) and
// answers 500 without detail, or, when the database could not write (a full
// disk, a read-only database), 507 disk_full / 503 db_read_only: the action
// was refused and the caller is told why.
func (s *Server) internal(ctx context.Context, what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return Err(metaOf(ctx).lang, 499, "bad_request", "")
	}
	if why := store.Unwritable(err); why != "" {
		s.Log.Warn("request refused: the database cannot write", "what", what, "reason", why, "err", err)
		return storageErr(metaOf(ctx).lang, why)
	}
	s.Log.Error("request failed", "what", what, "err", err)
	return Err(metaOf(ctx).lang, http.StatusInternalServerError, "internal", "")
}

// roomErr maps a room's error to the API's.
func (s *Server) roomErr(ctx context.Context, err error) error {
	lang := metaOf(ctx).lang
	var ve *registry.ValidationError
	var ves registry.ValidationErrors
	var ce *registry.ConflictError
	var ae *auth.Error
	var fe *access.FieldError
	switch {
	case errors.As(err, &ves) && len(ves) > 0:
		out := ErrMsg(http.StatusUnprocessableEntity, "invalid_input", ves[0].Field, i18n.Text(lang, "invalid_input")+": "+ves[0].Message)
		for _, v := range ves {
			out.Details = append(out.Details, FieldDetail{Line: v.Line, Field: v.Field, Code: v.Code, Message: v.Message})
		}
		if ves[0].Line > 0 {
			out.Code, out.Message = "csv_invalid", i18n.Text(lang, "csv_invalid")
		}
		return out
	case errors.As(err, &ve):
		code := "invalid_input"
		if ve.Code == "public_not_allowed" {
			code = ve.Code
		}
		out := ErrMsg(http.StatusUnprocessableEntity, code, ve.Field, i18n.Text(lang, "invalid_input")+": "+ve.Message)
		out.Details = []FieldDetail{{Field: ve.Field, Code: ve.Code, Message: ve.Message}}
		return out
	case errors.As(err, &ce):
		code := "conflict"
		switch ce.Code {
		case "duplicate":
			code = "duplicate_id"
		case "version_mismatch":
			code = "version_conflict"
		}
		out := ErrMsg(http.StatusConflict, code, ce.Field, i18n.Text(lang, code)+": "+ce.Message)
		return out
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, access.ErrNotFound), errors.Is(err, auth.ErrNotFound), errors.Is(err, auth.ErrTokenNotFound):
		return Err(lang, http.StatusNotFound, "not_found", "")
	case errors.As(err, &fe):
		return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", fe.Field, i18n.Text(lang, "invalid_input")+": "+fe.Msg)
	case errors.As(err, &ae):
		msg := ae.MessageVI
		if lang == i18n.EN || msg == "" {
			msg = ae.Message
		}
		status := http.StatusUnprocessableEntity
		switch ae.Code {
		case "invalid_credentials", "unauthenticated", "token_invalid", "stream_token_invalid", "stream_token_expired":
			status = http.StatusUnauthorized
		case "username_taken":
			status = http.StatusConflict
		case "wrong_password":
			status = http.StatusForbidden
		}
		out := ErrMsg(status, ae.Code, "", msg)
		for _, v := range ae.Violations {
			out.Details = append(out.Details, FieldDetail{Field: "password", Code: v, Message: v})
		}
		if len(ae.Violations) > 0 {
			out.Field = "password"
		}
		return out
	}
	return s.internal(ctx, "room", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, e *APIError) { writeJSON(w, e.Status, e) }

// asAPIError is err as the API's error (what internal and roomErr return),
// for answers written by hand inside a streamed response.
func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return &APIError{Status: http.StatusInternalServerError, Code: "internal", Message: i18n.Text(i18n.Default, "internal")}
}

// op is a huma operation with our conventions.
func op(method, path, id, summary string, tags ...string) huma.Operation {
	return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: tags}
}
