package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// Link states of a site.
const (
	LinkNever   = "never" // enrolled, never connected
	LinkUp      = "up"
	LinkDown    = "down"
	LinkRevoked = "revoked"
)

// Enrollment is an issued one-time token (the token itself is returned once).
type Enrollment struct {
	Token     string    `json:"token"`
	SiteID    string    `json:"site_id"`
	Systems   []string  `json:"systems"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Site is an enrolled lower site as tier 1 sees it.
type Site struct {
	SiteID      string    `json:"site_id"`
	Systems     []string  `json:"systems"`
	EnrolledAt  time.Time `json:"enrolled_at"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	LinkState   string    `json:"link_state"`
	StateSince  time.Time `json:"state_since"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	AppliedSeq  int64     `json:"applied_seq"`
	Rejected    int64     `json:"rejected"`
	AuditSeq    int64     `json:"audit_seq"`
	AuditBroken int64     `json:"audit_broken_at,omitempty"`
	Cameras     int       `json:"cameras"`
}

func (s *Service) audit(ctx context.Context, q store.Q, a Actor, action, object string, details map[string]any) error {
	id := a.UserID
	if id == "" {
		id = "system"
	}
	_, err := s.d.Audit.Append(ctx, q, audit.Entry{ActorID: id, Actor: a.Username, Org: a.OrgID, Action: action,
		Object: object, Outcome: audit.OK, Details: details, Remote: a.Remote})
	return err
}

// CreateEnrollment issues a one-time token for lower site siteID to connect
// the given systems (which must exist at tier 1 with that site id).
func (s *Service) CreateEnrollment(ctx context.Context, by Actor, siteID string, systems []string, ttl time.Duration) (Enrollment, error) {
	if !s.IsHub() {
		return Enrollment{}, ErrNotTier1
	}
	if !idRe.MatchString(siteID) || siteID == s.d.Cfg.Site.ID || len(systems) == 0 || len(systems) > 1000 {
		return Enrollment{}, fmt.Errorf("%w: a site id other than this site's and at least one system are needed", ErrInvalid)
	}
	if ttl <= 0 || ttl > 30*24*time.Hour {
		ttl = 24 * time.Hour
	}
	for _, id := range systems {
		sys, err := s.d.Registry.GetSystem(ctx, id)
		if err != nil {
			return Enrollment{}, fmt.Errorf("%w: system %q: %v", ErrInvalid, id, err)
		}
		if sys.SiteID != siteID {
			return Enrollment{}, fmt.Errorf("%w: system %q belongs to site %q, not %q", ErrInvalid, id, sys.SiteID, siteID)
		}
	}
	tok := newEnrollToken()
	now := time.Now()
	e := Enrollment{Token: tok, SiteID: siteID, Systems: systems, ExpiresAt: now.Add(ttl).UTC()}
	err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO federation_enrollments (token_hash, site_id, systems, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, hashSecret(tok), siteID, strings.Join(systems, ","), by.UserID, now.UnixMilli(), e.ExpiresAt.UnixMilli()); err != nil {
			return err
		}
		return s.audit(ctx, tx, by, "federation.enrollment_create", "site/"+siteID, map[string]any{"systems": systems})
	})
	return e, err
}

// Redeem exchanges an enrollment token for the site's leaf credentials. A
// token works once; enrolling a site again replaces its credentials.
func (s *Service) Redeem(ctx context.Context, token, siteID, remote string) (Credentials, error) {
	if !s.IsHub() {
		return Credentials{}, ErrNotTier1
	}
	tok, err := ParseToken(token)
	if err != nil {
		return Credentials{}, ErrTokenUsed
	}
	secret := newLeafSecret()
	now := time.Now().UnixMilli()
	var systems string
	err = s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		var site string
		var exp, used int64
		err := tx.QueryRow(ctx, `SELECT site_id, systems, expires_at, used_at FROM federation_enrollments WHERE token_hash = ?`,
			hashSecret(tok)).Scan(&site, &systems, &exp, &used)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (used != 0 || exp < now || site != siteID)) {
			return ErrTokenUsed
		}
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE federation_enrollments SET used_at = ? WHERE token_hash = ? AND used_at = 0`, now, hashSecret(tok))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrTokenUsed
		}
		// Enrolling again also forgets the site's pinned evidence and audit
		// keys (a rebuilt site has new ones; the heads it shipped stay).
		res, err = tx.Exec(ctx, `UPDATE federation_sites SET systems = ?, secret_hash = ?, revoked_at = 0, evidence_key_id = '', audit_key = '',
			link_state = CASE WHEN link_state = 'revoked' THEN 'never' ELSE link_state END, state_since = ? WHERE site_id = ?`,
			systems, hashSecret(secret), now, siteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO federation_sites (site_id, systems, secret_hash, enrolled_at, link_state, state_since)
				VALUES (?, ?, ?, ?, 'never', ?)`, siteID, systems, hashSecret(secret), now, now); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, Actor{UserID: "site:" + siteID, Username: siteID, Remote: remote}, "federation.enroll", "site/"+siteID,
			map[string]any{"systems": splitList(systems)})
	})
	if err != nil {
		return Credentials{}, err
	}
	if err := s.activate(siteID, hashSecret(secret)); err != nil {
		return Credentials{}, err
	}
	if s.ext != nil {
		// A user JWT of the site's account at the external cluster (the
		// previous one, if any, is revoked).
		creds, err := s.ext.issueLeaf(ctx, siteID)
		if err != nil {
			return Credentials{}, err
		}
		return Credentials{SiteID: siteID, HubSiteID: s.d.Cfg.Site.ID, Systems: splitList(systems), LeafURL: s.LeafURL(),
			LeafUser: leafUser(siteID), LeafCreds: creds, EnrolledAt: now}, nil
	}
	return Credentials{SiteID: siteID, HubSiteID: s.d.Cfg.Site.ID, Systems: splitList(systems), LeafURL: s.LeafURL(),
		LeafUser: leafUser(siteID), LeafPassword: secret, EnrolledAt: now}, nil
}

// Revoke cuts a site off: its credential stops working at once and its
// leaf connection is closed. Its cameras stay in the registry, marked by
// their site's link state.
func (s *Service) Revoke(ctx context.Context, by Actor, siteID string) error {
	if !s.IsHub() {
		return ErrNotTier1
	}
	now := time.Now().UnixMilli()
	err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE federation_sites SET revoked_at = ?, secret_hash = '', link_state = 'revoked', state_since = ?
			WHERE site_id = ? AND revoked_at = 0`, now, now, siteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := s.linkEvent(ctx, tx, siteID, now, LinkRevoked); err != nil {
			return err
		}
		return s.audit(ctx, tx, by, "federation.revoke", "site/"+siteID, nil)
	})
	if err != nil {
		return err
	}
	var cut error
	if s.ext != nil {
		// The revoked user is refused and its leaf closed by the cluster
		// once it has the account's new JWT; a failed push is retried at
		// the next start (startHub).
		cut = s.ext.revokeSite(ctx, siteID)
	} else {
		s.node.removeSite(siteID)
	}
	s.mu.Lock()
	if a := s.appliers[siteID]; a != nil {
		a.close()
		delete(s.appliers, siteID)
	}
	s.mu.Unlock()
	return cut
}

