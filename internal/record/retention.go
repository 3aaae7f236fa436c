package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Deletion is one camera's deleted range, as audited.
type Deletion struct {
	CameraID string `json:"camera_id"`
	FromMS   int64  `json:"from_ms"`
	ToMS     int64  `json:"to_ms"`
	Segments int    `json:"segments"`
	Bytes    int64  `json:"bytes"`
	Reason   string `json:"reason"` // retention, disk_guard
}

// SweepReport is what one retention + disk guard pass did.
type SweepReport struct {
	Deleted []Deletion `json:"deleted"`
	Full    []string   `json:"full,omitempty"` // folders still above high water
	Locked  int        `json:"locked_kept"`    // expired segments kept for a lock
}

func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.opt.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sweepNow:
		}
		if _, err := s.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("record: sweep failed", "err", err)
		}
	}
}

// Sweep deletes expired footage (never a locked range), then, for each
// folder still above its high-water mark, follows the disk-full policy.
func (s *Service) Sweep(ctx context.Context, now time.Time) (SweepReport, error) {
	var rep SweepReport
	pols, err := s.loadPolicies(ctx)
	if err != nil {
		return rep, err
	}
	cams, err := s.recordedCameras(ctx)
	if err != nil {
		return rep, err
	}
	for _, cam := range cams {
		e := s.effective(ctx, pols, cam)
		cutoff := now.Add(-time.Duration(e.RetentionDays) * 24 * time.Hour).UnixMilli()
		for {
			rows, err := s.db.Q().Query(ctx, `SELECT `+segCols+` FROM record_segments WHERE camera_id = ? AND end_ms <= ? AND state IN ('ok', 'missing') ORDER BY start_ms LIMIT 500`, cam, cutoff)
			if err != nil {
				return rep, err
			}
			segs, err := scanSegments(rows)
			if err != nil {
				return rep, err
			}
			locks, err := activeLocks(ctx, s.db.Q(), cam)
			if err != nil {
				return rep, err
			}
			var del []SegmentRow
			for _, g := range segs {
				if lockedBy(locks, g) {
					rep.Locked++
					continue
				}
				del = append(del, g)
			}
			if len(del) > 0 {
				d, err := s.deleteSegments(ctx, del, "retention")
				if err != nil {
					return rep, err
				}
				rep.Deleted = append(rep.Deleted, d...)
			}
			if len(segs) < 500 || len(del) == 0 {
				break
			}
		}
	}
	full, dels, err := s.guardDisks(ctx)
	rep.Full = full
	rep.Deleted = append(rep.Deleted, dels...)
	return rep, err
}

