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
// a lower site: when a variant (main or sub) of a federated camera gets its
// first viewer, tier 1 asks the site (vigil.ask.<site>, op "relay") to push
// that variant to tier 1's RTSP push-in with a random secret made for that
// camera and variant; the site relays from its own hub, dialling out. When
// the variant has had no viewer for a while tier 1 asks it to stop (op
// "relay_stop") and closes the publish session, so the push ends even if
// that message is lost. Main and sub are wanted, relayed and released
// independently: a wall of small tiles pulls only the sub streams over a
// lower site's weak uplink.

// Stream variants of a relay, as media names them ("" in a request = main).
const (
	VariantMain = "main"
	VariantSub  = "sub"
)

// relayVariant normalises a request's variant: "" (an older tier 1) is main.
func relayVariant(v string) (string, bool) {
	switch v {
	case "", VariantMain:
		return VariantMain, true
	case VariantSub:
		return VariantSub, true
	}
	return "", false
}

// relayKey is one relayed stream: a camera's main or sub.
type relayKey struct {
	camera  string
	variant string
}

// relayGrant is the secret tier 1 gave a site to push one camera's variant.
type relayGrant struct {
	site  string
	token string
}

type relayGrants struct {
	mu sync.Mutex
	m  map[relayKey]relayGrant
}

// pushPath is tier 1's push-in path for a variant: /push/<camera> for
// main (as before variants existed), /push/<camera>/sub for sub.
func pushPath(cameraID, variant string) string {
	p := "/push/" + url.PathEscape(cameraID)
	if variant == VariantSub {
		p += "/" + VariantSub
	}
	return p
}

// RequestRelay asks the lower site that owns federated camera cameraID to
// push its stream variant ("main" or "sub"; "" is main) to
// pushBase/push/<camera>[/sub] (pushBase: tier 1's RTSP address as the
// lower sites reach it, e.g. rtsp://tier1:8554). It is safe to call again
// while the variant is wanted (a retry reuses the secret, so a running
// push stays valid).
func (s *Service) RequestRelay(ctx context.Context, cameraID, variant, pushBase string) error {
	if !s.IsHub() {
		return ErrNotTier1
	}
	v, ok := relayVariant(variant)
	if !ok {
		return fmt.Errorf("%w: variant %q", ErrInvalid, variant)
	}
	site, err := s.d.Registry.OriginSite(ctx, cameraID)
	if err != nil {
		return err
	}
	if site == "" {
		return fmt.Errorf("%w: camera %s is not federated", ErrInvalid, cameraID)
	}
	k := relayKey{cameraID, v}
	s.relays.mu.Lock()
	if s.relays.m == nil {
		s.relays.m = map[relayKey]relayGrant{}
	}
	g, ok := s.relays.m[k]
	if !ok || g.site != site {
		var b [32]byte
		_, _ = rand.Read(b[:])
		g = relayGrant{site: site, token: base64.RawURLEncoding.EncodeToString(b[:])}
		s.relays.m[k] = g
	}
	s.relays.mu.Unlock()
	req := AskRequest{Op: "relay", Camera: cameraID,
		URL: strings.TrimRight(pushBase, "/") + pushPath(cameraID, v), User: site, Password: g.token}
	if v == VariantSub {
		req.Variant = VariantSub // main stays implicit: the request of old
	}
	rep, err := s.Ask(ctx, site, req)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("federation: site %s refused to relay %s (%s): %s", site, cameraID, v, rep.Error)
	}
	return nil
}

// ReleaseRelay withdraws the push secret of the camera's variant and asks
// its site to stop pushing it (an unreachable site is not an error: tier 1
// also closes the publish session, and the secret no longer works).
func (s *Service) ReleaseRelay(ctx context.Context, cameraID, variant string) error {
	v, ok := relayVariant(variant)
	if !ok {
		return fmt.Errorf("%w: variant %q", ErrInvalid, variant)
	}
	k := relayKey{cameraID, v}
	s.relays.mu.Lock()
	g, ok := s.relays.m[k]
	delete(s.relays.m, k)
	s.relays.mu.Unlock()
	if !ok {
		return nil
	}
	req := AskRequest{Op: "relay_stop", Camera: cameraID}
	if v == VariantSub {
		req.Variant = VariantSub
	}
	rep, err := s.Ask(ctx, g.site, req)
	if err != nil {
		if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if !rep.OK {
		return fmt.Errorf("federation: site %s: relay_stop %s (%s): %s", g.site, cameraID, v, rep.Error)
	}
	return nil
}

// CheckRelayPublish reports whether user/password is the live push secret
// tier 1 gave for cameraID's variant ("" is main), and the site it was
// given to. The caller still checks that the camera's origin is that site.
func (s *Service) CheckRelayPublish(cameraID, variant, user, password string) (string, bool) {
	if s == nil || password == "" {
		return "", false
	}
	v, ok := relayVariant(variant)
	if !ok {
		return "", false
	}
	s.relays.mu.Lock()
	g, ok := s.relays.m[relayKey{cameraID, v}]
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
// a camera of this site that it shares upward (never a classified one). The
// variant asked for is relayed (a camera without a sub stream gives its
// main stream for sub).
func (sh *shipper) answerRelay(ctx context.Context, req AskRequest) error {
	s := sh.s
	if s.d.RelayStart == nil || s.d.RelayStop == nil {
		return errors.New("federation: this site does not relay video")
	}
	v, ok := relayVariant(req.Variant)
	if !ok {
		return fmt.Errorf("federation: relay: bad variant %q", req.Variant)
	}
	if req.Op == "relay_stop" {
		s.d.RelayStop(req.Camera, v)
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
	return s.d.RelayStart(req.Camera, v, u.String())
}
