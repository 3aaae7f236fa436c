package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/httpapi"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// liveAuthorizer is the media hub's gate: every reader start is a view-live
// decision and an audit entry, every running session can be ended by
// revoking what allowed it (a disabled user, a revoked grant).
type liveAuthorizer struct {
	a *App

	mu       sync.Mutex
	sessions map[*liveSession]struct{}
}

type liveSession struct {
	userID, username, orgID string
	cameraID                string
	protocol                media.Protocol
	variant                 media.Variant
	remote                  string
	started                 time.Time
	revoked                 chan struct{}
	once                    sync.Once
	endOnce                 sync.Once
}

func newLiveAuthorizer(a *App) *liveAuthorizer {
	return &liveAuthorizer{a: a, sessions: map[*liveSession]struct{}{}}
}

// start hooks the revocation sources; the hooks run after the change has
// committed, so a session ends within moments of the change.
func (l *liveAuthorizer) start(ctx context.Context) {
	cancelUser := l.a.Auth.OnUserDisabled(func(userID string) {
		l.revokeWhere(func(s *liveSession) bool { return s.userID == userID }, "user_disabled")
	})
	cancelGrant := l.a.Access.OnGrantRevoked(func(g access.Grant) {
		// Re-decide every session of the grant's organisation: another
		// grant or the organisation's functions may still allow it.
		l.recheck(ctx, func(s *liveSession) bool { return s.orgID == g.OrgID }, "grant_revoked")
	})
	go func() {
		// Approvals lapse by the clock, not by an event: re-decide
		// periodically so an expired committee approval ends its sessions.
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				cancelUser()
				cancelGrant()
				return
			case <-t.C:
				l.recheck(ctx, func(*liveSession) bool { return true }, "access_lapsed")
			}
		}
	}()
}

func (l *liveAuthorizer) revokeWhere(match func(*liveSession) bool, reason string) {
	l.mu.Lock()
	var hit []*liveSession
	for s := range l.sessions {
		if match(s) {
			hit = append(hit, s)
		}
	}
	l.mu.Unlock()
	for _, s := range hit {
		s.revoke()
		l.a.Log.Info("live session revoked", "user", s.username, "camera", s.cameraID, "protocol", s.protocol, "reason", reason)
	}
}

func (l *liveAuthorizer) recheck(ctx context.Context, match func(*liveSession) bool, reason string) {
	l.mu.Lock()
	var hit []*liveSession
	for s := range l.sessions {
		if match(s) {
			hit = append(hit, s)
		}
	}
	l.mu.Unlock()
	for _, s := range hit {
		d, err := l.decide(ctx, s.userID, s.cameraID)
		if err == nil && d.Allow {
			continue
		}
		s.revoke()
		l.a.Log.Info("live session revoked", "user", s.username, "camera", s.cameraID, "protocol", s.protocol, "reason", reason)
	}
}

func (s *liveSession) revoke() { s.once.Do(func() { close(s.revoked) }) }

// decide loads the user's current subject and the camera's facts and asks
// the one decision function.
func (l *liveAuthorizer) decide(ctx context.Context, userID, cameraID string) (access.Decision, error) {
	u, err := l.a.Auth.Get(ctx, userID)
	if err != nil {
		return access.Decision{}, err
	}
	subj, err := httpapi.BuildSubject(ctx, l.a.DB, l.a.Cfg.Access.HighestOrg, u.ID, u.OrgID, u.Roles, u.Disabled)
	if err != nil {
		return access.Decision{}, err
	}
	facts, err := l.a.Registry.CameraFacts(ctx, cameraID)
	if err != nil {
		return access.Decision{}, err
	}
	cam := httpapi.CameraOf(facts)
	return access.Decide(&subj, access.ViewLive, &cam, time.Now()), nil
}

