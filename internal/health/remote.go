package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// A lower site's camera is watched by its own site. Tier 1 learns its status
// and its incidents through the federation, in the transaction that applies
// the site's messages: RecordStatus and ApplyShipped below.

// RecordStatus records, in q, the status a lower site reported for one of
// its cameras as of `at` (the site's time): a transition when it differs
// from the one stored.
func (s *Service) RecordStatus(ctx context.Context, q store.Q, cameraID, status string, at time.Time) error {
	var cur string
	err := q.QueryRow(ctx, `SELECT status FROM camera_status WHERE camera_id = ?`, cameraID).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case cur == status:
		_, err := q.Exec(ctx, `UPDATE camera_status SET checked_at = ? WHERE camera_id = ?`, store.MS(s.now()), cameraID)
		return err
	}
	return writeTransition(ctx, q, cameraID, status, "", store.MS(at))
}

// ShippedIncident is an incident about a shared camera as the lower site
// that opened it ships it up: its whole current state, each time it changes.
type ShippedIncident struct {
	ID              string `json:"id"`
	Category        string `json:"category"`
	Source          string `json:"source"`
	CameraID        string `json:"camera_id"`
	Title           string `json:"title"`
	Description     string `json:"description,omitempty"`
	State           string `json:"state"`
	DetectedAt      int64  `json:"detected_at"`
	DeadlineAt      int64  `json:"deadline_at"`
	AcknowledgedAt  int64  `json:"acknowledged_at,omitempty"`
	AcknowledgedBy  string `json:"acknowledged_by,omitempty"`
	ResolvedAt      int64  `json:"resolved_at,omitempty"`
	ResolvedBy      string `json:"resolved_by,omitempty"`
	Resolution      string `json:"resolution,omitempty"`
	ClosedAt        int64  `json:"closed_at,omitempty"`
	ClosedBy        string `json:"closed_by,omitempty"`
	EscalationLevel int    `json:"escalation_level"`
}

var shippedIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Check refuses a shipped incident that is not well formed.
func (x ShippedIncident) Check() error {
	switch {
	case !shippedIDRe.MatchString(x.ID):
		return errors.New("incident: bad id")
	case !ValidCategory(x.Category):
		return fmt.Errorf("incident: unknown category %q", x.Category)
	case x.Source != "auto" && x.Source != "manual":
		return fmt.Errorf("incident: unknown source %q", x.Source)
	case x.CameraID == "":
		return errors.New("incident: no camera")
	case x.State != StateOpen && x.State != StateAcknowledged && x.State != StateResolved && x.State != StateClosed:
		return fmt.Errorf("incident: unknown state %q", x.State)
	case x.DetectedAt <= 0 || x.DeadlineAt < x.DetectedAt:
		return errors.New("incident: bad detection or deadline time")
	case x.EscalationLevel < 0 || x.EscalationLevel > 2:
		return errors.New("incident: bad escalation level")
	case len(x.Title) > 1000 || len(x.Description) > 10000 || len(x.Resolution) > 10000:
		return errors.New("incident: text too long")
	}
	return nil
}

// Shipped reads one of this site's own incidents in the form it ships up
// (ErrNotFound: none; an incident not about a camera is not shipped).
func (s *Service) Shipped(ctx context.Context, id string) (ShippedIncident, error) {
	i, err := s.Get(ctx, id)
	if err != nil {
		return ShippedIncident{}, err
	}
	if i.CameraID == "" || i.OriginSite != "" {
		return ShippedIncident{}, ErrNotFound
	}
	return ShippedIncident{ID: i.ID, Category: i.Category, Source: i.Source, CameraID: i.CameraID, Title: i.Title,
		Description: i.Description, State: i.State, DetectedAt: store.MS(i.DetectedAt), DeadlineAt: store.MS(i.DeadlineAt),
		AcknowledgedAt: store.MS(i.AcknowledgedAt), AcknowledgedBy: i.AcknowledgedBy, ResolvedAt: store.MS(i.ResolvedAt),
		ResolvedBy: i.ResolvedBy, Resolution: i.Resolution, ClosedAt: store.MS(i.ClosedAt), ClosedBy: i.ClosedBy,
		EscalationLevel: i.EscalationLevel}, nil
}

// ShippedID is the id at tier 1 of lower site site's incident id.
func ShippedID(site, id string) string { return site + "." + id }

// ApplyShipped stores, in q, lower site site's incident as shipped (the
// caller has checked that its camera is one of that site's): created the
// first time, then following the site's state. It is assigned at tier 1 as
// any incident of the camera (the system's operating unit) and audited as
// done by the site.
func (s *Service) ApplyShipped(ctx context.Context, q store.Q, site string, x ShippedIncident) error {
	if err := x.Check(); err != nil {
		return err
	}
	id := ShippedID(site, x.ID)
	t, err := lookupTarget(ctx, q, x.CameraID, "")
	if err != nil {
		return err
	}
	a := Actor{ID: "site:" + site, Name: site, Remote: "federation"}
	var version int64
	var state string
	err = q.QueryRow(ctx, `SELECT version, state FROM incidents WHERE id = ? AND origin_site = ?`, id, site).Scan(&version, &state)
	inc := Incident{ID: id, Category: x.Category, Source: x.Source, Title: x.Title, Description: x.Description, State: x.State,
		DetectedAt: store.Time(x.DetectedAt), DeadlineAt: store.Time(x.DeadlineAt), ReporterID: a.ID, ReporterName: site,
		OriginSite: site, Version: 1}
	inc.fill(t)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := q.Exec(ctx, `INSERT INTO incidents (id, category, source, object, camera_id, system_id, assigned_org_id, managing_org_id,
			title, description, state, detected_at, deadline_at, reporter_id, reporter_name, reporter_org_id, version, origin_site)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 1, ?)`,
			inc.ID, inc.Category, inc.Source, inc.Object, inc.CameraID, inc.SystemID, inc.AssignedOrgID, inc.ManagingOrgID,
			inc.Title, inc.Description, StateOpen, x.DetectedAt, x.DeadlineAt, a.ID, site, site); err != nil {
			return err
		}
		if err := s.audit(ctx, q, a, "incident.federated_open", &inc, map[string]any{"category": inc.Category, "object": inc.Object,
			"site": site, "assigned_org": inc.AssignedOrgID, "deadline": inc.DeadlineAt.UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
		state, version = StateOpen, 1
	case err != nil:
		return err
	}
	if _, err := q.Exec(ctx, `UPDATE incidents SET state = ?, title = ?, description = ?, deadline_at = ?, acknowledged_at = ?, acknowledged_by = ?,
		resolved_at = ?, resolved_by = ?, resolution = ?, closed_at = ?, closed_by = ?, escalation_level = ?, version = version + 1
		WHERE id = ?`, x.State, x.Title, x.Description, x.DeadlineAt, x.AcknowledgedAt, x.AcknowledgedBy, x.ResolvedAt, x.ResolvedBy,
		x.Resolution, x.ClosedAt, x.ClosedBy, x.EscalationLevel, id); err != nil {
		return err
	}
	if state == x.State {
		return nil
	}
	inc.Version = version + 1
	return s.audit(ctx, q, a, "incident.federated_update", &inc, map[string]any{"from": state, "to": x.State, "site": site})
}
