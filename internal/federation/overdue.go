package federation

import (
	"context"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Deadline is one camera's 5-day connection deadline (R-FED-2): from its
// installation or last change (whichever is later) to the first time tier 1
// saw it online afterwards.
type Deadline struct {
	CameraID    string    `json:"camera_id"`
	Name        string    `json:"name"`
	SystemID    string    `json:"system_id"`
	SiteID      string    `json:"site_id"`
	ChangedAt   time.Time `json:"changed_at"`
	Due         time.Time `json:"due"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	Overdue     bool      `json:"overdue"`
	// OverdueBy is how long past the deadline, in hours.
	OverdueHours float64 `json:"overdue_hours,omitempty"`
}

// Overdue lists the cameras not connected to tier 1 within the deadline
// after installation or change (all when all is set: pending ones too).
// A federated camera counts as connected when tier 1 received its online
// status; a local camera when the registry recorded its first connection.
func (s *Service) Overdue(ctx context.Context, now time.Time, all bool) ([]Deadline, error) {
	rows, err := s.d.DB.Q().Query(ctx, `SELECT c.id, c.name, c.system_id, c.origin_site, c.installed_at, c.changed_at, c.first_connected_at,
		COALESCE(f.seen_online_at, 0) FROM cameras c LEFT JOIN federation_cameras f ON f.camera_id = c.id ORDER BY c.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	limit := s.d.Cfg.Federation.ConnectDeadline
	out := []Deadline{}
	for rows.Next() {
		var d Deadline
		var installed, changed, first, seen int64
		if err := rows.Scan(&d.CameraID, &d.Name, &d.SystemID, &d.SiteID, &installed, &changed, &first, &seen); err != nil {
			return nil, err
		}
		if d.SiteID == "" {
			d.SiteID = s.d.Cfg.Site.ID
		}
		start := max(installed, changed)
		if start == 0 {
			continue
		}
		connected := first
		if d.SiteID != s.d.Cfg.Site.ID {
			connected = seen
		}
		d.ChangedAt = store.Time(start)
		d.Due = d.ChangedAt.Add(limit)
		if connected >= start {
			d.ConnectedAt = store.Time(connected)
			if !all {
				continue
			}
			d.Overdue = d.ConnectedAt.After(d.Due)
		} else {
			d.Overdue = now.After(d.Due)
			if !d.Overdue && !all {
				continue
			}
		}
		if d.Overdue {
			end := now
			if !d.ConnectedAt.IsZero() {
				end = d.ConnectedAt
			}
			d.OverdueHours = float64(end.Sub(d.Due).Round(time.Minute)) / float64(time.Hour)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// FedCamera is a federated camera with its site's link state.
type FedCamera struct {
	CameraID      string    `json:"camera_id"`
	Name          string    `json:"name"`
	SystemID      string    `json:"system_id"`
	SiteID        string    `json:"site_id"`
	LinkState     string    `json:"link_state"`
	Online        bool      `json:"online"`
	StatusAt      time.Time `json:"status_at,omitzero"`
	RemoteVersion int64     `json:"remote_version"`
}

// FederatedCameras lists the cameras tier 1 holds for lower sites.
func (s *Service) FederatedCameras(ctx context.Context, site string, limit, offset int) ([]FedCamera, int, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := s.d.DB.Q()
	var total int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM federation_cameras WHERE (? = '' OR site_id = ?)`, site, site).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.Query(ctx, `SELECT c.id, c.name, c.system_id, f.site_id, s.link_state, f.online, f.status_at, f.remote_version
		FROM federation_cameras f JOIN cameras c ON c.id = f.camera_id JOIN federation_sites s ON s.site_id = f.site_id
		WHERE (? = '' OR f.site_id = ?) ORDER BY c.id LIMIT ? OFFSET ?`, site, site, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []FedCamera{}
	for rows.Next() {
		var c FedCamera
		var at int64
		if err := rows.Scan(&c.CameraID, &c.Name, &c.SystemID, &c.SiteID, &c.LinkState, &c.Online, &at, &c.RemoteVersion); err != nil {
			return nil, 0, err
		}
		c.StatusAt = store.Time(at)
		out = append(out, c)
	}
	return out, total, rows.Err()
}

// AuditReport is the check of a site's shipped audit log at tier 1.
type AuditReport struct {
	SiteID  string `json:"site_id"`
	Entries int64  `json:"entries"`
	LastSeq int64  `json:"last_seq"`
	OK      bool   `json:"ok"`
	// BrokenAt is the first seq whose hash or link does not hold (or a gap).
	BrokenAt int64  `json:"broken_at,omitempty"`
	Problem  string `json:"problem,omitempty"`
	// Heads is how many witnessed heads of the site tier 1 holds, the
	// newest at HeadSeq; each must be an entry of the chain with its hash.
	Heads   int64 `json:"heads"`
	HeadSeq int64 `json:"head_seq,omitempty"`
}

// VerifySiteAudit recomputes the hash chain of a site's shipped audit log:
// entries 1..n with no gap, each hash over its content and its predecessor.
// A lower site cannot rewrite its past unseen: what tier 1 holds is checked
// against itself, not against the lower site.
func (s *Service) VerifySiteAudit(ctx context.Context, site string) (AuditReport, error) {
	r := AuditReport{SiteID: site, OK: true}
	rows, err := s.d.DB.Q().Query(ctx, `SELECT seq, at, actor_id, actor, org, action, object, outcome, reason, details, remote, prev_hash, hash
		FROM federation_audit WHERE site_id = ? ORDER BY seq`, site)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	prev := ""
	for rows.Next() {
		var e audit.Entry
		var at int64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.Actor, &e.Org, &e.Action, &e.Object, &e.Outcome, &e.Reason, &details, &e.Remote, &e.PrevHash, &e.Hash); err != nil {
			return r, err
		}
		e.At = store.Time(at)
		r.Entries++
		fail := func(p string) {
			if r.OK {
				r.OK, r.BrokenAt, r.Problem = false, e.Seq, p
			}
		}
		switch {
		case e.Seq != r.LastSeq+1:
			fail("gap")
		case e.PrevHash != prev:
			fail("link")
		}
		if d, err := parseDetails(details); err != nil {
			fail("details")
		} else {
			e.Details = d
			if h, err := audit.ComputeHash(e); err != nil || h != e.Hash {
				fail("hash")
			}
		}
		r.LastSeq, prev = e.Seq, e.Hash
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	rows.Close()
	return r, s.checkHeads(ctx, &r)
}