// principalFor resolves a reader's token: a short-lived stream token bound to
// one camera, or an API token.
func (l *liveAuthorizer) principalFor(ctx context.Context, token, cameraID string) (userID string, err error) {
	if token == "" {
		return "", fmt.Errorf("%w: no token", media.ErrDenied)
	}
	claims, err := l.a.Auth.VerifyStreamToken(ctx, token)
	if err == nil {
		if claims.CameraID != cameraID {
			return "", fmt.Errorf("%w: stream token is for another camera", media.ErrDenied)
		}
		return claims.UserID, nil
	}
	if !errors.Is(err, auth.ErrStreamTokenInvalid) && !errors.Is(err, auth.ErrStreamTokenExpired) {
		return "", fmt.Errorf("stream token check failed: %w", err) // the database, not the token
	}
	p, err := l.a.Auth.AuthenticateToken(ctx, token)
	if err != nil && !errors.Is(err, auth.ErrTokenInvalid) {
		return "", fmt.Errorf("token check failed: %w", err) // the database, not the token
	}
	if err != nil {
		return "", fmt.Errorf("%w: invalid or expired token", media.ErrDenied)
	}
	if p.Restricted() {
		return "", fmt.Errorf("%w: account must change its password first", media.ErrDenied)
	}
	return p.UserID, nil
}

func (l *liveAuthorizer) AuthorizeRead(ctx context.Context, req media.ReadRequest) (media.ReadGrant, error) {
	userID, err := l.principalFor(ctx, req.Token, req.CameraID)
	if err != nil {
		l.auditLive(ctx, "live.denied", "", "", "", req, audit.Denied, "invalid_token", nil)
		return media.ReadGrant{}, err
	}
	u, err := l.a.Auth.Get(ctx, userID)
	if err != nil {
		return media.ReadGrant{}, fmt.Errorf("%w: unknown user", media.ErrDenied)
	}
	d, err := l.decide(ctx, userID, req.CameraID)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			l.auditLive(ctx, "live.denied", u.ID, u.Username, u.OrgID, req, audit.Denied, "unknown_camera", nil)
			return media.ReadGrant{}, fmt.Errorf("%w: unknown camera", media.ErrDenied)
		}
		return media.ReadGrant{}, err
	}
	if !d.Allow {
		l.auditLive(ctx, "live.denied", u.ID, u.Username, u.OrgID, req, audit.Denied, string(d.Reason), nil)
		return media.ReadGrant{}, fmt.Errorf("%w: %s", media.ErrDenied, d.Reason)
	}
	// No live view without its entry: the start is recorded before the
	// reader gets a packet, and a start that cannot be recorded (a full
	// disk) is refused with the reason.
	if err := l.auditLive(ctx, "live.start", u.ID, u.Username, u.OrgID, req, audit.OK, string(d.Reason), nil); err != nil {
		return media.ReadGrant{}, notAudited(err)
	}
	s := &liveSession{
		userID: u.ID, username: u.Username, orgID: u.OrgID, cameraID: req.CameraID,
		protocol: req.Protocol, variant: req.Variant, remote: req.Remote,
		started: time.Now(), revoked: make(chan struct{}),
	}
	l.mu.Lock()
	l.sessions[s] = struct{}{}
	l.mu.Unlock()
	return media.ReadGrant{
		Subject: u.Username,
		Revoked: s.revoked,
		End: func(reason string) {
			s.endOnce.Do(func() {
				l.mu.Lock()
				delete(l.sessions, s)
				l.mu.Unlock()
				l.auditLive(context.Background(), "live.end", s.userID, s.username, s.orgID, req, audit.OK, reason,
					map[string]any{"duration_s": int64(time.Since(s.started).Seconds())})
			})
		},
	}, nil
}

