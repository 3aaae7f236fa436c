package registry

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Federated cameras (R-FED-1): tier 1 holds every lower site's shared
// cameras in its own registry, marked with their origin site. They are
// written only through the federation link (UpsertFederated,
// DeleteFederated) and are read-only to tier 1's own users.

// ErrFederated is matched by the conflict returned when a tier-1 user tries
// to edit or delete a camera owned by a lower site.
var ErrFederated = errors.New("registry: camera is owned by a lower site")

// refuseFederated fails when camera id is federated from a lower site.
func refuseFederated(ctx context.Context, q store.Q, id string) error {
	var origin string
	err := q.QueryRow(ctx, `SELECT origin_site FROM cameras WHERE id = ?`, id).Scan(&origin)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if origin != "" {
		return conflict("id", "federated", "the camera belongs to site %s and is edited there", origin)
	}
	return nil
}

// UpsertFederated creates or replaces a camera shared by lower site `site`,
// inside q (the federation apply transaction). The camera's system must be
// one of that site's systems (systems.site_id = site), and an existing
// camera with the same id must come from the same site: a lower site speaks
// only for its own systems. The input carries no stream URL: tier 1 gets the
// video pushed on demand. changedAtMS is the lower site's change time (the
// start of the 5-day deadline, R-FED-2). It returns the audit entry that
// records the change, for the caller to append in the same transaction (the
// federation appends a whole batch at once). hasSub records that the camera
// has a sub stream at its site, which tier 1 can then ask for on its own.
func (s *Service) UpsertFederated(ctx context.Context, q store.Q, a Actor, site string, in CameraInput, changedAtMS int64, hasSub bool) (audit.Entry, error) {
	in.MainURL, in.SubURL, in.Username, in.Password, in.Push = "", "", "", "", true
	r, es := validateCamera(in)
	if r.in.ID == "" {
		es.add("id", "required", "is required")
	}
	if err := es.err(); err != nil {
		return audit.Entry{}, err
	}
	var sysSite string
	err := q.QueryRow(ctx, `SELECT site_id FROM systems WHERE id = ?`, r.in.SystemID).Scan(&sysSite)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && sysSite != site) {
		return audit.Entry{}, ValidationErrors{{Field: "system_id", Code: "not_this_site", Message: "the system is not one of this site's systems"}}
	}
	if err != nil {
		return audit.Entry{}, err
	}
	var origin string
	err = q.QueryRow(ctx, `SELECT origin_site FROM cameras WHERE id = ?`, r.in.ID).Scan(&origin)
	n := &r.in
	now := s.nowMS()
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = q.Exec(ctx, `INSERT INTO cameras (id, system_id, name, kinds, purposes, area, area_bit, lat, lon, admin_unit, address,
			classified, public, transport, on_demand, push, consent_doc, consent_date, consent_scope, installed_at, changed_at,
			first_connected_at, search_text, version, created_at, updated_at, origin_site, federated_sub)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?, ?, TRUE, TRUE, ?, ?, ?, ?, ?, 0, ?, 1, ?, ?, ?, ?)`,
			n.ID, n.SystemID, n.Name, r.kinds, r.purposes, n.Area, r.areaBit, n.Lat, n.Lon, n.AdminUnit, n.Address,
			n.Public, n.Transport, n.Consent.Doc, n.Consent.Date, n.Consent.Scope, r.installedMS, changedAtMS,
			cameraSearch(n), now, now, site, hasSub)
		if err != nil {
			return audit.Entry{}, err
		}
		return s.entry(a, "camera.federated_create", "camera/"+n.ID, map[string]any{"site": site}), nil
	case err != nil:
		return audit.Entry{}, err
	case origin != site:
		return audit.Entry{}, conflict("id", "other_site", "a camera with this id belongs to another site")
	}
	_, err = q.Exec(ctx, `UPDATE cameras SET system_id = ?, name = ?, kinds = ?, purposes = ?, area = ?, area_bit = ?, lat = ?, lon = ?,
		admin_unit = ?, address = ?, public = ?, consent_doc = ?, consent_date = ?, consent_scope = ?, installed_at = ?, changed_at = ?,
		search_text = ?, federated_sub = ?, version = version + 1, updated_at = ? WHERE id = ? AND origin_site = ?`,
		n.SystemID, n.Name, r.kinds, r.purposes, n.Area, r.areaBit, n.Lat, n.Lon,
		n.AdminUnit, n.Address, n.Public, n.Consent.Doc, n.Consent.Date, n.Consent.Scope, r.installedMS, changedAtMS,
		cameraSearch(n), hasSub, now, n.ID, site)
	if err != nil {
		return audit.Entry{}, err
	}
	return s.entry(a, "camera.federated_update", "camera/"+n.ID, map[string]any{"site": site}), nil
}

func (s *Service) entry(a Actor, action, object string, details map[string]any) audit.Entry {
	id := a.UserID
	if id == "" {
		id = "system"
	}
	return audit.Entry{At: s.now().UTC(), ActorID: id, Actor: a.Username, Org: a.OrgID, Action: action, Object: object,
		Outcome: audit.OK, Details: details, Remote: a.Remote}
}

// DeleteFederated removes a camera of lower site `site` (no longer shared,
// or deleted there). A camera of another origin is left alone.
func (s *Service) DeleteFederated(ctx context.Context, q store.Q, a Actor, site, id string) (bool, error) {
	res, err := q.Exec(ctx, `DELETE FROM cameras WHERE id = ? AND origin_site = ?`, id, site)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	return true, s.record(ctx, q, a, "camera.federated_delete", "camera/"+id, map[string]any{"site": site})
}

// OriginSite returns the lower site a camera comes from ("" for a local
// camera; ErrNotFound when there is no such camera).
func (s *Service) OriginSite(ctx context.Context, id string) (string, error) {
	var origin string
	err := s.db.Q().QueryRow(ctx, `SELECT origin_site FROM cameras WHERE id = ?`, id).Scan(&origin)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return origin, err
}
