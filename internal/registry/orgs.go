package registry

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/vigil-vms/vigil/internal/store"
)

const orgCols = `id, name, kind, COALESCE(parent_id, ''), functions, area_limit, cleared_classified, version, created_at, updated_at`

type orgRow struct {
	Organisation
	functions, areaLimit Mask
}

func (s *Service) validateOrg(in Organisation) (orgRow, error) {
	var es ValidationErrors
	checkID(&es, "id", in.ID, false)
	checkText(&es, "name", in.Name, true, MaxNameLen)
	if indexOf(OrgKinds, in.Kind) < 0 {
		es.add("kind", "unknown_value", "unknown value %q (allowed: %s)", clip(in.Kind, 40), strings.Join(OrgKinds, ", "))
	}
	checkID(&es, "parent_id", in.ParentID, false)
	r := orgRow{Organisation: in}
	r.functions = maskOf(&es, "functions", Purposes, in.Functions, false)
	r.areaLimit = maskOf(&es, "area_limit", Areas, in.AreaLimit, false)
	r.Name = strings.TrimSpace(r.Name)
	return r, es.err()
}

// checkParent refuses a missing parent and a parent chain that loops back.
func checkParent(ctx context.Context, q store.Q, id, parent string) error {
	if parent == "" {
		return nil
	}
	cur := parent
	for depth := 0; cur != ""; depth++ {
		if cur == id || depth > 64 {
			return ValidationErrors{{Field: "parent_id", Code: "cycle", Message: "the parent chain would loop back to this organisation"}}
		}
		var next sql.NullString
		err := q.QueryRow(ctx, `SELECT parent_id FROM organisations WHERE id = ?`, cur).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return ValidationErrors{{Field: "parent_id", Code: "not_found", Message: "no organisation " + clip(cur, 64)}}
		}
		if err != nil {
			return err
		}
		cur = next.String
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateOrganisation adds an organisation; an empty ID is generated.
func (s *Service) CreateOrganisation(ctx context.Context, a Actor, in Organisation) (Organisation, error) {
	r, err := s.validateOrg(in)
	if err != nil {
		return Organisation{}, err
	}
	if r.ID == "" {
		r.ID = newID("org")
	}
	now := s.nowMS()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := checkParent(ctx, tx, r.ID, r.ParentID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO organisations (id, name, kind, parent_id, functions, area_limit, cleared_classified, search_text, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			r.ID, r.Name, r.Kind, nullable(r.ParentID), r.functions, r.areaLimit, r.ClearedClassified,
			Fold(r.ID+" "+r.Name), now, now)
		if store.IsUniqueViolation(err) {
			return conflict("id", "duplicate", "an organisation with this id already exists")
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, a, "organisation.create", "organisation/"+r.ID,
			map[string]any{"fields": []string{"id", "name", "kind", "parent_id", "functions", "area_limit", "cleared_classified"}})
	})
	if err != nil {
		return Organisation{}, err
	}
	return s.GetOrganisation(ctx, r.ID)
}

func scanOrg(sc interface{ Scan(...any) error }) (Organisation, error) {
	var o Organisation
	var fn, al, created, updated int64
	if err := sc.Scan(&o.ID, &o.Name, &o.Kind, &o.ParentID, &fn, &al, &o.ClearedClassified, &o.Version, &created, &updated); err != nil {
		return o, err
	}
	o.Functions, o.AreaLimit = Names(Purposes, fn), Names(Areas, al)
	o.CreatedAt, o.UpdatedAt = store.Time(created), store.Time(updated)
	return o, nil
}

// GetOrganisation reads one organisation.
func (s *Service) GetOrganisation(ctx context.Context, id string) (Organisation, error) {
	return getOrg(ctx, s.db.Q(), id)
}

func getOrg(ctx context.Context, q store.Q, id string) (Organisation, error) {
	o, err := scanOrg(q.QueryRow(ctx, `SELECT `+orgCols+` FROM organisations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// UpdateOrganisation replaces an organisation's fields if it is still at
// version (optimistic concurrency); in.ID, if set, must equal id.
func (s *Service) UpdateOrganisation(ctx context.Context, a Actor, id string, version int64, in Organisation) (Organisation, error) {
	if in.ID != "" && in.ID != id {
		return Organisation{}, ValidationErrors{{Field: "id", Code: "immutable", Message: "the id cannot be changed"}}
	}
	in.ID = id
	r, err := s.validateOrg(in)
	if err != nil {
		return Organisation{}, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := getOrg(ctx, tx, id)
		if err != nil {
			return err
		}
		if old.Version != version {
			return conflict("version", "version_mismatch", "the organisation was changed by someone else (now version %d)", old.Version)
		}
		if err := checkParent(ctx, tx, id, r.ParentID); err != nil {
			return err
		}
		var changed []string
		diff := func(name string, eq bool) {
			if !eq {
				changed = append(changed, name)
			}
		}
		diff("name", old.Name == r.Name)
		diff("kind", old.Kind == r.Kind)
		diff("parent_id", old.ParentID == r.ParentID)
		diff("functions", sameStrings(old.Functions, Names(Purposes, r.functions)))
		diff("area_limit", sameStrings(old.AreaLimit, Names(Areas, r.areaLimit)))
		diff("cleared_classified", old.ClearedClassified == r.ClearedClassified)
		res, err := tx.Exec(ctx, `UPDATE organisations SET name = ?, kind = ?, parent_id = ?, functions = ?, area_limit = ?,
			cleared_classified = ?, search_text = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
			r.Name, r.Kind, nullable(r.ParentID), r.functions, r.areaLimit, r.ClearedClassified,
			Fold(id+" "+r.Name), s.nowMS(), id, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("version", "version_mismatch", "the organisation was changed by someone else")
		}
		return s.record(ctx, tx, a, "organisation.update", "organisation/"+id, map[string]any{"fields": nonNil(changed)})
	})
	if err != nil {
		return Organisation{}, err
	}
	return s.GetOrganisation(ctx, id)
}

// DeleteOrganisation removes an organisation no system or child refers to.
func (s *Service) DeleteOrganisation(ctx context.Context, a Actor, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM organisations WHERE id = ?`, id)
		if store.IsForeignKeyViolation(err) {
			return conflict("id", "in_use", "the organisation still manages or operates a system, or has child organisations")
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, a, "organisation.delete", "organisation/"+id, nil)
	})
}

// OrgFilter selects organisations.
type OrgFilter struct {
	Q      string `json:"q,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

// OrgPage is one page of organisations and the total matching.
type OrgPage struct {
	Items []Organisation `json:"items"`
	Total int            `json:"total"`
}

// ListOrganisations lists organisations by name.
func (s *Service) ListOrganisations(ctx context.Context, f OrgFilter) (OrgPage, error) {
	var w where
	if f.Kind != "" {
		w.and("kind = ?", f.Kind)
	}
	if err := w.search("search_text", f.Q); err != nil {
		return OrgPage{}, err
	}
	limit, offset := pageOf(f.Limit, f.Offset)
	page := OrgPage{Items: []Organisation{}}
	q := s.db.Q()
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM organisations WHERE `+w.sql(), w.args...).Scan(&page.Total); err != nil {
		return page, err
	}
	rows, err := q.Query(ctx, `SELECT `+orgCols+` FROM organisations WHERE `+w.sql()+` ORDER BY name, id LIMIT ? OFFSET ?`,
		append(w.args, limit, offset)...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, o)
	}
	return page, rows.Err()
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