// AuthorizePublish checks push-in credentials: the user name is the camera id
// and the password an API token of a user allowed to manage that camera
// (an NVR's service account, or the federation link).
//
// A lower site relaying a federated camera (video on demand across tiers)
// presents instead its site id and the secret tier 1 sent it for that
// camera and variant (main at /push/<camera>, sub at /push/<camera>/sub);
// it is accepted only while tier 1 wants that variant and only for a
// camera whose origin is that site.
func (l *liveAuthorizer) AuthorizePublish(ctx context.Context, req media.PublishRequest) (media.ReadGrant, error) {
	if site, ok := l.a.Federation.CheckRelayPublish(req.CameraID, string(req.Variant), req.User, req.Password); ok {
		return l.authorizeRelay(ctx, site, req)
	}
	p, err := l.a.Auth.AuthenticateToken(ctx, req.Password)
	if err != nil {
		l.a.Log.Warn("push-in refused", "camera", req.CameraID, "remote", req.Remote, "why", "invalid token")
		return media.ReadGrant{}, fmt.Errorf("%w: invalid token", media.ErrDenied)
	}
	subj, err := httpapi.BuildSubject(ctx, l.a.DB, l.a.Cfg.Access.HighestOrg, p.UserID, p.OrgID, p.Roles, false)
	if err != nil {
		return media.ReadGrant{}, err
	}
	facts, err := l.a.Registry.CameraFacts(ctx, req.CameraID)
	if err != nil {
		return media.ReadGrant{}, fmt.Errorf("%w: unknown camera", media.ErrDenied)
	}
	cam := httpapi.CameraOf(facts)
	d := access.Decide(&subj, access.Manage, &cam, time.Now())
	rr := media.ReadRequest{CameraID: req.CameraID, Protocol: "push", Remote: req.Remote}
	if !d.Allow {
		l.auditLive(ctx, "push.denied", p.UserID, p.Username, p.OrgID, rr, audit.Denied, string(d.Reason), nil)
		return media.ReadGrant{}, fmt.Errorf("%w: %s", media.ErrDenied, d.Reason)
	}
	if err := l.auditLive(ctx, "push.start", p.UserID, p.Username, p.OrgID, rr, audit.OK, string(d.Reason), nil); err != nil {
		return media.ReadGrant{}, notAudited(err)
	}
	revoked := make(chan struct{})
	var once sync.Once
	return media.ReadGrant{Subject: p.Username, Revoked: revoked, End: func(reason string) {
		once.Do(func() {
			l.auditLive(context.Background(), "push.end", p.UserID, p.Username, p.OrgID, rr, audit.OK, reason, nil)
		})
	}}, nil
}

// authorizeRelay admits a lower site's push of one of its own cameras.
func (l *liveAuthorizer) authorizeRelay(ctx context.Context, site string, req media.PublishRequest) (media.ReadGrant, error) {
	rr := media.ReadRequest{CameraID: req.CameraID, Protocol: media.ProtoRelay, Remote: req.Remote}
	if req.Variant == media.Sub {
		rr.Variant = media.Sub // audited; main's entries stay as they were
	}
	actor := "site:" + site
	origin, err := l.a.Registry.OriginSite(ctx, req.CameraID)
	if err != nil || origin != site {
		l.auditLive(ctx, "push.denied", actor, actor, "", rr, audit.Denied, "not_this_site", nil)
		return media.ReadGrant{}, fmt.Errorf("%w: camera not of site %s", media.ErrDenied, site)
	}
	if err := l.auditLive(ctx, "push.start", actor, actor, "", rr, audit.OK, "federation_relay", nil); err != nil {
		return media.ReadGrant{}, notAudited(err)
	}
	var once sync.Once
	return media.ReadGrant{Subject: actor, End: func(reason string) {
		once.Do(func() {
			l.auditLive(context.Background(), "push.end", actor, actor, "", rr, audit.OK, reason, nil)
		})
	}}, nil
}

// auditLive writes a live entry; a failure is logged and returned, and the
// caller refuses what the entry would have recorded (starts). Ends and
// denials are over whatever the log says, so their callers only log.
func (l *liveAuthorizer) auditLive(ctx context.Context, action, userID, username, orgID string, req media.ReadRequest, outcome, reason string, extra map[string]any) error {
	details := map[string]any{"protocol": string(req.Protocol)}
	if req.Variant != "" {
		details["variant"] = string(req.Variant)
	}
	for k, v := range extra {
		details[k] = v
	}
	if userID == "" {
		userID = "anonymous"
	}
	_, err := l.a.Audit.Append(ctx, l.a.DB.Q(), audit.Entry{
		ActorID: userID, Actor: username, Org: orgID, Action: action,
		Object: "camera/" + req.CameraID, Outcome: outcome, Reason: reason,
		Details: details, Remote: req.Remote,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		l.a.Log.Error("audit append failed", "action", action, "camera", req.CameraID, "reason", store.Unwritable(err), "err", err)
	}
	return err
}

// notAudited is the refusal of a start whose audit entry was not written:
// media.ErrNotAudited, and media.ErrDiskFull too when the disk is full, so
// the reader is told "disk full" rather than "denied".
func notAudited(err error) error {
	if store.Unwritable(err) == store.DiskFull {
		return fmt.Errorf("%w: %w: %w", media.ErrNotAudited, media.ErrDiskFull, err)
	}
	return fmt.Errorf("%w: %w", media.ErrNotAudited, err)
}