// startHub restores every enrolled site and starts the link monitor.
func (s *Service) startHub() error {
	rows, err := s.d.DB.Q().Query(s.ctx, `SELECT site_id, secret_hash FROM federation_sites WHERE revoked_at = 0`)
	if err != nil {
		return err
	}
	type pair struct{ site, hash string }
	var ps []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.site, &p.hash); err != nil {
			rows.Close()
			return err
		}
		ps = append(ps, p)
	}
	rows.Close()
	for _, p := range ps {
		if err := s.activate(p.site, p.hash); err != nil {
			return err
		}
	}
	if s.ext != nil {
		if err := s.recutRevoked(); err != nil {
			return err
		}
	}
	s.go_(s.monitorLinks)
	s.go_(s.expireRemoteClips)
	return nil
}

// activate registers a site's account and credential and starts its
// applier.
func (s *Service) activate(site, hash string) error {
	if s.ext != nil {
		if err := s.ext.addSite(s.ctx, site); err != nil {
			return err
		}
	} else if err := s.node.addSite(site, hash); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appliers[site] != nil {
		return nil
	}
	a, err := s.newApplier(site)
	if err != nil {
		return err
	}
	s.appliers[site] = a
	return nil
}

// applier moves one site's sourced stream into tier 1's database.
type applier struct {
	s      *Service
	site   string
	nc     *nats.Conn
	js     jetstream.JetStream
	cancel context.CancelFunc
	done   chan struct{}

	// Used by the link monitor only. linkSeen: the monitor has seen the
	// site's link up since this applier started or the link last dropped
	// (when it turns true the source is re-added). Until watchUntil after
	// that, the source is checked each round and re-added if it did not
	// take (see checkSource); lastResume spaces the attempts.
	linkSeen   bool
	watchUntil time.Time
	lastResume time.Time
	// resumes counts the source re-added (read by tests).
	resumes atomic.Int64
}

