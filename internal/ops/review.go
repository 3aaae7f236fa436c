package ops

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store"
)

// Campaign is one periodic review of every account (R-ACC-5): who still
// needs what. Opening it snapshots the enabled accounts with their flags;
// each is confirmed or revoked by a reviewer; closing records the outcome.
type Campaign struct {
	ID           string       `json:"id"`
	Title        string       `json:"title"`
	InactiveDays int          `json:"inactive_days"`
	State        string       `json:"state" doc:"open or closed"`
	OpenedBy     string       `json:"opened_by"`
	OpenedAt     time.Time    `json:"opened_at"`
	ClosedBy     string       `json:"closed_by,omitempty"`
	ClosedAt     time.Time    `json:"closed_at,omitzero"`
	Confirmed    int          `json:"confirmed"`
	Revoked      int          `json:"revoked"`
	Pending      int          `json:"pending"`
	Items        []ReviewItem `json:"items,omitempty"`
}

// ReviewItem is one account in a campaign.
type ReviewItem struct {
	UserID          string    `json:"user_id"`
	Username        string    `json:"username"`
	OrgID           string    `json:"org_id"`
	Roles           []string  `json:"roles"`
	LastLoginAt     time.Time `json:"last_login_at,omitzero"`
	Inactive        bool      `json:"inactive" doc:"no login for inactive_days"`
	AdminPwdExpired bool      `json:"admin_password_expired" doc:"an administrator whose password is past its maximum age (R-ACC-6)"`
	Decision        string    `json:"decision,omitempty" doc:"confirmed or revoked"`
	Reviewer        string    `json:"reviewer,omitempty"`
	DecidedAt       time.Time `json:"decided_at,omitzero"`
	Note            string    `json:"note,omitempty"`
}

