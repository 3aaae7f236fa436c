// Package federation is the link between tiers (R-FED-1..4). Every site
// embeds a NATS server with JetStream in its data folder, its JetStream
// domain being the site id. A lower (tier-2/3) site dials a leaf-node
// connection out to tier 1 (so NAT does not matter; tier 1 never reaches
// in), authenticated with the credentials it received at enrollment. Tier 1
// binds each lower site to its own NATS account, so a site can only answer
// for its own domain.
//
// Upward data: a lower site's shipper tails its audit log (every change of
// data has its entry, in the change's transaction, gap-free) and publishes
// to its local stream VIGIL_UP: the audit entries themselves, the shared
// state of each changed camera, and camera status changes. Tier 1 keeps,
// per site, a stream VIGIL_IN that sources VIGIL_UP through
// $JS.<site>.API across the leaf; a site cut off for hours catches up in
// order when the link returns. Tier 1 applies each message once, keyed by
// (site, outbox sequence), in batches, in one transaction per batch.
package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// Deps are the rooms federation uses.
type Deps struct {
	Cfg      config.Config
	Log      *slog.Logger
	DB       *store.DB
	Audit    audit.Appender
	Registry *registry.Service
	Sealer   registry.Sealer
	// Online reports the cameras the media hub currently receives (camera
	// id → online); nil means no status is shipped.
	Online func() map[string]bool
	// OnRegistryChange runs after federated cameras were added or removed
	// (the media hub reloads its sources).
	OnRegistryChange func(context.Context)
	// OnLinkAlert runs (tier 1) after a link-down alert opened (open) or
	// closed, so the incidents room tracks it against its deadline.
	OnLinkAlert func(ctx context.Context, site string, open bool, downSince time.Time, systems []string)
	// RelayStart (lower site) starts pushing a camera's stream variant
	// ("main" or "sub") to pushURL (tier 1's push-in, credentials in the
	// URL: never log it), replacing a running push of that camera and
	// variant; RelayStop stops it. Nil: this site does not relay video.
	RelayStart func(cameraID, variant, pushURL string) error
	RelayStop  func(cameraID, variant string)
	// Playback is this site's recordings and evidence store: a lower site
	// serves tier 1's footage requests from it, tier 1 imports exports of
	// lower sites' cameras into it. Nil: no footage across tiers.
	Playback *playback.Service
	// AuditKey is the public key of the site's audit heads (a lower site
	// ships it with each witnessed head).
	AuditKey ed25519.PublicKey
	// Health is this site's health room: a lower site ships the incidents
	// of its shared cameras from it; tier 1 records the status and the
	// incidents its lower sites ship for their cameras in it. Nil: neither.
	Health *health.Service
}

// Actor is who acts through the API.
type Actor struct {
	UserID, Username, OrgID, Remote string
}

// Service is the federation room of one site.
type Service struct {
	d   Deps
	log *slog.Logger

	node *node
	// ext is tier 1's external NATS cluster (federation.nats_url), in
	// place of the embedded node.
	ext  *extCluster
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	// tier 1
	mu       sync.Mutex
	appliers map[string]*applier
	relays   relayGrants
	remote   remoteClips

	// lower site
	creds    *Credentials
	shipper  *shipper
	shipKick chan struct{}
	// the newest witnessed audit head not yet shipped (heads.go)
	headMu      sync.Mutex
	pendingHead *audit.SignedHead
	// footage served to tier 1 (footage.go)
	clips      clipTable
	footageSem chan struct{}
	exportSem  chan struct{}
}

// Errors.
var (
	ErrNotFound    = errors.New("federation: not found")
	ErrInvalid     = errors.New("federation: invalid request")
	ErrTokenUsed   = errors.New("federation: enrollment token unknown, used or expired")
	ErrNotTier1    = errors.New("federation: only a tier-1 site enrolls other sites")
	ErrNotEnrolled = errors.New("federation: this site is not enrolled with tier 1")
	ErrUnreachable = errors.New("federation: lower site unreachable")
)

// New prepares the room; Start runs it.
func New(d Deps) *Service {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{d: d, log: d.Log, appliers: map[string]*applier{}, shipKick: make(chan struct{}, 1),
		footageSem: make(chan struct{}, footageConc), exportSem: make(chan struct{}, exportConc)}
}

// Enabled reports whether this site runs the federation link.
func (s *Service) Enabled() bool { return s != nil && s.d.Cfg.Federation.Enabled }

// IsHub reports whether this site accepts lower sites (tier 1 with a leaf
// listener, its own or an external NATS cluster's).
func (s *Service) IsHub() bool {
	f := s.d.Cfg.Federation
	return s.Enabled() && s.d.Cfg.Site.Tier == 1 && (f.LeafListen != "" || f.NatsURL != "")
}

// external reports whether tier 1 runs on an external NATS cluster.
func (s *Service) external() bool { return s.IsHub() && s.d.Cfg.Federation.NatsURL != "" }