const (
	sourceWatch = time.Minute     // how long after a link returns the source is watched
	sourceIdle  = 5 * time.Second // a healthy source hears from the site within (heartbeats)
	resumeEvery = 3 * time.Second // re-adding a source that did not take, at most this often
)

func (s *Service) newApplier(site string) (*applier, error) {
	var nc *nats.Conn
	var err error
	if s.ext != nil {
		nc, err = s.ext.connect(site, "vigil-apply-"+site)
	} else {
		nc, err = s.node.connect(accountFor(site), "vigil-apply-"+site)
	}
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if s.ext != nil {
		// The cluster's JetStream domain must be tier 1's site id: the
		// leafs' allow-list denies $JS.<tier-1 site>.API.>, and no lower
		// site's domain may be the cluster's.
		ai, err := js.AccountInfo(ctx)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("federation: JetStream of %s at the NATS cluster: %w", site, err)
		}
		if ai.Domain != s.d.Cfg.Site.ID {
			nc.Close()
			return nil, fmt.Errorf("federation: the NATS cluster's JetStream domain is %q; it must be this site's id %q (jetstream { domain: %s })",
				ai.Domain, s.d.Cfg.Site.ID, s.d.Cfg.Site.ID)
		}
	}
	_, err = js.CreateOrUpdateStream(ctx, inStreamConfig(site, true))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("federation: stream of %s: %w", site, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, inStream, jetstream.ConsumerConfig{
		Durable: "apply", AckPolicy: jetstream.AckAllPolicy, MaxAckPending: 20000, AckWait: time.Minute,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("federation: consumer of %s: %w", site, err)
	}
	actx, acancel := context.WithCancel(s.ctx)
	a := &applier{s: s, site: site, nc: nc, js: js, cancel: acancel, done: make(chan struct{})}
	go a.run(actx, cons)
	return a, nil
}

func inStreamConfig(site string, withSource bool) jetstream.StreamConfig {
	c := jetstream.StreamConfig{Name: inStream, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		MaxAge: 30 * 24 * time.Hour, MaxBytes: 4 << 30}
	if withSource {
		c.Sources = []*jetstream.StreamSource{{Name: upStream, External: &jetstream.ExternalStream{APIPrefix: "$JS." + site + ".API"}}}
	} else {
		c.Subjects = []string{"vigil.in.paused"} // a stream needs subjects or sources
	}
	return c
}

// resumeSource makes tier 1 source the site's stream again now that its
// link is up (it returned, or tier 1 started), instead of waiting for the server's retry back-off (which
// grows to minutes over a long outage). Re-adding the source resumes after
// the last message the stream holds from it; apply is idempotent anyway.
func (a *applier) resumeSource(ctx context.Context, now time.Time) {
	a.lastResume = now
	a.resumes.Add(1)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := a.js.UpdateStream(ctx, inStreamConfig(a.site, false)); err != nil {
		a.s.log.Warn("federation: pausing source failed", "site", a.site, "err", err)
		return
	}
	if _, err := a.js.UpdateStream(ctx, inStreamConfig(a.site, true)); err != nil {
		a.s.log.Warn("federation: resuming source failed", "site", a.site, "err", err)
	}
}

// checkSource re-adds the source when, after the link returned, it has not
// taken: the leaf can be up at tier 1 a moment before the lower site's
// JetStream API is reachable across it (interest still propagating, more so
// on a loaded node), and a source whose first request failed falls back to
// the server's back-off. Seen once in CI as a catch-up stuck past a minute.
func (a *applier) checkSource(ctx context.Context, now time.Time) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := a.js.Stream(ictx, inStream)
	if err != nil {
		return
	}
	info, err := st.Info(ictx)
	if err != nil || len(info.Sources) == 0 {
		return
	}
	src := info.Sources[0]
	if src.Error == nil && src.Active >= 0 && src.Active < sourceIdle {
		a.watchUntil = time.Time{} // it took
		return
	}
	if now.Sub(a.lastResume) < resumeEvery {
		return
	}
	a.s.log.Warn("federation: the source of a returned site did not take; adding it again", "site", a.site,
		"active", src.Active, "error", src.Error)
	a.resumeSource(ctx, now)
}