// OpenCampaign snapshots every enabled account. The caller has checked that
// the actor belongs to the highest-access organisation.
func (s *Service) OpenCampaign(ctx context.Context, a Actor, title string, inactiveDays int) (Campaign, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return Campaign{}, inputErr("title", "required", "must not be empty")
	}
	if inactiveDays < 1 || inactiveDays > 3650 {
		return Campaign{}, inputErr("inactive_days", "out_of_range", "must be 1–3650")
	}
	users, err := s.opt.Auth.List(ctx, auth.ListFilter{})
	if err != nil {
		return Campaign{}, err
	}
	now := s.now()
	cut := now.Add(-time.Duration(inactiveDays) * 24 * time.Hour)
	pwdCut := now.Add(-s.opt.AdminPasswordMaxAge)
	c := Campaign{ID: newID("rev-"), Title: title, InactiveDays: inactiveDays, State: "open", OpenedBy: a.Name, OpenedAt: now}
	err = s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		var open int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM review_campaigns WHERE state = 'open'`).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return stateErr("state", "campaign_open", "close the open review campaign first")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO review_campaigns (id, title, inactive_days, state, opened_by, opened_at) VALUES (?, ?, ?, 'open', ?, ?)`,
			c.ID, c.Title, inactiveDays, a.Name, store.MS(now)); err != nil {
			return err
		}
		flagged := 0
		for _, u := range users {
			if u.Disabled {
				continue
			}
			it := ReviewItem{UserID: u.ID, Username: u.Username, OrgID: u.OrgID, Roles: u.Roles, LastLoginAt: u.LastLoginAt}
			last := u.LastLoginAt
			if last.IsZero() {
				last = u.CreatedAt
			}
			it.Inactive = !last.After(cut)
			it.AdminPwdExpired = u.IsAdmin() && u.PasswordChangedAt.Before(pwdCut)
			if it.Inactive || it.AdminPwdExpired {
				flagged++
			}
			if _, err := tx.Exec(ctx, `INSERT INTO review_items (campaign_id, user_id, username, org_id, roles, last_login_at, inactive, admin_pwd_expired)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, it.UserID, it.Username, it.OrgID, strings.Join(it.Roles, ","), store.MS(it.LastLoginAt),
				it.Inactive, it.AdminPwdExpired); err != nil {
				return err
			}
			c.Items = append(c.Items, it)
		}
		c.Pending = len(c.Items)
		return s.audit(ctx, tx, a, "review.open", "review/"+c.ID, map[string]any{"title": title, "accounts": len(c.Items), "flagged": flagged, "inactive_days": inactiveDays})
	})
	return c, err
}

func scanCampaign(sc interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var opened, closed int64
	err := sc.Scan(&c.ID, &c.Title, &c.InactiveDays, &c.State, &c.OpenedBy, &opened, &c.ClosedBy, &closed, &c.Confirmed, &c.Revoked)
	c.OpenedAt, c.ClosedAt = store.Time(opened), store.Time(closed)
	return c, err
}

const campCols = `id, title, inactive_days, state, opened_by, opened_at, closed_by, closed_at, confirmed, revoked`

// Campaigns lists the campaigns, newest first.
func (s *Service) Campaigns(ctx context.Context) ([]Campaign, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT `+campCols+` FROM review_campaigns ORDER BY opened_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Campaign{}
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Campaign reads one campaign with its items.
func (s *Service) Campaign(ctx context.Context, id string) (Campaign, error) {
	return s.campaign(ctx, s.opt.DB.Q(), id)
}

func (s *Service) campaign(ctx context.Context, q store.Q, id string) (Campaign, error) {
	c, err := scanCampaign(q.QueryRow(ctx, `SELECT `+campCols+` FROM review_campaigns WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, health.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	rows, err := q.Query(ctx, `SELECT user_id, username, org_id, roles, last_login_at, inactive, admin_pwd_expired, decision, reviewer, decided_at, note
		FROM review_items WHERE campaign_id = ? ORDER BY username`, id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	c.Items = []ReviewItem{}
	for rows.Next() {
		var it ReviewItem
		var roles string
		var last, dec int64
		if err := rows.Scan(&it.UserID, &it.Username, &it.OrgID, &roles, &last, &it.Inactive, &it.AdminPwdExpired, &it.Decision, &it.Reviewer, &dec, &it.Note); err != nil {
			return c, err
		}
		if roles != "" {
			it.Roles = strings.Split(roles, ",")
		}
		it.LastLoginAt, it.DecidedAt = store.Time(last), store.Time(dec)
		if it.Decision == "" {
			c.Pending++
		}
		c.Items = append(c.Items, it)
	}
	return c, rows.Err()
}

// Decide records a reviewer's decision on one account: confirmed (still
// needed) or revoked (the account is disabled at once, ending its sessions).
func (s *Service) Decide(ctx context.Context, a Actor, campaignID, userID, decision, note string) (ReviewItem, error) {
	if decision != "confirmed" && decision != "revoked" {
		return ReviewItem{}, inputErr("decision", "invalid", "must be confirmed or revoked")
	}
	note = strings.TrimSpace(note)
	if decision == "revoked" && note == "" {
		return ReviewItem{}, inputErr("note", "required", "say why the account is revoked")
	}
	c, err := s.Campaign(ctx, campaignID)
	if err != nil {
		return ReviewItem{}, err
	}
	if c.State != "open" {
		return ReviewItem{}, stateErr("state", "campaign_closed", "the campaign is closed")
	}
	var it *ReviewItem
	for i := range c.Items {
		if c.Items[i].UserID == userID {
			it = &c.Items[i]
		}
	}
	if it == nil {
		return ReviewItem{}, health.ErrNotFound
	}
	if it.Decision != "" {
		return ReviewItem{}, stateErr("decision", "already_decided", "this account was already "+it.Decision)
	}
	if decision == "revoked" && s.opt.Auth != nil {
		if err := s.opt.Auth.Disable(ctx, auth.Actor{UserID: a.ID, Username: a.Name, OrgID: a.OrgID, Remote: a.Remote}, userID); err != nil &&
			!errors.Is(err, auth.ErrNotFound) {
			return ReviewItem{}, err
		}
	}
	now := s.now()
	err = s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE review_items SET decision = ?, reviewer = ?, decided_at = ?, note = ? WHERE campaign_id = ? AND user_id = ? AND decision = ''`,
			decision, a.Name, store.MS(now), note, campaignID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return stateErr("decision", "already_decided", "this account was decided meanwhile")
		}
		return s.audit(ctx, tx, a, map[string]string{"confirmed": "review.confirm", "revoked": "review.revoke"}[decision], "user/"+userID, map[string]any{
			"campaign": campaignID, "username": it.Username, "note": note, "inactive": it.Inactive, "admin_password_expired": it.AdminPwdExpired})
	})
	if err != nil {
		return ReviewItem{}, err
	}
	it.Decision, it.Reviewer, it.DecidedAt, it.Note = decision, a.Name, now, note
	return *it, nil
}

// CloseCampaign records the outcome; every account must have been decided.
func (s *Service) CloseCampaign(ctx context.Context, a Actor, id string) (Campaign, error) {
	var out Campaign
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		c, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.State != "open" {
			return stateErr("state", "campaign_closed", "the campaign is already closed")
		}
		if c.Pending > 0 {
			return stateErr("items", "undecided", "every account must be confirmed or revoked first")
		}
		for _, it := range c.Items {
			if it.Decision == "confirmed" {
				c.Confirmed++
			} else {
				c.Revoked++
			}
		}
		now := s.now()
		res, err := tx.Exec(ctx, `UPDATE review_campaigns SET state = 'closed', closed_by = ?, closed_at = ?, confirmed = ?, revoked = ? WHERE id = ? AND state = 'open'`,
			a.Name, store.MS(now), c.Confirmed, c.Revoked, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return stateErr("state", "campaign_closed", "the campaign was closed meanwhile")
		}
		c.State, c.ClosedBy, c.ClosedAt = "closed", a.Name, now
		out = c
		return s.audit(ctx, tx, a, "review.close", "review/"+id, map[string]any{"confirmed": c.Confirmed, "revoked": c.Revoked, "accounts": len(c.Items)})
	})
	return out, err
}
