package ops

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store"
)

// Asset is a piece of equipment (R-OPS-3): model, serial, firmware, QCVN
// 135:2024 certificate, warranty, costs (whole VND) and replacement date.
type Asset struct {
	ID           string    `json:"id"`
	SystemID     string    `json:"system_id"`
	CameraID     string    `json:"camera_id,omitempty"`
	PoleID       string    `json:"pole_id,omitempty"`
	Model        string    `json:"model"`
	Serial       string    `json:"serial,omitempty"`
	Firmware     string    `json:"firmware,omitempty"`
	QCVNCert     string    `json:"qcvn_cert,omitempty" doc:"QCVN 135:2024 certificate number"`
	PurchaseCost int64     `json:"purchase_cost" doc:"VND"`
	YearlyOpCost int64     `json:"yearly_op_cost" doc:"VND per year (power, link, licences)"`
	InstalledAt  time.Time `json:"installed_at,omitzero"`
	WarrantyEnd  time.Time `json:"warranty_end,omitzero"`
	ReplaceDue   time.Time `json:"replace_due,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
}

// CreateAsset records an asset.
func (s *Service) CreateAsset(ctx context.Context, a Actor, in Asset) (Asset, error) {
	in.Model = strings.TrimSpace(in.Model)
	switch {
	case in.Model == "":
		return in, inputErr("model", "required", "must not be empty")
	case in.PurchaseCost < 0:
		return in, inputErr("purchase_cost", "out_of_range", "must not be negative")
	case in.YearlyOpCost < 0:
		return in, inputErr("yearly_op_cost", "out_of_range", "must not be negative")
	case !in.WarrantyEnd.IsZero() && !in.InstalledAt.IsZero() && in.WarrantyEnd.Before(in.InstalledAt):
		return in, inputErr("warranty_end", "invalid_date", "must not be before installed_at")
	case !in.ReplaceDue.IsZero() && !in.InstalledAt.IsZero() && in.ReplaceDue.Before(in.InstalledAt):
		return in, inputErr("replace_due", "invalid_date", "must not be before installed_at")
	}
	in.ID, in.CreatedAt = newID("ast-"), s.now()
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := mustExist(ctx, tx, "systems", in.SystemID, "system_id"); err != nil {
			return err
		}
		if in.CameraID != "" {
			if err := mustExist(ctx, tx, "cameras", in.CameraID, "camera_id"); err != nil {
				return err
			}
		}
		if in.PoleID != "" {
			if err := mustExist(ctx, tx, "poles", in.PoleID, "pole_id"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO assets (id, system_id, camera_id, pole_id, model, serial, firmware, qcvn_cert, purchase_cost,
			yearly_op_cost, installed_at, warranty_end, replace_due, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.ID, in.SystemID, in.CameraID, in.PoleID, in.Model, in.Serial, in.Firmware, in.QCVNCert, in.PurchaseCost, in.YearlyOpCost,
			store.MS(in.InstalledAt), store.MS(in.WarrantyEnd), store.MS(in.ReplaceDue), store.MS(in.CreatedAt)); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "asset.create", "asset/"+in.ID, map[string]any{"system": in.SystemID, "model": in.Model, "serial": in.Serial})
	})
	return in, err
}

func mustExist(ctx context.Context, q store.Q, table, id, field string) error {
	var n int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return inputErr(field, "unknown", "no such "+strings.TrimSuffix(table, "s"))
	}
	return nil
}

// Assets lists assets (systemID "": all).
func (s *Service) Assets(ctx context.Context, systemID string) ([]Asset, error) {
	q := `SELECT id, system_id, camera_id, pole_id, model, serial, firmware, qcvn_cert, purchase_cost, yearly_op_cost, installed_at,
		warranty_end, replace_due, created_at FROM assets`
	var args []any
	if systemID != "" {
		q += ` WHERE system_id = ?`
		args = append(args, systemID)
	}
	rows, err := s.opt.DB.Q().Query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Asset{}
	for rows.Next() {
		var x Asset
		var inst, war, rep, cr int64
		if err := rows.Scan(&x.ID, &x.SystemID, &x.CameraID, &x.PoleID, &x.Model, &x.Serial, &x.Firmware, &x.QCVNCert, &x.PurchaseCost,
			&x.YearlyOpCost, &inst, &war, &rep, &cr); err != nil {
			return nil, err
		}
		x.InstalledAt, x.WarrantyEnd, x.ReplaceDue, x.CreatedAt = store.Time(inst), store.Time(war), store.Time(rep), store.Time(cr)
		out = append(out, x)
	}
	return out, rows.Err()
}

// MaintenancePlan is periodic maintenance of an asset or a whole system.
type MaintenancePlan struct {
	ID           string    `json:"id"`
	SystemID     string    `json:"system_id"`
	AssetID      string    `json:"asset_id,omitempty"`
	Title        string    `json:"title"`
	EveryDays    int       `json:"every_days"`
	NextDue      time.Time `json:"next_due"`
	CostEstimate int64     `json:"cost_estimate" doc:"VND per occurrence"`
	Overdue      bool      `json:"overdue"`
	CreatedAt    time.Time `json:"created_at"`
}

// CreatePlan records a maintenance plan.
func (s *Service) CreatePlan(ctx context.Context, a Actor, p MaintenancePlan) (MaintenancePlan, error) {
	p.Title = strings.TrimSpace(p.Title)
	switch {
	case p.Title == "":
		return p, inputErr("title", "required", "must not be empty")
	case p.EveryDays < 1 || p.EveryDays > 3650:
		return p, inputErr("every_days", "out_of_range", "must be 1–3650")
	case p.NextDue.IsZero():
		return p, inputErr("next_due", "required", "the first due date is required")
	case p.CostEstimate < 0:
		return p, inputErr("cost_estimate", "out_of_range", "must not be negative")
	}
	p.ID, p.CreatedAt = newID("mp-"), s.now()
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := mustExist(ctx, tx, "systems", p.SystemID, "system_id"); err != nil {
			return err
		}
		if p.AssetID != "" {
			if err := mustExist(ctx, tx, "assets", p.AssetID, "asset_id"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO maintenance_plans (id, system_id, asset_id, title, every_days, next_due, cost_estimate, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, p.SystemID, p.AssetID, p.Title, p.EveryDays, store.MS(p.NextDue), p.CostEstimate, store.MS(p.CreatedAt)); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "maintenance.plan", "plan/"+p.ID, map[string]any{"system": p.SystemID, "asset": p.AssetID, "every_days": p.EveryDays})
	})
	p.Overdue = s.now().After(p.NextDue)
	return p, err
}

// Plans lists plans; overdueOnly keeps those past their due date.
func (s *Service) Plans(ctx context.Context, overdueOnly bool) ([]MaintenancePlan, error) {
	q := `SELECT id, system_id, asset_id, title, every_days, next_due, cost_estimate, created_at FROM maintenance_plans`
	var args []any
	now := s.now()
	if overdueOnly {
		q += ` WHERE next_due < ?`
		args = append(args, store.MS(now))
	}
	rows, err := s.opt.DB.Q().Query(ctx, q+` ORDER BY next_due, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []MaintenancePlan{}
	for rows.Next() {
		var p MaintenancePlan
		var due, cr int64
		if err := rows.Scan(&p.ID, &p.SystemID, &p.AssetID, &p.Title, &p.EveryDays, &due, &p.CostEstimate, &cr); err != nil {
			return nil, err
		}
		p.NextDue, p.CreatedAt = store.Time(due), store.Time(cr)
		p.Overdue = now.After(p.NextDue)
		out = append(out, p)
	}
	return out, rows.Err()
}