func (s *Service) recordedCameras(ctx context.Context) ([]string, error) {
	rows, err := s.db.Q().Query(ctx, `SELECT DISTINCT camera_id FROM record_segments`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (s *Service) aboveHigh(f Folder) (bool, error) {
	used, total, err := s.opt.DiskUsage(f.Path)
	if err != nil {
		return false, err
	}
	return total > 0 && used*100 >= uint64(s.opt.HighWater)*total, nil
}

// guardDisks acts on folders above high water once expired footage is gone.
func (s *Service) guardDisks(ctx context.Context) ([]string, []Deletion, error) {
	var full []string
	var dels []Deletion
	for _, f := range s.opt.Folders {
		above, err := s.aboveHigh(f)
		if err != nil {
			s.log.Warn("record: disk usage unknown", "folder", f.Name, "err", err)
			continue
		}
		if above && s.opt.DiskFullPolicy == "delete_oldest" {
			for i := 0; i < 100 && above; i++ {
				d, n, err := s.deleteOldest(ctx, f, 20)
				if err != nil {
					return full, dels, err
				}
				dels = append(dels, d...)
				if n == 0 {
					break
				}
				if above, err = s.aboveHigh(f); err != nil {
					break
				}
			}
		}
		s.mu.Lock()
		was := s.full[f.Name]
		s.full[f.Name] = above
		s.mu.Unlock()
		if !above {
			if was && s.opt.OnStorage != nil {
				s.opt.OnStorage(f.Name, false, fmt.Sprintf("storage folder %s is below %d%% again", f.Name, s.opt.HighWater))
			}
			continue
		}
		full = append(full, f.Name)
		if !was {
			msg := fmt.Sprintf("storage folder %s is above %d%% after deleting expired footage; policy %s", f.Name, s.opt.HighWater, s.opt.DiskFullPolicy)
			s.log.Error("record: DISK FULL (critical)", "folder", f.Name, "high_water", s.opt.HighWater, "policy", s.opt.DiskFullPolicy)
			_, _ = s.audit.Append(ctx, s.db.Q(), audit.Entry{ActorID: "system", Actor: "recorder", Action: "record.disk_full",
				Object: "storage/" + f.Name, Outcome: audit.Failed, Reason: "high_water",
				Details: map[string]any{"high_water": s.opt.HighWater, "policy": s.opt.DiskFullPolicy}})
			if s.opt.OnAlert != nil {
				s.opt.OnAlert("disk_full", msg)
			}
			if s.opt.OnStorage != nil {
				s.opt.OnStorage(f.Name, true, msg)
			}
		}
	}
	return full, dels, nil
}

// deleteOldest deletes up to n of a folder's oldest unlocked closed segments.
func (s *Service) deleteOldest(ctx context.Context, f Folder, n int) ([]Deletion, int, error) {
	rows, err := s.db.Q().Query(ctx, `SELECT `+segCols+` FROM record_segments WHERE storage = ? AND state IN ('ok', 'missing') ORDER BY start_ms LIMIT ?`, f.Name, n*5)
	if err != nil {
		return nil, 0, err
	}
	segs, err := scanSegments(rows)
	if err != nil {
		return nil, 0, err
	}
	locks := map[string][]span{}
	var del []SegmentRow
	for _, g := range segs {
		l, ok := locks[g.CameraID]
		if !ok {
			if l, err = activeLocks(ctx, s.db.Q(), g.CameraID); err != nil {
				return nil, 0, err
			}
			locks[g.CameraID] = l
		}
		if !lockedBy(l, g) {
			del = append(del, g)
			if len(del) == n {
				break
			}
		}
	}
	if len(del) == 0 {
		return nil, 0, nil
	}
	d, err := s.deleteSegments(ctx, del, "disk_guard")
	return d, len(del), err
}

// deleteSegments marks rows deleting, removes the files, then deletes the
// rows with one aggregated audit entry per camera in the same transaction.
// A crash in between leaves 'deleting' rows that Reconcile finishes.
func (s *Service) deleteSegments(ctx context.Context, segs []SegmentRow, reason string) ([]Deletion, error) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, g := range segs {
			if _, err := tx.Exec(ctx, `UPDATE record_segments SET state = 'deleting', updated_at = ? WHERE id = ?`, store.NowMS(), g.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, g := range segs {
		p, err := s.SegmentPath(g.Storage, g.Path)
		if err != nil {
			s.log.Error("record: refusing to delete outside storage", "segment", g.ID, "err", err)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return s.dropRows(ctx, segs, reason)
}

func (s *Service) dropRows(ctx context.Context, segs []SegmentRow, reason string) ([]Deletion, error) {
	by := map[string]*Deletion{}
	for _, g := range segs {
		d := by[g.CameraID]
		if d == nil {
			d = &Deletion{CameraID: g.CameraID, FromMS: g.StartMS, ToMS: g.EndMS, Reason: reason}
			by[g.CameraID] = d
		}
		d.FromMS, d.ToMS = min(d.FromMS, g.StartMS), max(d.ToMS, g.EndMS)
		d.Segments++
		d.Bytes += g.Bytes
	}
	out := make([]Deletion, 0, len(by))
	for _, d := range by {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CameraID < out[j].CameraID })
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, g := range segs {
			if _, err := tx.Exec(ctx, `DELETE FROM record_segments WHERE id = ?`, g.ID); err != nil {
				return err
			}
		}
		for _, d := range out {
			if _, err := s.audit.Append(ctx, tx, audit.Entry{ActorID: "system", Actor: "recorder", Action: "record.delete",
				Object: "camera/" + d.CameraID, Outcome: audit.OK, Reason: reason,
				Details: map[string]any{"from": time.UnixMilli(d.FromMS).UTC().Format(time.RFC3339Nano), "to": time.UnixMilli(d.ToMS).UTC().Format(time.RFC3339Nano),
					"segments": d.Segments, "bytes": d.Bytes}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range out {
		s.m.deleted.WithLabelValues(reason).Add(float64(d.Bytes))
	}
	return out, nil
}
