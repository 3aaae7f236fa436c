package federation

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/vigil-vms/vigil/internal/registry"
)

// Video on demand across tiers (issue 5 item 5). Tier 1 does not reach into
// a lower site: when a federated camera gets its first viewer, tier 1 asks
// the site (vigil.ask.<site>, op "relay") to push the camera to tier 1's
// RTSP push-in with a random secret made for that camera; the site relays
// from its own hub, dialling out. When the camera has had no viewer for a
// while tier 1 asks it to stop (op "relay_stop") and closes the publish
// session, so the push ends even if that message is lost.

// relayGrant is the secret tier 1 gave a site to push one camera.
type relayGrant struct {
	site  string
	token string
}

type relayGrants struct {
	mu sync.Mutex
	m  map[string]relayGrant // camera id →
}

// RequestRelay asks the lower site that owns federated camera cameraID to
// push it to pushBase/push/<camera> (pushBase: tier 1's RTSP address as the
// lower sites reach it, e.g. rtsp://tier1:8554). It is safe to call again
// while the camera is wanted (a retry reuses the secret, so a running
// push stays valid).
func (s *Service) RequestRelay(ctx context.Context, cameraID, pushBase string) error {
	if !s.IsHub() {
		return ErrNotTier1
	}
	site, err := s.d.Registry.OriginSite(ctx, cameraID)
	if err != nil {
		return err
	}
	if site == "" {
		return fmt.Errorf("%w: camera %s is not federated", ErrInvalid, cameraID)
	}
	s.relays.mu.Lock()
	if s.relays.m == nil {
		s.relays.m = map[string]relayGrant{}
	}
	g, ok := s.relays.m[cameraID]
	if !ok || g.site != site {
		var b [32]byte
		_, _ = rand.Read(b[:])
		g = relayGrant{site: site, token: base64.RawURLEncoding.EncodeToString(b[:])}
		s.relays.m[cameraID] = g
	}
	s.relays.mu.Unlock()
	rep, err := s.Ask(ctx, site, AskRequest{Op: "relay", Camera: cameraID,
		URL: strings.TrimRight(pushBase, "/") + "/push/" + url.PathEscape(cameraID), User: site, Password: g.token})
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("federation: site %s refused to relay %s: %s", site, cameraID, rep.Error)
	}
	return nil
}

// ReleaseRelay withdraws the camera's push secret and asks its site to stop
// pushing (an unreachable site is not an error: tier 1 also closes the
// publish session, and the secret no longer works).
func (s *Service) ReleaseRelay(ctx context.Context, cameraID string) error {
	s.relays.mu.Lock()
	g, ok := s.relays.m[cameraID]
	delete(s.relays.m, cameraID)
	s.relays.mu.Unlock()
	if !ok {
		return nil
	}
	rep, err := s.Ask(ctx, g.site, AskRequest{Op: "relay_stop", Camera: cameraID})
	if err != nil {
		if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if !rep.OK {
		return fmt.Errorf("federation: site %s: relay_stop %s: %s", g.site, cameraID, rep.Error)
	}
	return nil
}

// CheckRelayPublish reports whether user/password is the live push secret
// tier 1 gave for cameraID, and the site it was given to. The caller still
// checks that the camera's origin is that site.
func (s *Service) CheckRelayPublish(cameraID, user, password string) (string, bool) {
	if s == nil || password == "" {
		return "", false
	}
	s.relays.mu.Lock()
	g, ok := s.relays.m[cameraID]
	s.relays.mu.Unlock()
	if !ok || user != g.site {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(g.token)) != 1 {
		return "", false
	}
	return g.site, true
}

// answerRelay runs a relay request from tier 1 at the lower site: only for
// a camera of this site that it shares upward (never a classified one).
func (sh *shipper) answerRelay(ctx context.Context, req AskRequest) error {
	s := sh.s
	if s.d.RelayStart == nil || s.d.RelayStop == nil {
		return errors.New("federation: this site does not relay video")
	}
	if req.Op == "relay_stop" {
		s.d.RelayStop(req.Camera)
		return nil
	}
	c, err := s.d.Registry.GetCamera(ctx, req.Camera)
	if err != nil {
		return fmt.Errorf("federation: relay: camera %s: %w", req.Camera, ErrNotFound)
	}
	// Runs on the subscription's goroutine: its own cache, not the
	// shipping loop's.
	own := &shipper{s: s, sysCache: map[string]registry.System{}}
	if ok, err := own.shared(ctx, c); err != nil || !ok {
		return fmt.Errorf("federation: relay: camera %s is not shared with tier 1", req.Camera)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return err
	}
	u.User = url.UserPassword(req.User, req.Password)
	return s.d.RelayStart(req.Camera, u.String())
}
