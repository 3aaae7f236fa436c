package registry

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/vigil-vms/vigil/internal/store"
)

const sysCols = `id, name, tier, managing_org_id, operating_org_id, site_id, public_sharing, version, created_at, updated_at`

func (s *Service) validateSystem(in System) (System, error) {
	var es ValidationErrors
	checkID(&es, "id", in.ID, false)
	checkText(&es, "name", in.Name, true, MaxNameLen)
	if in.Tier < 1 || in.Tier > 3 {
		es.add("tier", "out_of_range", "tier must be 1, 2 or 3")
	}
	checkID(&es, "managing_org_id", in.ManagingOrgID, true)
	checkID(&es, "operating_org_id", in.OperatingOrgID, true)
	// The site id becomes the site's JetStream domain, so it follows the id rule.
	checkID(&es, "site_id", in.SiteID, true)
	in.Name = strings.TrimSpace(in.Name)
	return in, es.err()
}

// checkOrgsExist names the org field whose organisation is missing. Checked
// before the write so the client learns which field is wrong, rather than an
// anonymous foreign-key failure.
func checkOrgsExist(ctx context.Context, q store.Q, sys System) error {
	var es ValidationErrors
	for _, f := range []struct{ field, id string }{{"managing_org_id", sys.ManagingOrgID}, {"operating_org_id", sys.OperatingOrgID}} {
		var one int
		err := q.QueryRow(ctx, `SELECT 1 FROM organisations WHERE id = ?`, f.id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			es.add(f.field, "not_found", "no organisation %s", clip(f.id, 64))
		} else if err != nil {
			return err
		}
	}
	return es.err()
}

// CreateSystem adds a system; an empty ID is generated.
func (s *Service) CreateSystem(ctx context.Context, a Actor, in System) (System, error) {
	r, err := s.validateSystem(in)
	if err != nil {
		return System{}, err
	}
	if r.ID == "" {
		r.ID = newID("sys")
	}
	now := s.nowMS()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := checkOrgsExist(ctx, tx, r); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, public_sharing, search_text, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			r.ID, r.Name, r.Tier, r.ManagingOrgID, r.OperatingOrgID, r.SiteID, r.PublicSharing, Fold(r.ID+" "+r.Name), now, now)
		if store.IsUniqueViolation(err) {
			return conflict("id", "duplicate", "a system with this id already exists")
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, a, "system.create", "system/"+r.ID,
			map[string]any{"fields": []string{"id", "name", "tier", "managing_org_id", "operating_org_id", "site_id", "public_sharing"}})
	})
	if err != nil {
		return System{}, err
	}
	return s.GetSystem(ctx, r.ID)
}

func scanSystem(sc interface{ Scan(...any) error }) (System, error) {
	var y System
	var created, updated int64
	err := sc.Scan(&y.ID, &y.Name, &y.Tier, &y.ManagingOrgID, &y.OperatingOrgID, &y.SiteID, &y.PublicSharing, &y.Version, &created, &updated)
	y.CreatedAt, y.UpdatedAt = store.Time(created), store.Time(updated)
	return y, err
}

// GetSystem reads one system.
func (s *Service) GetSystem(ctx context.Context, id string) (System, error) {
	return getSystem(ctx, s.db.Q(), id)
}

func getSystem(ctx context.Context, q store.Q, id string) (System, error) {
	y, err := scanSystem(q.QueryRow(ctx, `SELECT `+sysCols+` FROM systems WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return y, ErrNotFound
	}
	return y, err
}

// UpdateSystem replaces a system's fields if it is still at version.
func (s *Service) UpdateSystem(ctx context.Context, a Actor, id string, version int64, in System) (System, error) {
	if in.ID != "" && in.ID != id {
		return System{}, ValidationErrors{{Field: "id", Code: "immutable", Message: "the id cannot be changed"}}
	}
	in.ID = id
	r, err := s.validateSystem(in)
	if err != nil {
		return System{}, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := getSystem(ctx, tx, id)
		if err != nil {
			return err
		}
		if old.Version != version {
			return conflict("version", "version_mismatch", "the system was changed by someone else (now version %d)", old.Version)
		}
		if err := checkOrgsExist(ctx, tx, r); err != nil {
			return err
		}
		var changed []string
		for _, d := range []struct {
			name string
			eq   bool
		}{
			{"name", old.Name == r.Name}, {"tier", old.Tier == r.Tier},
			{"managing_org_id", old.ManagingOrgID == r.ManagingOrgID}, {"operating_org_id", old.OperatingOrgID == r.OperatingOrgID},
			{"site_id", old.SiteID == r.SiteID}, {"public_sharing", old.PublicSharing == r.PublicSharing},
		} {
			if !d.eq {
				changed = append(changed, d.name)
			}
		}
		res, err := tx.Exec(ctx, `UPDATE systems SET name = ?, tier = ?, managing_org_id = ?, operating_org_id = ?, site_id = ?,
			public_sharing = ?, search_text = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
			r.Name, r.Tier, r.ManagingOrgID, r.OperatingOrgID, r.SiteID, r.PublicSharing, Fold(id+" "+r.Name), s.nowMS(), id, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("version", "version_mismatch", "the system was changed by someone else")
		}
		return s.record(ctx, tx, a, "system.update", "system/"+id, map[string]any{"fields": nonNil(changed)})
	})
	if err != nil {
		return System{}, err
	}
	return s.GetSystem(ctx, id)
}

// DeleteSystem removes a system without cameras.
func (s *Service) DeleteSystem(ctx context.Context, a Actor, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM systems WHERE id = ?`, id)
		if store.IsForeignKeyViolation(err) {
			return conflict("id", "in_use", "the system still has cameras")
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, a, "system.delete", "system/"+id, nil)
	})
}

// SystemFilter selects systems.
type SystemFilter struct {
	Q      string `json:"q,omitempty"`
	Tier   int    `json:"tier,omitempty"`
	OrgID  string `json:"org_id,omitempty"` // managing or operating
	Limit  int    `json:"limit,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

// SystemPage is one page of systems and the total matching.
type SystemPage struct {
	Items []System `json:"items"`
	Total int      `json:"total"`
}

// ListSystems lists systems by tier and name.
func (s *Service) ListSystems(ctx context.Context, f SystemFilter) (SystemPage, error) {
	var w where
	if f.Tier != 0 {
		w.and("tier = ?", f.Tier)
	}
	if f.OrgID != "" {
		w.and("(managing_org_id = ? OR operating_org_id = ?)", f.OrgID, f.OrgID)
	}
	if err := w.search("search_text", f.Q); err != nil {
		return SystemPage{}, err
	}
	limit, offset := pageOf(f.Limit, f.Offset)
	page := SystemPage{Items: []System{}}
	q := s.db.Q()
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM systems WHERE `+w.sql(), w.args...).Scan(&page.Total); err != nil {
		return page, err
	}
	rows, err := q.Query(ctx, `SELECT `+sysCols+` FROM systems WHERE `+w.sql()+` ORDER BY tier, name, id LIMIT ? OFFSET ?`,
		append(w.args, limit, offset)...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		y, err := scanSystem(rows)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, y)
	}
	return page, rows.Err()
}