// Start starts the embedded NATS server and the link's background work.
func (s *Service) Start(ctx context.Context) error {
	if !s.Enabled() {
		return nil
	}
	cfg := s.d.Cfg
	s.ctx, s.stop = context.WithCancel(ctx)
	o := nodeOptions{SiteID: cfg.Site.ID, StoreDir: filepath.Join(cfg.DataDir, "nats")}
	if s.external() {
		// No server of its own: the cluster is the transport.
		c, err := openExtCluster(cfg, s.d.DB, s.d.Sealer)
		if err != nil {
			return err
		}
		s.ext = c
		if err := s.startHub(); err != nil {
			s.Close()
			return err
		}
		s.log.Info("federation started", "site", cfg.Site.ID, "hub", true, "nats", "external")
		return nil
	}
	if s.IsHub() {
		o.LeafListen = cfg.Federation.LeafListen
		if cfg.Federation.LeafTLSCert != "" {
			c, err := tls.LoadX509KeyPair(cfg.Federation.LeafTLSCert, cfg.Federation.LeafTLSKey)
			if err != nil {
				return fmt.Errorf("config: federation.leaf_tls_cert: %w", err)
			}
			o.LeafTLS = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
		}
	}
	if cfg.Site.Tier > 1 {
		if cfg.Federation.EnrollToken != "" && cfg.Federation.Upstream != "" {
			if _, err := LoadCredentials(cfg.DataDir, s.d.Sealer); errors.Is(err, os.ErrNotExist) {
				if _, err := Enroll(ctx, nil, cfg.Federation.Upstream, cfg.Federation.EnrollToken, cfg.Site.ID, cfg.DataDir, s.d.Sealer); err != nil {
					return err
				}
			}
		}
		cr, err := LoadCredentials(cfg.DataDir, s.d.Sealer)
		switch {
		case errors.Is(err, os.ErrNotExist):
			s.log.Info("federation: not enrolled with tier 1; run `vigil enroll URL TOKEN`")
		case err != nil:
			return err
		default:
			s.creds = &cr
			r := &remoteLeaf{URL: cr.LeafURL, User: cr.LeafUser, Password: cr.LeafPassword}
			if cr.LeafCreds != "" {
				// A user JWT of tier 1's external NATS cluster: the
				// server reads it from a file.
				if r.CredsFile, err = writeLeafCreds(cfg.DataDir, cr.LeafCreds); err != nil {
					return err
				}
			}
			if strings.HasPrefix(cr.LeafURL, "tls://") || cfg.Federation.LeafCA != "" {
				tc := &tls.Config{MinVersion: tls.VersionTLS12}
				if cfg.Federation.LeafCA != "" {
					pem, err := os.ReadFile(cfg.Federation.LeafCA)
					if err != nil {
						return fmt.Errorf("config: federation.leaf_ca: %w", err)
					}
					tc.RootCAs = x509.NewCertPool()
					if !tc.RootCAs.AppendCertsFromPEM(pem) {
						return errors.New("config: federation.leaf_ca: no certificate in file")
					}
				}
				r.TLS = tc
			}
			o.Remote = r
		}
	}
	if o.LeafListen == "" && o.Remote == nil {
		// Nothing to link yet (a tier-1 site without leaf_listen, or a
		// lower site not enrolled): no server to run.
		return nil
	}
	n, err := startNode(o)
	if err != nil {
		return err
	}
	s.node = n
	if s.IsHub() {
		if err := s.startHub(); err != nil {
			n.shutdown()
			return err
		}
	}
	if s.creds != nil {
		if err := s.startShipper(); err != nil {
			n.shutdown()
			return err
		}
	}
	s.log.Info("federation started", "site", cfg.Site.ID, "hub", s.IsHub(), "leaf_port", n.port, "enrolled", s.creds != nil)
	return nil
}

// Close stops the link and the embedded NATS server.
func (s *Service) Close() {
	if s == nil || s.stop == nil {
		return
	}
	s.stop()
	s.wg.Wait()
	s.mu.Lock()
	for _, a := range s.appliers {
		a.close()
	}
	s.mu.Unlock()
	if s.shipper != nil {
		s.shipper.close()
	}
	if s.node != nil {
		s.node.shutdown()
	}
	s.ext.close()
}

// LeafURL is the URL lower sites dial (tier 1).
func (s *Service) LeafURL() string {
	if u := s.d.Cfg.Federation.LeafURL; u != "" {
		return u
	}
	if s.node == nil || s.node.port == 0 {
		return ""
	}
	host, _, _ := net.SplitHostPort(s.d.Cfg.Federation.LeafListen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "nats-leaf"
	if s.d.Cfg.Federation.LeafTLSCert != "" {
		scheme = "tls"
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(host, fmt.Sprint(s.node.port)))
}

// LinkUp reports whether this lower site's leaf connection is up.
func (s *Service) LinkUp() bool { return s.node != nil && s.creds != nil && s.node.leafConnected("") }

// Kick asks the shipper to look for new changes now (it also polls).
func (s *Service) Kick() {
	select {
	case s.shipKick <- struct{}{}:
	default:
	}
}

func (s *Service) go_(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// LeafAddr is the address of tier 1's leaf listener ("" when none).
func (s *Service) LeafAddr() string {
	if s.node == nil || s.node.port == 0 {
		return ""
	}
	host, _, _ := net.SplitHostPort(s.d.Cfg.Federation.LeafListen)
	return net.JoinHostPort(host, fmt.Sprint(s.node.port))
}
