package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Report is what a reconcile of index and disk found (and, with repair,
// fixed).
type ReconcileReport struct {
	At             time.Time `json:"at"`
	Repair         bool      `json:"repair"`
	Rows           int       `json:"rows_checked"`
	Files          int       `json:"files_seen"`
	Closed         int       `json:"open_rows_closed" doc:"rows left open by a crash, closed at the last whole fragment"`
	TruncatedBytes int64     `json:"truncated_bytes" doc:"partial last fragments cut off"`
	Missing        int       `json:"marked_missing" doc:"rows whose file is gone"`
	Recovered      int       `json:"recovered" doc:"files missing from the index, indexed again"`
	Removed        int       `json:"removed" doc:"empty segments and interrupted deletions finished"`
	Problems       []string  `json:"problems,omitempty"`
}

// OK reports whether nothing needed fixing.
func (r ReconcileReport) OK() bool {
	return r.Closed == 0 && r.TruncatedBytes == 0 && r.Missing == 0 && r.Recovered == 0 && r.Removed == 0 && len(r.Problems) == 0
}

func (r ReconcileReport) String() string {
	return fmt.Sprintf("rows=%d files=%d closed=%d truncated_bytes=%d missing=%d recovered=%d removed=%d problems=%d",
		r.Rows, r.Files, r.Closed, r.TruncatedBytes, r.Missing, r.Recovered, r.Removed, len(r.Problems))
}

// LastReport is the report of the last reconcile (at start).
func (s *Service) LastReport() *ReconcileReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCheck
}

// Reconcile compares the index with the storage folders. With repair it
// closes rows left open by a crash at their last whole fragment (cutting a
// partial tail), finishes interrupted deletions, marks rows whose file is
// gone as missing and indexes files the index lacks. Run it before Start.
func (s *Service) Reconcile(ctx context.Context, repair bool) (ReconcileReport, error) {
	rep := ReconcileReport{At: time.Now().UTC(), Repair: repair}
	for _, f := range s.opt.Folders {
		cams := map[string]bool{}
		rows, err := s.db.Q().Query(ctx, `SELECT DISTINCT camera_id FROM record_segments WHERE storage = ?`, f.Name)
		if err != nil {
			return rep, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return rep, err
			}
			cams[id] = true
		}
		rows.Close()
		if ents, err := os.ReadDir(f.Path); err == nil {
			for _, e := range ents {
				if e.IsDir() && validID(e.Name()) {
					cams[e.Name()] = true
				}
			}
		}
		ids := make([]string, 0, len(cams))
		for id := range cams {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, cam := range ids {
			if err := s.reconcileCamera(ctx, f, cam, repair, &rep); err != nil {
				return rep, err
			}
		}
	}
	if repair {
		if !rep.OK() {
			_, err := s.audit.Append(ctx, s.db.Q(), audit.Entry{ActorID: "system", Actor: "recorder", Action: "record.reconcile",
				Object: "node/" + s.opt.Node, Outcome: audit.OK, Details: map[string]any{
					"closed": rep.Closed, "truncated_bytes": rep.TruncatedBytes, "missing": rep.Missing,
					"recovered": rep.Recovered, "removed": rep.Removed, "problems": len(rep.Problems)}})
			if err != nil {
				return rep, err
			}
		}
		s.mu.Lock()
		s.lastCheck = &rep
		s.mu.Unlock()
	}
	return rep, nil
}

