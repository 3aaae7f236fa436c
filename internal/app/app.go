// Package app wires the rooms into a running site. `vigil serve`, `vigil
// demo` and the end-to-end tests all start a site through Open and Serve, so
// what the tests exercise is what operators run.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/events"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/httpapi"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/hls"
	"github.com/vigil-vms/vigil/internal/media/webrtc"
	"github.com/vigil-vms/vigil/internal/onvif"
	"github.com/vigil-vms/vigil/internal/ops"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/public"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/web/console"
	"github.com/vigil-vms/vigil/internal/web/player"
)

// App is one site's rooms, opened and wired.
type App struct {
	Cfg     config.Config
	Log     *slog.Logger
	DB      *store.DB
	Sealer  *secrets.Sealer
	SiteKey ed25519.PrivateKey
	KeyID   string
	Audit   *audit.Log
	// Witness keeps the audit head outside the database (witness.go).
	Witness  *audit.Witness
	Auth     *auth.Service
	Access   *access.Store
	Registry *registry.Service
	Hub      *media.Hub
	Metrics  *prometheus.Registry
	authz    *liveAuthorizer
	WebRTC   *webrtc.Server
	HLS      *hls.Server
	// Public is the citizen-app endpoint on its own listener (nil when
	// public.listen is empty).
	Public *public.Server
	// Federation is the link between tiers (embedded NATS, leaf node).
	Federation *federation.Service
	// Recorder records the cameras; Playback serves and exports footage.
	Recorder *record.Service
	Playback *playback.Service
	// Health watches camera status and tracks incidents; Ops holds reviews,
	// installations, maintenance and reports.
	Health *health.Service
	Ops    *ops.Service
	// Events is the analytics events room; ONVIF the cameras' ONVIF devices.
	Events     *events.Service
	ONVIF      *onvif.Service
	onvifBatch *events.Batcher

	vod            vod
	witnessClosers []io.Closer
	borrowedDB     bool
	httpLn         net.Listener
	httpSrv        *http.Server
	wg             sync.WaitGroup
	cancel         context.CancelFunc
}

// Options adjust Open for tests and the demo.
type Options struct {
	// Argon2 overrides the password-hash cost (tests use auth.TestArgon2).
	Argon2 auth.Argon2Params
	// DB, when set, is used instead of opening cfg.Database (tests hand in a
	// migrated database on either engine). Close does not close it.
	DB *store.DB
}

