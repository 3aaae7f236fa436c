package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/media"
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
	Corrected      int       `json:"corrected" doc:"closed rows whose span, bytes or frames did not match their file"`
	Damaged        int       `json:"damaged" doc:"segments with a torn fragment or a hole inside, cut at their last whole fragment"`
	Split          int       `json:"split" doc:"segments made of the whole fragments found after damage"`
	Lost           []Lost    `json:"lost,omitempty" doc:"footage the index claimed that is not in the files"`
	Problems       []string  `json:"problems,omitempty"`
}

// Lost is a stretch of a camera's footage the index claimed and the file
// does not hold.
type Lost struct {
	CameraID  string `json:"camera_id"`
	SegmentID string `json:"segment_id"`
	FromMS    int64  `json:"from_ms"`
	ToMS      int64  `json:"to_ms"`
}

// OK reports whether nothing needed fixing.
func (r ReconcileReport) OK() bool {
	return r.Closed == 0 && r.TruncatedBytes == 0 && r.Missing == 0 && r.Recovered == 0 && r.Removed == 0 &&
		r.Corrected == 0 && r.Damaged == 0 && r.Split == 0 && len(r.Lost) == 0 && len(r.Problems) == 0
}

func (r ReconcileReport) String() string {
	return fmt.Sprintf("rows=%d files=%d closed=%d corrected=%d damaged=%d split=%d lost=%d truncated_bytes=%d missing=%d recovered=%d removed=%d problems=%d",
		r.Rows, r.Files, r.Closed, r.Corrected, r.Damaged, r.Split, len(r.Lost), r.TruncatedBytes, r.Missing, r.Recovered, r.Removed, len(r.Problems))
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
// gone as missing and indexes files the index lacks. Closed rows are read
// only when their file's size differs from the index (it is quick, for the
// start); Check reads them all. Run it before Start.
func (s *Service) Reconcile(ctx context.Context, repair bool) (ReconcileReport, error) {
	return s.reconcile(ctx, repair, false)
}

// Check is Reconcile reading every segment file: each one's box chain is
// verified against its row, damage inside a file (a torn fragment with
// whole ones after it, a hole in decode time) is found, and with repair cut
// out: the file keeps its fragments up to the damage, the whole fragments
// after it become segments of their own at their own time, and the report
// lists the footage lost. `vigil record check` runs it.
func (s *Service) Check(ctx context.Context, repair bool) (ReconcileReport, error) {
	return s.reconcile(ctx, repair, true)
}

func (s *Service) reconcile(ctx context.Context, repair, deep bool) (ReconcileReport, error) {
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
			if err := s.reconcileCamera(ctx, f, cam, repair, deep, &rep); err != nil {
				return rep, err
			}
		}
	}
	if repair {
		if !rep.OK() {
			_, err := s.audit.Append(ctx, s.db.Q(), audit.Entry{ActorID: "system", Actor: "recorder", Action: "record.reconcile",
				Object: "node/" + s.opt.Node, Outcome: audit.OK, Details: map[string]any{
					"closed": rep.Closed, "truncated_bytes": rep.TruncatedBytes, "missing": rep.Missing,
					"recovered": rep.Recovered, "removed": rep.Removed, "problems": len(rep.Problems),
					"corrected": rep.Corrected, "damaged": rep.Damaged, "split": rep.Split, "lost": rep.Lost}})
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

func (s *Service) reconcileCamera(ctx context.Context, f Folder, cam string, repair, deep bool, rep *ReconcileReport) error {
	rows, err := s.db.Q().Query(ctx, `SELECT `+segCols+` FROM record_segments WHERE storage = ? AND camera_id = ?`, f.Name, cam)
	if err != nil {
		return err
	}
	segs, err := scanSegments(rows)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, g := range segs {
		known[filepath.ToSlash(g.Path)] = true
	}
	var drop []SegmentRow
	for _, g := range segs {
		rep.Rows++
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
			if g.State == StateOK && st.Size() == g.Bytes && !deep {
				continue
			}
			sc, err := scanRunsPath(p)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("segment %s: %v", g.ID, err))
				continue
			}
			if sc.Frames == 0 {
				rep.Removed++
				if repair {
					_ = os.Remove(p)
					if _, err := s.db.Q().Exec(ctx, `DELETE FROM record_segments WHERE id = ?`, g.ID); err != nil {
						return err
					}
				}
				continue
			}
			if err := s.checkSegment(ctx, f, g, p, sc, repair, known, rep); err != nil {
				return err
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
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".mp4.tmp") {
			// A repair interrupted while writing a segment of its own: the
			// fragments are still in the file it was copying them from.
			rep.Removed++
			if repair {
				_ = os.Remove(p)
			}
			return nil
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
		sc, err := scanRunsPath(p)
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
		if sc.Frames == 0 {
			// A crash right after a segment was opened leaves its header and
			// no fragment: there is no footage in it to recover.
			rep.Removed++
			if repair {
				_ = os.Remove(p)
			}
			return nil
		}
		rep.Recovered++
		g := SegmentRow{ID: newID(), CameraID: cam, Variant: parts[1], StartMS: start, EndMS: start, Storage: f.Name,
			Path: rel, Codec: sc.Codec, State: StateOpen, StartReason: "recovered", Node: s.opt.Node}
		if repair {
			if err := insertSegment(ctx, s.db.Q(), g); err != nil {
				return err
			}
		}
		// Indexed as a row left open: closed at its last whole fragment,
		// damage inside it cut out like any other's.
		var sub ReconcileReport
		err = s.checkSegment(ctx, f, g, p, sc, repair, known, &sub)
		rep.TruncatedBytes += sub.TruncatedBytes
		rep.Split += sub.Split
		rep.Lost = append(rep.Lost, sub.Lost...)
		return err
	})
	return err
}