func (s *Service) reconcileCamera(ctx context.Context, f Folder, cam string, repair bool, rep *ReconcileReport) error {
	rows, err := s.db.Q().Query(ctx, `SELECT `+segCols+` FROM record_segments WHERE storage = ? AND camera_id = ?`, f.Name, cam)
	if err != nil {
		return err
	}
	segs, err := scanSegments(rows)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	var drop []SegmentRow
	for _, g := range segs {
		rep.Rows++
		known[filepath.ToSlash(g.Path)] = true
		p, err := JoinInside(f.Path, g.Path)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("segment %s: %v", g.ID, err))
			continue
		}
		switch g.State {
		case StateDeleting:
			rep.Removed++
			if repair {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				drop = append(drop, g)
			}
		case StateOpen, StateOK, StateMissing:
			st, err := os.Stat(p)
			if errors.Is(err, os.ErrNotExist) {
				if g.State != StateMissing {
					rep.Missing++
					if repair {
						if _, err := s.db.Q().Exec(ctx, `UPDATE record_segments SET state = 'missing', updated_at = ? WHERE id = ?`, store.NowMS(), g.ID); err != nil {
							return err
						}
					}
				}
				continue
			}
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("segment %s: %v", g.ID, err))
				continue
			}
			if g.State == StateMissing {
				// the file is back (a remounted disk): check it like an open row
				g.State = StateOpen
			}
			if g.State == StateOK && st.Size() == g.Bytes {
				continue
			}
			fi, err := scanPath(p)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("segment %s: %v", g.ID, err))
				continue
			}
			if fi.Frames == 0 {
				rep.Removed++
				if repair {
					_ = os.Remove(p)
					if _, err := s.db.Q().Exec(ctx, `DELETE FROM record_segments WHERE id = ?`, g.ID); err != nil {
						return err
					}
				}
				continue
			}
			rep.Closed++
			rep.TruncatedBytes += fi.Size - fi.Valid
			if repair {
				if fi.Valid < fi.Size {
					if err := os.Truncate(p, fi.Valid); err != nil {
						return err
					}
				}
				end := g.StartMS + int64(fi.Ticks*1000/uint64(fi.TimeScale))
				if _, err := s.db.Q().Exec(ctx, `UPDATE record_segments SET end_ms = ?, bytes = ?, frames = ?, state = 'ok', codec = ?, updated_at = ? WHERE id = ?`,
					end, fi.Valid, fi.Frames, fi.Codec, store.NowMS(), g.ID); err != nil {
					return err
				}
			}
		}
	}
	if len(drop) > 0 {
		if _, err := s.dropRows(ctx, drop, "retention"); err != nil {
			return err
		}
	}
	// Files the index lacks.
	root := filepath.Join(f.Path, cam)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".mp4") {
			return nil
		}
		rep.Files++
		rel, err := filepath.Rel(f.Path, p)
		if err != nil {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if known[rel] {
			return nil
		}
		parts := strings.Split(rel, "/")
		start, perr := strconv.ParseInt(strings.TrimSuffix(parts[len(parts)-1], ".mp4"), 10, 64)
		if len(parts) != 4 || perr != nil || parts[0] != cam {
			rep.Problems = append(rep.Problems, fmt.Sprintf("file %s: not a segment path", rel))
			return nil
		}
		fi, err := scanPath(p)
		if err != nil && headerOnly(p) {
			// Killed while the header was being written: the file never
			// held a fragment, so there is no footage to keep.
			rep.Removed++
			if repair {
				_ = os.Remove(p)
			}
			return nil
		}
		if err != nil {
			// A broken header with fragments after it is kept for a person
			// to look at, never deleted.
			rep.Problems = append(rep.Problems, fmt.Sprintf("file %s: unreadable segment: %v", rel, err))
			return nil
		}
		if fi.Frames == 0 {
			// A crash right after a segment was opened leaves its header and
			// no fragment: there is no footage in it to recover.
			rep.Removed++
			if repair {
				_ = os.Remove(p)
			}
			return nil
		}
		rep.Recovered++
		rep.TruncatedBytes += fi.Size - fi.Valid
		if !repair {
			return nil
		}
		if fi.Valid < fi.Size {
			if err := os.Truncate(p, fi.Valid); err != nil {
				return err
			}
		}
		return insertSegment(ctx, s.db.Q(), SegmentRow{ID: newID(), CameraID: cam, Variant: parts[1], StartMS: start,
			EndMS: start + int64(fi.Ticks*1000/uint64(fi.TimeScale)), Bytes: fi.Valid, Frames: int64(fi.Frames), Storage: f.Name,
			Path: rel, Codec: fi.Codec, State: StateOK, StartReason: "recovered", Node: s.opt.Node})
	})
	return err
}

// headerOnly reports whether a file is no larger than an init section and
// holds no fragment ("moof"): what a crash leaves when it strikes as a
// segment is being opened.
func headerOnly(p string) bool {
	data, err := os.ReadFile(p)
	if err != nil || int64(len(data)) > maxInitSize {
		return false
	}
	return !bytes.Contains(data, []byte("moof"))
}

func scanPath(p string) (*FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return ScanFile(f, st.Size())
}

// ScanPath scans a segment file on disk.
func ScanPath(p string) (*FileInfo, error) { return scanPath(p) }
