package federation

import (
	"context"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// LinkEvent is one change of a site's link state (R-FED-3).
type LinkEvent struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
}

// Alert is a link-down alert: opened when a link has been down longer than
// federation.link_down_alert, closed when it returns. (The incidents room
// can adopt these records.)
type Alert struct {
	ID        string    `json:"id"`
	SiteID    string    `json:"site_id"`
	Kind      string    `json:"kind"`
	DownSince time.Time `json:"down_since"`
	OpenedAt  time.Time `json:"opened_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

func (s *Service) linkEvent(ctx context.Context, q store.Q, site string, at int64, state string) error {
	var n int64
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(n), 0) FROM federation_link_events WHERE site_id = ?`, site).Scan(&n); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `INSERT INTO federation_link_events (site_id, n, at, state) VALUES (?, ?, ?, ?)`, site, n+1, at, state)
	return err
}

// monitorLinks watches every enrolled site's leaf connection: state changes
// go to the history; a link down longer than the threshold opens an alert,
// closed when the link returns.
func (s *Service) monitorLinks() {
	every := s.d.Cfg.Federation.StatusInterval
	if every > time.Second {
		every = time.Second
	}
	for sleepCtx(s.ctx, every) {
		if err := s.checkLinks(s.ctx, time.Now()); err != nil && s.ctx.Err() == nil {
			s.log.Warn("federation: link check failed", "err", err)
		}
	}
}

func (s *Service) checkLinks(ctx context.Context, now time.Time) error {
	sites, err := s.Sites(ctx)
	if err != nil {
		return err
	}
	ms := now.UnixMilli()
	leafUp := func(site string) bool { return s.node.leafConnected(site) }
	if s.ext != nil {
		// One question to the cluster for every site.
		links, err := s.ext.leafLinks(ctx)
		if err != nil {
			return err
		}
		leafUp = func(site string) bool { return links[site] }
	}
	for _, x := range sites {
		if !x.RevokedAt.IsZero() {
			continue
		}
		up := leafUp(x.SiteID)
		state := x.LinkState
		switch {
		case up:
			state = LinkUp
		case x.LinkState == LinkUp:
			state = LinkDown
		}
		var opened, closed bool
		err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
			if up {
				if _, err := tx.Exec(ctx, `UPDATE federation_sites SET last_seen = ? WHERE site_id = ?`, ms, x.SiteID); err != nil {
					return err
				}
			}
			if state != x.LinkState {
				// Conditional on what was read: a revoke committed since the
				// sites were loaded must not be overwritten by "down".
				res, err := tx.Exec(ctx, `UPDATE federation_sites SET link_state = ?, state_since = ? WHERE site_id = ? AND link_state = ? AND revoked_at = 0`,
					state, ms, x.SiteID, x.LinkState)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					state = x.LinkState
					return nil
				}
				if err := s.linkEvent(ctx, tx, x.SiteID, ms, state); err != nil {
					return err
				}
				if err := s.audit(ctx, tx, Actor{UserID: "system", Username: "federation"}, "federation.link_"+state, "site/"+x.SiteID, nil); err != nil {
					return err
				}
				s.log.Info("federation link changed", "site", x.SiteID, "state", state)
			}
			if up {
				res, err := tx.Exec(ctx, `UPDATE federation_alerts SET closed_at = ? WHERE site_id = ? AND closed_at = 0`, ms, x.SiteID)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				closed = n > 0
				return nil
			}
			if state == LinkDown && now.Sub(x.StateSince) >= s.d.Cfg.Federation.LinkDownAlert && state == x.LinkState {
				var open int
				if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM federation_alerts WHERE site_id = ? AND closed_at = 0`, x.SiteID).Scan(&open); err != nil {
					return err
				}
				if open == 0 {
					id := "link-" + x.SiteID + "-" + randomToken(6)
					if _, err := tx.Exec(ctx, `INSERT INTO federation_alerts (id, site_id, kind, opened_at, down_since) VALUES (?, ?, 'link_down', ?, ?)`,
						id, x.SiteID, ms, x.StateSince.UnixMilli()); err != nil {
						return err
					}
					s.log.Warn("federation link down: alert opened", "site", x.SiteID, "since", x.StateSince)
					opened = true
					return s.audit(ctx, tx, Actor{UserID: "system", Username: "federation"}, "federation.alert_open", "site/"+x.SiteID,
						map[string]any{"alert": id})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.mu.Lock()
		a := s.appliers[x.SiteID]
		s.mu.Unlock()
		switch {
		case a == nil:
		case !up:
			a.linkSeen = false
		case !a.linkSeen:
			// The first time this applier sees the link up: the link
			// returned, or tier 1 itself (re)started. Either way the
			// source made while the link was away has fallen back to the
			// server's retry back-off; the stored state says nothing about
			// that (after a restart it may still read "up").
			a.linkSeen = true
			a.resumeSource(ctx, now)
			a.watchUntil = now.Add(sourceWatch)
		case now.Before(a.watchUntil):
			a.checkSource(ctx, now)
		}
		if (opened || closed) && s.d.OnLinkAlert != nil {
			s.d.OnLinkAlert(ctx, x.SiteID, opened, x.StateSince, x.Systems)
		}
	}
	return nil
}

// LinkHistory is a site's link events (newest first) and alerts.
func (s *Service) LinkHistory(ctx context.Context, site string, limit int) ([]LinkEvent, []Alert, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := s.d.DB.Q()
	rows, err := q.Query(ctx, `SELECT at, state FROM federation_link_events WHERE site_id = ? ORDER BY n DESC LIMIT ?`, site, limit)
	if err != nil {
		return nil, nil, err
	}
	evs := []LinkEvent{}
	for rows.Next() {
		var at int64
		var e LinkEvent
		if err := rows.Scan(&at, &e.State); err != nil {
			rows.Close()
			return nil, nil, err
		}
		e.At = store.Time(at)
		evs = append(evs, e)
	}
	rows.Close()
	als, err := s.Alerts(ctx, site, false)
	return evs, als, err
}

// Alerts lists link alerts (of one site when site is not empty; only open
// ones when openOnly).
func (s *Service) Alerts(ctx context.Context, site string, openOnly bool) ([]Alert, error) {
	sqlq := `SELECT id, site_id, kind, down_since, opened_at, closed_at FROM federation_alerts WHERE 1 = 1`
	var args []any
	if site != "" {
		sqlq += ` AND site_id = ?`
		args = append(args, site)
	}
	if openOnly {
		sqlq += ` AND closed_at = 0`
	}
	rows, err := s.d.DB.Q().Query(ctx, sqlq+` ORDER BY opened_at DESC LIMIT 500`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var a Alert
		var down, opened, closed int64
		if err := rows.Scan(&a.ID, &a.SiteID, &a.Kind, &down, &opened, &closed); err != nil {
			return nil, err
		}
		a.DownSince, a.OpenedAt, a.ClosedAt = store.Time(down), store.Time(opened), store.Time(closed)
		out = append(out, a)
	}
	return out, rows.Err()
}