func (a *applier) close() {
	a.cancel()
	<-a.done
	a.nc.Close()
}

const applyBatch = 500

func (a *applier) run(ctx context.Context, cons jetstream.Consumer) {
	defer close(a.done)
	idle := false
	for ctx.Err() == nil {
		// What is there now, at once; only an empty stream waits (up to
		// a second) for the next message.
		batch, err := cons.FetchNoWait(applyBatch)
		if err == nil && idle {
			batch, err = cons.Fetch(applyBatch, jetstream.FetchMaxWait(time.Second))
		}
		if err != nil {
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		idle = len(msgs) == 0
		if idle {
			continue
		}
		t0 := time.Now()
		err = a.s.apply(ctx, a.site, msgs)
		a.s.log.Debug("federation batch applied", "site", a.site, "messages", len(msgs), "took", time.Since(t0), "err", err)
		if err != nil {
			if ctx.Err() == nil {
				a.s.log.Warn("federation apply failed; will retry", "site", a.site, "err", err)
				sleepCtx(ctx, time.Second)
			}
			// Not acked: redelivered after AckWait; the seq check makes
			// a second apply a no-op.
			continue
		}
		_ = msgs[len(msgs)-1].Ack()
	}
}

var fedActor = func(site string) registry.Actor {
	return registry.Actor{UserID: "site:" + site, Username: site, Remote: "federation"}
}

// apply writes one batch of a site's messages in one transaction. Messages
// at or below the site's applied sequence were applied before and are
// skipped: each (site, seq) takes effect exactly once.
func (s *Service) apply(ctx context.Context, site string, msgs []jetstream.Msg) error {
	var changed bool
	err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		var applied, rejected, auditSeq int64
		var auditHash, systems string
		var broken int64
		err := tx.QueryRow(ctx, `SELECT applied_seq, rejected, audit_seq, audit_hash, audit_broken, systems FROM federation_sites WHERE site_id = ?`, site).
			Scan(&applied, &rejected, &auditSeq, &auditHash, &broken, &systems)
		if err != nil {
			return err
		}
		allowed := splitList(systems)
		var entries []audit.Entry // tier 1's own record of the applied changes
		now := time.Now().UnixMilli()
		for _, m := range msgs {
			e, err := DecodeEnvelope(m.Data(), site)
			if err != nil {
				rejected++
				s.log.Warn("federation: message refused", "site", site, "err", err)
				continue
			}
			if e.Seq <= applied {
				continue
			}
			applied = e.Seq
			switch e.Kind {
			case KindCamera:
				if !slices.Contains(allowed, e.Camera.SystemID) {
					rejected++
					s.log.Warn("federation: camera of a system not enrolled for the site refused", "site", site, "camera", e.Camera.ID, "system", e.Camera.SystemID)
					continue
				}
				ent, err := s.d.Registry.UpsertFederated(ctx, tx, fedActor(site), site, e.Camera.CameraInput, e.Camera.ChangedAt, e.Camera.HasSub)
				if err != nil {
					if isRefusal(err) {
						rejected++
						s.log.Warn("federation: camera refused", "site", site, "camera", e.Camera.ID, "err", err)
						continue
					}
					return err
				}
				entries = append(entries, ent)
				if err := upsertFedCamera(ctx, tx, site, e.Camera.ID, e.Camera.Version); err != nil {
					return err
				}
				changed = true
			case KindCameraDelete:
				ok, err := s.d.Registry.DeleteFederated(ctx, tx, fedActor(site), site, e.Camera.ID)
				if err != nil {
					return err
				}
				if ok {
					if _, err := tx.Exec(ctx, `DELETE FROM federation_cameras WHERE camera_id = ? AND site_id = ?`, e.Camera.ID, site); err != nil {
						return err
					}
					changed = true
				}
			case KindStatus:
				known, err := applyStatus(ctx, tx, site, e.Status, now)
				if err != nil {
					return err
				}
				if known && s.d.Health != nil {
					// The camera's status and uptime at tier 1 are its
					// own site's, as of when that site saw it.
					st := health.StatusOffline
					if e.Status.Online {
						st = health.StatusOnline
					}
					if err := s.d.Health.RecordStatus(ctx, tx, e.Status.CameraID, st, statusTime(e.At, now)); err != nil {
						return err
					}
				}
			case KindIncident:
				if s.d.Health == nil {
					continue
				}
				var one int
				err := tx.QueryRow(ctx, `SELECT 1 FROM federation_cameras WHERE camera_id = ? AND site_id = ?`, e.Incident.CameraID, site).Scan(&one)
				if errors.Is(err, sql.ErrNoRows) {
					rejected++
					s.log.Warn("federation: incident about a camera not of the site refused", "site", site, "camera", e.Incident.CameraID)
					continue
				}
				if err != nil {
					return err
				}
				if err := s.d.Health.ApplyShipped(ctx, tx, site, *e.Incident); err != nil {
					var ie *health.InputError
					if !errors.As(err, &ie) {
						return err
					}
					rejected++
					s.log.Warn("federation: incident refused", "site", site, "incident", e.Incident.ID, "err", err)
				}
			case KindAudit:
				en := *e.Audit
				switch {
				case en.Seq <= auditSeq:
					continue
				case en.Seq != auditSeq+1 || en.PrevHash != auditHash:
					if broken == 0 {
						broken = en.Seq
					}
				default:
					if h, err := audit.ComputeHash(en); err != nil || h != en.Hash {
						if broken == 0 {
							broken = en.Seq
						}
					}
				}
				if err := insertFedAudit(ctx, tx, site, en); err != nil {
					return err
				}
				auditSeq, auditHash = en.Seq, en.Hash
			case KindAuditHead:
				b, refused, err := s.applyHead(ctx, tx, site, e.Head, auditSeq, now)
				if err != nil {
					return err
				}
				if refused {
					rejected++
				}
				if b > 0 && (broken == 0 || b < broken) {
					broken = b
				}
			}
		}
		if err := s.appendAll(ctx, tx, entries); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE federation_sites SET applied_seq = ?, rejected = ?, audit_seq = ?, audit_hash = ?, audit_broken = ?
			WHERE site_id = ?`, applied, rejected, auditSeq, auditHash, broken, site)
		return err
	})
	if err == nil && changed && s.d.OnRegistryChange != nil {
		s.d.OnRegistryChange(ctx)
	}
	return err
}

// appendAll records entries in tx, in one batch when the log can.
func (s *Service) appendAll(ctx context.Context, tx store.Q, entries []audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if b, ok := s.d.Audit.(interface {
		AppendBatch(context.Context, store.Q, []audit.Entry) ([]audit.Entry, error)
	}); ok {
		_, err := b.AppendBatch(ctx, tx, entries)
		return err
	}
	for _, e := range entries {
		if _, err := s.d.Audit.Append(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

func isRefusal(err error) bool {
	var ve registry.ValidationErrors
	var v1 *registry.ValidationError
	return errors.As(err, &ve) || errors.As(err, &v1) || errors.Is(err, registry.ErrConflict)
}

func upsertFedCamera(ctx context.Context, q store.Q, site, id string, version int64) error {
	res, err := q.Exec(ctx, `UPDATE federation_cameras SET remote_version = ? WHERE camera_id = ?`, version, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = q.Exec(ctx, `INSERT INTO federation_cameras (camera_id, site_id, remote_version) VALUES (?, ?, ?)`, id, site, version)
	}
	return err
}

// statusTime is when a lower site saw a status (its message's time),
// never later than tier 1's now.
func statusTime(at, now int64) time.Time {
	if at <= 0 || at > now {
		at = now
	}
	return time.UnixMilli(at).UTC()
}

// applyStatus records a camera's status; the first time tier 1 sees it
// online after its last change counts for the 5-day rule (R-FED-2). It
// reports whether the camera is one of the site's at tier 1.
func applyStatus(ctx context.Context, q store.Q, site string, st *StatusRecord, now int64) (bool, error) {
	var changedAt, seen int64
	err := q.QueryRow(ctx, `SELECT c.changed_at, f.seen_online_at FROM federation_cameras f JOIN cameras c ON c.id = f.camera_id
		WHERE f.camera_id = ? AND f.site_id = ?`, st.CameraID, site).Scan(&changedAt, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // not shared (or not yet): nothing to record
	}
	if err != nil {
		return false, err
	}
	if st.Online && seen < changedAt {
		seen = now
		// first_connected_at is the registry's record of the first time
		// the camera reached tier 1.
		if _, err := q.Exec(ctx, `UPDATE cameras SET first_connected_at = ? WHERE id = ? AND first_connected_at = 0`, now, st.CameraID); err != nil {
			return false, err
		}
	}
	_, err = q.Exec(ctx, `UPDATE federation_cameras SET online = ?, status_at = ?, seen_online_at = ? WHERE camera_id = ?`,
		st.Online, now, seen, st.CameraID)
	return err == nil, err
}

func insertFedAudit(ctx context.Context, q store.Q, site string, e audit.Entry) error {
	details, err := audit.CanonicalDetails(e.Details)
	if err != nil {
		details = "{}"
	}
	_, err = q.Exec(ctx, `INSERT INTO federation_audit (site_id, seq, at, actor_id, actor, org, action, object, outcome, reason, details, remote, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		site, e.Seq, e.At.UnixMilli(), e.ActorID, e.Actor, e.Org, e.Action, e.Object, e.Outcome, e.Reason, details, e.Remote, e.PrevHash, e.Hash)
	if store.IsUniqueViolation(err) {
		return nil
	}
	return err
}

// Sites lists the enrolled sites with their link state.
func (s *Service) Sites(ctx context.Context) ([]Site, error) {
	rows, err := s.d.DB.Q().Query(ctx, `SELECT site_id, systems, enrolled_at, revoked_at, link_state, state_since, last_seen, applied_seq,
		rejected, audit_seq, audit_broken, (SELECT COUNT(*) FROM federation_cameras f WHERE f.site_id = s.site_id)
		FROM federation_sites s ORDER BY site_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Site{}
	for rows.Next() {
		var x Site
		var systems string
		var enrolled, revoked, since, seen int64
		if err := rows.Scan(&x.SiteID, &systems, &enrolled, &revoked, &x.LinkState, &since, &seen, &x.AppliedSeq,
			&x.Rejected, &x.AuditSeq, &x.AuditBroken, &x.Cameras); err != nil {
			return nil, err
		}
		x.Systems = splitList(systems)
		x.EnrolledAt, x.RevokedAt, x.StateSince, x.LastSeen = store.Time(enrolled), store.Time(revoked), store.Time(since), store.Time(seen)
		out = append(out, x)
	}
	return out, rows.Err()
}

// GetSite reads one site.
func (s *Service) GetSite(ctx context.Context, id string) (Site, error) {
	all, err := s.Sites(ctx)
	if err != nil {
		return Site{}, err
	}
	for _, x := range all {
		if x.SiteID == id {
			return x, nil
		}
	}
	return Site{}, ErrNotFound
}

// Ask sends a request to lower site `site` over its leaf link and waits for
// the answer (ErrNotFound: no such site; an error when the link is down).
func (s *Service) Ask(ctx context.Context, site string, req AskRequest) (AskReply, error) {
	s.mu.Lock()
	a := s.appliers[site]
	s.mu.Unlock()
	if a == nil {
		return AskReply{}, ErrNotFound
	}
	req.V = envelopeVersion
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := a.nc.RequestWithContext(ctx, askSubject+"."+site, b)
	if err != nil {
		return AskReply{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	var rep AskReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return AskReply{}, fmt.Errorf("%w: bad answer: %v", ErrUnreachable, err)
	}
	if rep.SiteID != site {
		return AskReply{}, fmt.Errorf("%w: answer from %q", ErrUnreachable, rep.SiteID)
	}
	return rep, nil
}

// recutRevoked revokes again, at the external cluster, the leaf user of
// every revoked site that still has one (a revoke whose push failed).
func (s *Service) recutRevoked() error {
	rows, err := s.d.DB.Q().Query(s.ctx, `SELECT a.site_id FROM federation_nats_accounts a JOIN federation_sites f ON f.site_id = a.site_id
		WHERE f.revoked_at <> 0 AND a.leaf_user_key <> ''`)
	if err != nil {
		return err
	}
	var sites []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		sites = append(sites, id)
	}
	rows.Close()
	for _, id := range sites {
		if err := s.ext.revokeSite(s.ctx, id); err != nil {
			return err
		}
	}
	return nil
}