// MaintenanceRecord is maintenance work done.
type MaintenanceRecord struct {
	ID       string    `json:"id"`
	PlanID   string    `json:"plan_id,omitempty"`
	SystemID string    `json:"system_id"`
	AssetID  string    `json:"asset_id,omitempty"`
	DoneAt   time.Time `json:"done_at"`
	DoneBy   string    `json:"done_by"`
	Cost     int64     `json:"cost" doc:"VND"`
	Notes    string    `json:"notes,omitempty"`
}

// RecordWork records work done; with a plan, the plan's next due date moves
// to done_at + every_days.
func (s *Service) RecordWork(ctx context.Context, a Actor, r MaintenanceRecord) (MaintenanceRecord, error) {
	now := s.now()
	switch {
	case r.DoneAt.IsZero():
		return r, inputErr("done_at", "required", "when was the work done")
	case r.DoneAt.After(now.Add(time.Hour)):
		return r, inputErr("done_at", "invalid_date", "must not be in the future")
	case r.Cost < 0:
		return r, inputErr("cost", "out_of_range", "must not be negative")
	}
	r.ID, r.DoneBy = newID("mr-"), a.Name
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		if r.PlanID != "" {
			var sys, asset string
			var every int
			err := tx.QueryRow(ctx, `SELECT system_id, asset_id, every_days FROM maintenance_plans WHERE id = ?`, r.PlanID).Scan(&sys, &asset, &every)
			if errors.Is(err, sql.ErrNoRows) {
				return inputErr("plan_id", "unknown", "no such plan")
			}
			if err != nil {
				return err
			}
			if r.SystemID == "" {
				r.SystemID = sys
			}
			if r.SystemID != sys {
				return inputErr("system_id", "mismatch", "the plan belongs to system "+sys)
			}
			if r.AssetID == "" {
				r.AssetID = asset
			}
			next := r.DoneAt.Add(time.Duration(every) * 24 * time.Hour)
			if _, err := tx.Exec(ctx, `UPDATE maintenance_plans SET next_due = ? WHERE id = ?`, store.MS(next), r.PlanID); err != nil {
				return err
			}
		}
		if err := mustExist(ctx, tx, "systems", r.SystemID, "system_id"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO maintenance_records (id, plan_id, system_id, asset_id, done_at, done_by, cost, notes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.PlanID, r.SystemID, r.AssetID, store.MS(r.DoneAt), r.DoneBy, r.Cost, r.Notes, store.MS(now)); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "maintenance.record", "maintenance/"+r.ID, map[string]any{"plan": r.PlanID, "system": r.SystemID, "cost": r.Cost})
	})
	return r, err
}

// Records lists work done in [from, to).
func (s *Service) Records(ctx context.Context, from, to time.Time) ([]MaintenanceRecord, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT id, plan_id, system_id, asset_id, done_at, done_by, cost, notes FROM maintenance_records
		WHERE done_at >= ? AND done_at < ? ORDER BY done_at, id`, store.MS(from), store.MS(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []MaintenanceRecord{}
	for rows.Next() {
		var r MaintenanceRecord
		var at int64
		if err := rows.Scan(&r.ID, &r.PlanID, &r.SystemID, &r.AssetID, &at, &r.DoneBy, &r.Cost, &r.Notes); err != nil {
			return nil, err
		}
		r.DoneAt = store.Time(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

var _ = health.ErrNotFound