// Open opens the database (migrating it), the keys and every room.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*App, error) {
	a := &App{Cfg: cfg, Log: log}
	a.vod.init()
	key, src, err := secrets.LoadKey(cfg.Secrets.Key, cfg.Secrets.KeyFile, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	log.Info("secret key loaded", "from", src)
	if a.Sealer, err = secrets.NewSealer(key); err != nil {
		return nil, err
	}
	if a.SiteKey, a.KeyID, err = secrets.SiteKey(a.Sealer, cfg.DataDir); err != nil {
		return nil, err
	}
	if opt.DB != nil {
		a.DB, a.borrowedDB = opt.DB, true
	} else if a.DB, err = store.Open(ctx, store.Options{DSN: cfg.Database.DSN, SQLitePath: cfg.SQLitePath(), Logger: log}); err != nil {
		return nil, err
	}
	a.Audit = audit.New(audit.Options{
		Key: a.SiteKey, KeyID: a.KeyID, DB: a.DB,
		EveryEntries: int64(cfg.Audit.CheckpointEvery), EveryInterval: cfg.Audit.CheckpointInterval,
	})
	// Stream tokens must verify on every node of a site: derive their key
	// from the site secret rather than a per-process random key.
	streamKey := deriveKey(key, "vigil stream tokens v1")
	a.Auth = auth.New(a.DB, a.Audit, a.Sealer, auth.Policy{
		LockoutFailures: cfg.Auth.LockoutFailures, LockoutWindow: cfg.Auth.LockoutWindow,
		LockoutDuration: cfg.Auth.LockoutDuration, AdminPasswordMaxAge: cfg.Auth.AdminPasswordMaxAge,
		RequireTOTPForAdmins: cfg.Auth.RequireTOTPForAdmins, TOTPIssuer: "Vigil " + cfg.Site.Name,
		SessionIdle: cfg.Auth.SessionIdle, SessionMax: cfg.Auth.SessionMax,
		StreamKey: streamKey, StreamTokenTTL: cfg.Auth.StreamTokenTTL, Argon2: opt.Argon2,
	})
	a.Access = access.NewStore(a.DB, a.Audit)
	a.Registry = registry.New(a.DB, a.Audit, a.Sealer)
	a.Registry.SetSiteID(cfg.Site.ID)
	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	a.authz = newLiveAuthorizer(a)
	hub, err := media.New(media.Config{RTSPAddr: cfg.RTSP.Listen, OnDemand: a.onDemand}, sourceResolver{reg: a.Registry, fed: &a.vod.federated}, a.authz, log.With("room", "media"), a.Metrics)
	if err != nil {
		a.DB.Close()
		return nil, err
	}
	a.Hub = hub
	a.WebRTC, err = webrtc.New(hub, webrtc.Config{Logger: log.With("room", "webrtc")})
	if err != nil {
		a.DB.Close()
		return nil, err
	}
	a.HLS = hls.New(hub, hls.Options{Authorizer: a.authz, Logger: log.With("room", "hls")})
	if err := a.openRecording(); err != nil {
		a.DB.Close()
		return nil, err
	}
	a.Health = health.New(health.Options{DB: a.DB, Audit: a.Audit, Log: log.With("room", "health"), States: hub.States,
		OfflineAfter: cfg.Ops.OfflineAfter, DefaultDeadline: cfg.Ops.IncidentDeadline, Deadlines: cfg.Ops.CategoryDeadlines,
		EscalateBefore: cfg.Ops.EscalateBefore, Notify: health.NotifyConfig{WebhookURL: cfg.Ops.WebhookURL,
			WebhookSecret: cfg.Ops.WebhookSecret, SMTPAddr: cfg.Ops.SMTPAddr, SMTPFrom: cfg.Ops.SMTPFrom, SMTPTo: cfg.Ops.SMTPRecipients(),
			SMTPUser: cfg.Ops.SMTPUser, SMTPPassword: cfg.Ops.SMTPPassword, RetryMin: cfg.Ops.NotifyRetryMin,
			RetryMax: cfg.Ops.NotifyRetryMax, MaxAttempts: cfg.Ops.NotifyMaxAttempts},
		Node: cfg.Site.ID, OnFirstFrame: a.firstFrame})
	a.Federation = federation.New(federation.Deps{Cfg: cfg, Log: log.With("room", "federation"), DB: a.DB, Audit: a.Audit,
		Registry: a.Registry, Sealer: a.Sealer, Online: a.onlineCameras, OnRegistryChange: a.ReloadMedia, OnLinkAlert: a.linkIncident,
		RelayStart: a.relayStart, RelayStop: a.relayStop, Playback: a.Playback, Health: a.Health, AuditKey: a.Audit.PublicKey()})
	if err := a.openWitness(); err != nil {
		a.DB.Close()
		return nil, err
	}
	a.Ops = ops.New(ops.Options{DB: a.DB, Audit: a.Audit, Auth: a.Auth, Health: a.Health, Log: log.With("room", "ops"),
		AdminPasswordMaxAge: cfg.Auth.AdminPasswordMaxAge, RetentionDays: cfg.Recording.RetentionDays,
		CameraRetention: a.cameraRetention})
	a.openEvents(log)
	if cfg.Public.Listen != "" {
		if a.Public, err = public.New(public.Deps{Cfg: cfg.Public, DB: a.DB, Hub: hub, HLS: a.HLS, Logger: log}); err != nil {
			a.DB.Close()
			return nil, err
		}
	}
	return a, nil
}