// checkSegment compares a row with the damage-aware scan of its file and,
// with repair, makes the index and the file agree: a clean file's row takes
// its span, bytes and frames; a damaged file keeps its first unbroken run,
// and every later run becomes a segment of its own at its own time. Every
// stretch the row claimed that no run holds is reported lost.
func (s *Service) checkSegment(ctx context.Context, f Folder, g SegmentRow, p string, sc *Scan, repair bool, known map[string]bool, rep *ReconcileReport) error {
	ts := int64(sc.TimeScale)
	at := func(t uint64) int64 { return g.StartMS + int64(t)*1000/ts }
	frames := func(sp Span) (n int64) {
		for i := sp.First; i <= sp.Last; i++ {
			n += int64(len(sc.Frags[i].Samples))
		}
		return n
	}
	lost := func(from, to int64) {
		if to > from {
			rep.Lost = append(rep.Lost, Lost{CameraID: g.CameraID, SegmentID: g.ID, FromMS: from, ToMS: to})
		}
	}
	if sc.Clean() {
		end := at(sc.Ticks)
		if g.State == StateOK && g.EndMS == end && g.Bytes == sc.Valid && g.Frames == int64(sc.Frames) {
			return nil
		}
		if g.State == StateOK {
			rep.Corrected++
			lost(end, g.EndMS)
		} else {
			rep.Closed++
		}
		if !repair {
			return nil
		}
		_, err := s.db.Q().Exec(ctx, `UPDATE record_segments SET end_ms = ?, bytes = ?, frames = ?, state = 'ok', codec = ?, updated_at = ? WHERE id = ?`,
			end, sc.Valid, sc.Frames, sc.Codec, store.NowMS(), g.ID)
		return err
	}
	if g.State == StateOK {
		rep.Damaged++
	} else {
		rep.Closed++
	}
	rep.TruncatedBytes += sc.Size - sc.Valid + sc.DamagedBytes
	prev := g.StartMS
	for _, sp := range sc.Runs {
		lost(prev, at(sc.spanStart(sp)))
		prev = at(sc.spanEnd(sp))
	}
	if g.State == StateOK {
		lost(prev, g.EndMS)
	}
	keep := sc.Runs[0]
	keepFirst := sc.spanStart(keep) == 0
	var split []Span
	for i, sp := range sc.Runs {
		if i > 0 || !keepFirst {
			split = append(split, sp)
		}
	}
	rep.Split += len(split)
	if !repair {
		return nil
	}
	// The later runs are copied out first, so a crash in between leaves
	// them in both places, never in neither.
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	for _, sp := range split {
		start := at(sc.spanStart(sp))
		rel := relPath(g.CameraID, media.Variant(g.Variant), start)
		if known[rel] {
			continue // copied out by an earlier, interrupted repair
		}
		dst, err := JoinInside(f.Path, rel)
		if err != nil {
			return err
		}
		n, err := writeSpanFile(src, sc, sp, dst)
		if err != nil {
			return fmt.Errorf("record: repair of segment %s: %w", g.ID, err)
		}
		if err := insertSegment(ctx, s.db.Q(), SegmentRow{ID: newID(), CameraID: g.CameraID, Variant: g.Variant, StartMS: start,
			EndMS: at(sc.spanEnd(sp)), Bytes: n, Frames: frames(sp), Storage: f.Name, Path: rel, Codec: sc.Codec,
			State: StateOK, StartReason: "repaired", Node: g.Node}); err != nil {
			return err
		}
		known[rel] = true
	}
	if !keepFirst {
		if err := os.Remove(p); err != nil {
			return err
		}
		_, err := s.db.Q().Exec(ctx, `DELETE FROM record_segments WHERE id = ?`, g.ID)
		return err
	}
	last := sc.Frags[keep.Last]
	if err := os.Truncate(p, last.Offset+last.Size); err != nil {
		return err
	}
	_, err = s.db.Q().Exec(ctx, `UPDATE record_segments SET end_ms = ?, bytes = ?, frames = ?, state = 'ok', codec = ?, updated_at = ? WHERE id = ?`,
		at(sc.spanEnd(keep)), last.Offset+last.Size, frames(keep), sc.Codec, store.NowMS(), g.ID)
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

func scanPath(p string) (*FileInfo, error) { return scanFileAt(p, ScanFile) }

func scanRunsPath(p string) (*Scan, error) { return scanFileAt(p, ScanRuns) }

// scanFileAt opens a file and scans it with scan.
func scanFileAt[T any](p string, scan func(io.ReaderAt, int64) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(p)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return zero, err
	}
	return scan(f, st.Size())
}

// ScanPath scans a segment file on disk.
func ScanPath(p string) (*FileInfo, error) { return scanPath(p) }
