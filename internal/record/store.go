package record

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Actor is who changes a policy or a lock (for the audit log).
type Actor struct {
	ID, Name, Org, Remote string
}

func (s *Service) loadPolicies(ctx context.Context) (map[string]*RecordingPolicy, error) {
	rows, err := s.db.Q().Query(ctx, `SELECT scope, mode, schedule, retention_days, legal_override, updated_by, updated_at FROM record_policies`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*RecordingPolicy{}
	for rows.Next() {
		var p RecordingPolicy
		var at int64
		if err := rows.Scan(&p.Scope, &p.Mode, &p.Schedule, &p.RetentionDays, &p.LegalOverride, &p.UpdatedBy, &at); err != nil {
			return nil, err
		}
		p.UpdatedAt = store.Time(at)
		out[p.Scope] = &p
	}
	return out, rows.Err()
}

func (s *Service) effective(ctx context.Context, pols map[string]*RecordingPolicy, cameraID string) Effective {
	var sys *RecordingPolicy
	if s.opt.SystemOf != nil && hasSystemPolicies(pols) {
		if id, err := s.opt.SystemOf(ctx, cameraID); err == nil {
			sys = pols["system:"+id]
		}
	}
	return resolve(pols["camera:"+cameraID], sys, s.opt.DefaultMode, s.opt.RetentionDays)
}

func hasSystemPolicies(pols map[string]*RecordingPolicy) bool {
	for k := range pols {
		if strings.HasPrefix(k, "system:") {
			return true
		}
	}
	return false
}

// Effective returns a camera's resolved policy.
func (s *Service) Effective(ctx context.Context, cameraID string) (Effective, error) {
	pols, err := s.loadPolicies(ctx)
	if err != nil {
		return Effective{}, err
	}
	return s.effective(ctx, pols, cameraID), nil
}

// Policies lists every stored policy.
func (s *Service) Policies(ctx context.Context) ([]RecordingPolicy, error) {
	m, err := s.loadPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RecordingPolicy, 0, len(m))
	for _, p := range m {
		out = append(out, *p)
	}
	return out, nil
}

// SetPolicy stores a policy and audits it; a retention below the floor is
// accepted only with its legal basis, which the audit entry records.
func (s *Service) SetPolicy(ctx context.Context, by Actor, p RecordingPolicy) (RecordingPolicy, error) {
	p.Schedule = strings.TrimSpace(p.Schedule)
	if err := p.Validate(); err != nil {
		return p, err
	}
	if p.Schedule != "" {
		sc, _ := ParseSchedule(p.Schedule)
		p.Schedule = sc.String()
	}
	p.UpdatedBy, p.UpdatedAt = by.Name, time.Now().UTC().Truncate(time.Millisecond)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE record_policies SET mode = ?, schedule = ?, retention_days = ?, legal_override = ?, updated_by = ?, updated_at = ? WHERE scope = ?`,
			p.Mode, p.Schedule, p.RetentionDays, p.LegalOverride, p.UpdatedBy, store.MS(p.UpdatedAt), p.Scope)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO record_policies (scope, mode, schedule, retention_days, legal_override, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				p.Scope, p.Mode, p.Schedule, p.RetentionDays, p.LegalOverride, p.UpdatedBy, store.MS(p.UpdatedAt)); err != nil {
				return err
			}
		}
		d := map[string]any{"mode": p.Mode, "schedule": p.Schedule, "retention_days": p.RetentionDays}
		if p.RetentionDays > 0 && p.RetentionDays < MinRetentionDays {
			d["legal_override"] = p.LegalOverride
		}
		_, err = s.audit.Append(ctx, tx, audit.Entry{ActorID: by.ID, Actor: by.Name, Org: by.Org, Action: "record.policy.set",
			Object: p.Scope, Outcome: audit.OK, Details: d, Remote: by.Remote})
		return err
	})
	if err == nil {
		s.Refresh()
	}
	return p, err
}

// DeletePolicy removes a scope's policy (it inherits again).
func (s *Service) DeletePolicy(ctx context.Context, by Actor, scope string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM record_policies WHERE scope = ?`, scope)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = s.audit.Append(ctx, tx, audit.Entry{ActorID: by.ID, Actor: by.Name, Org: by.Org, Action: "record.policy.delete",
			Object: scope, Outcome: audit.OK, Remote: by.Remote})
		return err
	})
	if err == nil {
		s.Refresh()
	}
	return err
}

// Lock is an evidence lock on a camera's range.
type Lock struct {
	ID         string    `json:"id"`
	CameraID   string    `json:"camera_id"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Reason     string    `json:"reason"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	ReleasedAt time.Time `json:"released_at,omitzero"`
	ReleasedBy string    `json:"released_by,omitempty"`
}

// AddLock locks [from, to) of a camera inside q (the export's transaction).
func AddLock(ctx context.Context, q store.Q, cameraID string, fromMS, toMS int64, reason, by string) (string, error) {
	id := newID()
	_, err := q.Exec(ctx, `INSERT INTO record_locks (id, camera_id, from_ms, to_ms, reason, created_by, created_at, released_at, released_by) VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')`,
		id, cameraID, fromMS, toMS, reason, by, store.NowMS())
	return id, err
}

// GetLock reads a lock.
func GetLock(ctx context.Context, q store.Q, id string) (Lock, error) {
	var l Lock
	var from, to, at, rel int64
	err := q.QueryRow(ctx, `SELECT id, camera_id, from_ms, to_ms, reason, created_by, created_at, released_at, released_by FROM record_locks WHERE id = ?`, id).
		Scan(&l.ID, &l.CameraID, &from, &to, &l.Reason, &l.CreatedBy, &at, &rel, &l.ReleasedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	l.From, l.To, l.CreatedAt, l.ReleasedAt = store.Time(from), store.Time(to), store.Time(at), store.Time(rel)
	return l, err
}

// ReleaseLock ends a lock inside q; the caller audits.
func ReleaseLock(ctx context.Context, q store.Q, id, by string) error {
	res, err := q.Exec(ctx, `UPDATE record_locks SET released_at = ?, released_by = ? WHERE id = ? AND released_at = 0`, store.NowMS(), by, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

type span struct{ from, to int64 }

func activeLocks(ctx context.Context, q store.Q, cameraID string) ([]span, error) {
	rows, err := q.Query(ctx, `SELECT from_ms, to_ms FROM record_locks WHERE camera_id = ? AND released_at = 0`, cameraID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []span
	for rows.Next() {
		var sp span
		if err := rows.Scan(&sp.from, &sp.to); err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

func lockedBy(locks []span, g SegmentRow) bool {
	for _, l := range locks {
		if g.StartMS < l.to && g.EndMS > l.from {
			return true
		}
	}
	return false
}