// Serve starts the listeners and background work; it returns once they are
// listening. Stop with Close.
func (a *App) Serve(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	if err := a.Hub.Start(ctx); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	a.authz.start(ctx)
	a.wg.Add(2)
	go func() { defer a.wg.Done(); _ = a.Auth.Run(ctx) }()
	go func() { defer a.wg.Done(); a.checkpointLoop(ctx) }()
	a.startWitness(ctx)
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.Health.Run(ctx, a.Cfg.Ops.SampleInterval) }()

	if err := a.startRecording(ctx); err != nil {
		return err
	}
	if err := a.Federation.Start(ctx); err != nil {
		return err
	}
	a.startEvents(ctx)
	api := httpapi.New(httpapi.Deps{
		Cfg: a.Cfg, Log: a.Log, DB: a.DB, Audit: a.Audit, Auth: a.Auth, Access: a.Access,
		Registry: a.Registry, Hub: a.Hub, Metrics: a.Metrics, ReloadMedia: a.ReloadMedia, Federation: a.Federation,
		Recorder: a.Recorder, Playback: a.Playback,
		Health: a.Health, Ops: a.Ops,
		Events: a.Events, ONVIF: a.ONVIF,
		Readiness: newReadiness(a).check,
		Mounts: map[string]http.Handler{
			"/whep/":   a.WebRTC,
			"/hls/":    a.HLS,
			"/player/": http.StripPrefix("/player", player.Handler()),
			"/":        console.Handler(a.Cfg),
		},
	})
	ln, err := net.Listen("tcp", a.Cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	a.httpLn = ln
	a.httpSrv = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	// Long event streams end at shutdown instead of holding it up.
	a.httpSrv.RegisterOnShutdown(api.EndStreams)
	tlsCfg, err := a.tlsConfig()
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		a.httpSrv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("http server stopped", "err", err)
		}
	}()
	if a.Public != nil {
		if err := a.Public.Start(); err != nil {
			return err
		}
	}
	a.Log.Info("site serving", "site", a.Cfg.Site.ID, "tier", a.Cfg.Site.Tier, "http", a.URL(), "rtsp", a.Hub.RTSPAddr())
	return nil
}

func (a *App) tlsConfig() (*tls.Config, error) {
	switch {
	case a.Cfg.HTTP.TLSCert != "":
		c, err := tls.LoadX509KeyPair(a.Cfg.HTTP.TLSCert, a.Cfg.HTTP.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("config: http.tls_cert: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, nil
	case a.Cfg.HTTP.SelfSigned:
		c, err := httpapi.SelfSignedCert(a.Cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, nil
	}
	return nil, nil
}

// URL is the base URL of the HTTP listener.
func (a *App) URL() string {
	scheme := "http"
	if a.Cfg.HTTP.TLSCert != "" || a.Cfg.HTTP.SelfSigned {
		scheme = "https"
	}
	addr := a.Cfg.HTTP.Listen
	if a.httpLn != nil {
		addr = a.httpLn.Addr().String()
	}
	return scheme + "://" + addr
}

// ReloadMedia tells the hub the registry changed.
func (a *App) ReloadMedia(ctx context.Context) {
	if a.Public != nil {
		a.Public.Invalidate()
	}
	if err := a.Hub.Reload(ctx); err != nil {
		a.Log.Warn("media reload failed", "err", err)
	}
	if a.Recorder != nil {
		a.Recorder.Refresh()
	}
}

func (a *App) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(a.Cfg.Audit.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := a.Audit.Checkpoint(ctx, a.DB); err != nil && !errors.Is(err, context.Canceled) {
				a.Log.Warn("audit checkpoint failed", "err", err)
			}
		}
	}
}

// Close stops everything and closes the database.
func (a *App) Close() {
	if a.cancel != nil {
		a.cancel()
	}
	if a.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.httpSrv.Shutdown(sctx)
		cancel()
	}
	if a.Public != nil {
		a.Public.Close()
	}
	a.stopRecording()
	a.stopVOD()
	if a.Hub != nil {
		a.Hub.Close()
	}
	a.wg.Wait()
	a.stopEvents()
	a.Federation.Close()
	// A last checkpoint so a clean stop leaves a signed, witnessed head.
	if a.DB != nil {
		if a.Witness != nil {
			if _, _, err := a.Witness.Sync(context.Background()); err != nil {
				a.Log.Error("audit head could not be witnessed at stop", "err", err)
			}
			a.Witness = nil
		}
		a.closeWitness()
		_, _, _ = a.Audit.Checkpoint(context.Background(), a.DB)
		if !a.borrowedDB {
			a.DB.Close()
		}
	}
}

