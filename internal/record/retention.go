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
			// Just enough of the oldest footage to get back under the mark,
			// measured again after each pass (a file frees its blocks, not
			// always exactly its bytes).
			for i := 0; i < 1000 && above; i++ {
				d, n, err := s.deleteOldest(ctx, f)
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

// overMark is how many bytes must go for a folder to be under its
// high-water mark.
func (s *Service) overMark(f Folder) (int64, error) {
	used, total, err := s.opt.DiskUsage(f.Path)
	if err != nil {
		return 0, err
	}
	mark := total * uint64(s.opt.HighWater) / 100
	if used < mark {
		return 0, nil
	}
	return int64(used-mark) + 1, nil
}

// deleteOldest deletes a folder's oldest unlocked closed segments, just as
// many as hold the bytes above its high-water mark (at least one). Footage
// younger than its camera's retention is deleted under its own reason,
// disk_guard_early, and reported (OnEarlyDelete) for an incident.
func (s *Service) deleteOldest(ctx context.Context, f Folder) ([]Deletion, int, error) {
	need, err := s.overMark(f)
	if err != nil || need == 0 {
		return nil, 0, err
	}
	pols, err := s.loadPolicies(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := time.Now()
	locks := map[string][]span{}
	keep := map[string]int{} // camera → retention days
	var del, early []SegmentRow
	var sum int64
	const page = 200
	for off := 0; sum < need; off += page {
		rows, err := s.db.Q().Query(ctx, `SELECT `+segCols+` FROM record_segments WHERE storage = ? AND state IN ('ok', 'missing') ORDER BY start_ms, id LIMIT ? OFFSET ?`, f.Name, page, off)
		if err != nil {
			return nil, 0, err
		}
		segs, err := scanSegments(rows)
		if err != nil {
			return nil, 0, err
		}
		for _, g := range segs {
			l, ok := locks[g.CameraID]
			if !ok {
				if l, err = activeLocks(ctx, s.db.Q(), g.CameraID); err != nil {
					return nil, 0, err
				}
				locks[g.CameraID] = l
				keep[g.CameraID] = s.effective(ctx, pols, g.CameraID).RetentionDays
			}
			if lockedBy(l, g) {
				continue
			}
			if g.EndMS > now.Add(-time.Duration(keep[g.CameraID])*24*time.Hour).UnixMilli() {
				early = append(early, g)
			} else {
				del = append(del, g)
			}
			if g.State == StateOK {
				sum += g.Bytes
			}
			if sum >= need {
				break
			}
		}
		if len(segs) < page {
			break
		}
	}
	var out []Deletion
	if len(del) > 0 {
		d, err := s.deleteSegments(ctx, del, "disk_guard")
		if err != nil {
			return nil, 0, err
		}
		out = append(out, d...)
	}
	if len(early) > 0 {
		d, err := s.deleteSegments(ctx, early, "disk_guard_early")
		if err != nil {
			return out, 0, err
		}
		for _, e := range d {
			s.log.Error("record: footage younger than its retention deleted to free the disk", "camera", e.CameraID,
				"from", time.UnixMilli(e.FromMS).UTC(), "to", time.UnixMilli(e.ToMS).UTC(), "segments", e.Segments, "retention_days", keep[e.CameraID])
			if s.opt.OnEarlyDelete != nil {
				s.opt.OnEarlyDelete(e, keep[e.CameraID])
			}
		}
		out = append(out, d...)
	}
	return out, len(del) + len(early), nil
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