type sourceResolver struct {
	reg *registry.Service
	fed *atomic.Pointer[map[string]bool] // federated camera ids, for the recorder
}

func (s sourceResolver) Sources(ctx context.Context) ([]media.Source, error) {
	ss, err := s.reg.StreamSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]media.Source, 0, len(ss))
	fed := map[string]bool{}
	defer func() { s.fed.Store(&fed) }()
	for _, x := range ss {
		src := media.Source{
			CameraID: x.CameraID, MainURL: x.MainURL, SubURL: x.SubURL,
			Transport: media.Transport(x.Transport), OnDemand: x.OnDemand, Push: x.Push,
		}
		if x.OriginSite != "" {
			// A lower site's camera: pushed by that site, and only while
			// someone here watches (video on demand across tiers).
			// Its sub stream, when it has one, is pushed on demand too.
			src.MainURL, src.SubURL, src.Push, src.OnDemand, src.PushSub = "", "", true, true, x.FederatedSub
			fed[x.CameraID] = true
		}
		out = append(out, src)
	}
	return out, nil
}

// onlineCameras is each camera's main-stream state for federation status
// (idle on-demand cameras are left out: their state is unknown).
func (a *App) onlineCameras() map[string]bool {
	out := map[string]bool{}
	for _, st := range a.Hub.States() {
		if st.Variant != media.Main {
			continue
		}
		switch st.Status {
		case "online":
			out[st.CameraID] = true
		case "offline":
			out[st.CameraID] = false
		}
	}
	return out
}

// firstFrame records a camera's first connection (the registry's
// first_connected_at; only the first call counts) when the health room first
// sees it deliver frames: "connected" in the compliance report counts this
// site's own cameras from their first frame (a lower site's, from their first
// online status shipped up).
func (a *App) firstFrame(ctx context.Context, cameraID string, at time.Time) {
	if _, err := a.Registry.SetFirstConnected(ctx, cameraID, at); err != nil && !errors.Is(err, registry.ErrNotFound) {
		a.Log.Warn("first connection not recorded", "camera", cameraID, "err", err)
	}
}

// linkIncident turns a federation link-down alert into a health incident
// (R-FED-3: an incident when a lower site's link drops), resolved when the
// link returns.
func (a *App) linkIncident(ctx context.Context, site string, open bool, downSince time.Time, systems []string) {
	if a.Health == nil {
		return
	}
	obj := "link/" + site
	var err error
	if open {
		sys := ""
		if len(systems) > 0 {
			sys = systems[0]
		}
		_, _, err = a.Health.OpenAuto(ctx, health.CatLinkDown, obj, health.AutoInfo{
			Title:       "Mất kết nối với hệ thống cấp dưới " + site + " / link to lower site " + site + " down",
			Description: "federation leaf link down since " + downSince.UTC().Format(time.RFC3339),
			SystemID:    sys, DetectedAt: downSince,
		})
	} else {
		_, err = a.Health.ResolveAuto(ctx, health.CatLinkDown, obj, "federation link restored")
	}
	if err != nil {
		a.Log.Warn("federation link incident", "site", site, "open", open, "err", err)
	}
}
