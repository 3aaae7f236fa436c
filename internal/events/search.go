package events

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Plate search modes.
const (
	PlateExact       = "exact"
	PlatePrefix      = "prefix"
	PlateFuzzy       = "fuzzy"        // same plate up to OCR confusions
	PlateFuzzyPrefix = "fuzzy_prefix" // prefix, up to OCR confusions
)

// ErrPersonalForbidden: a plate search without the plates permission.
var ErrPersonalForbidden = errors.New("events: personal data permission required")

// Query selects events. ScopeWhere/ScopeArgs are an access.Scope fragment
// over access.ScopeFrom (cameras c, systems s, organisations mo); it is
// required, so a forgotten scope cannot list every camera's events.
type Query struct {
	ScopeWhere string
	ScopeArgs  []any
	CameraIDs  []string
	Kinds      []string
	From, To   time.Time
	Plate      string
	PlateMode  string
	// Personal is what personal data the caller may see (access.DecidePersonal).
	Personal access.PersonalData
	Limit    int
	// Before is the cursor: the id of the last event of the previous page.
	Before string
}

// Result is a page of events, newest first.
type Result struct {
	Events []EventView `json:"events"`
	// Next is the cursor for the following page ("" at the end).
	Next string `json:"next,omitempty"`
}

// EventView is an event as the API returns it: with the video around it
// and a note when personal data was withheld.
type EventView struct {
	Event
	Video    VideoLink `json:"video"`
	Redacted bool      `json:"redacted,omitempty" doc:"plate and snapshot withheld: no personal-data permission"`
}

// VideoLink points at the recorded video around an event (the playback
// room serves it).
type VideoLink struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	PlaybackURL string    `json:"playback_url"`
	TimelineURL string    `json:"timeline_url"`
}

// Video window around an event.
const (
	VideoBefore = 10 * time.Second
	VideoAfter  = 20 * time.Second
)

// LinkFor is the video link of an event.
func LinkFor(cameraID string, at time.Time) VideoLink {
	from, to := at.Add(-VideoBefore), at.Add(VideoAfter)
	q := fmt.Sprintf("from=%d&to=%d", from.UnixMilli(), to.UnixMilli())
	return VideoLink{From: from, To: to,
		PlaybackURL: "/api/v1/cameras/" + url.PathEscape(cameraID) + "/playback.m3u8?" + q,
		TimelineURL: "/api/v1/recordings/timeline?camera_ids=" + url.QueryEscape(cameraID) + "&" + q}
}

type where struct {
	conds []string
	args  []any
}

func (w *where) and(c string, args ...any) {
	w.conds = append(w.conds, c)
	w.args = append(w.args, args...)
}

func (q *Query) where() (where, error) {
	var w where
	if q.ScopeWhere == "" {
		return w, errors.New("events: query without an access scope")
	}
	w.and("("+q.ScopeWhere+")", q.ScopeArgs...)
	if len(q.CameraIDs) > 0 {
		args := make([]any, len(q.CameraIDs))
		for i, id := range q.CameraIDs {
			args[i] = id
		}
		w.and("e.camera_id IN ("+placeholders(len(args))+")", args...)
	}
	if len(q.Kinds) > 0 {
		args := make([]any, len(q.Kinds))
		for i, k := range q.Kinds {
			if !in(Kinds, k) {
				return w, fmt.Errorf("%w: unknown kind %q", errBadQuery, clip(k))
			}
			args[i] = k
		}
		w.and("e.kind IN ("+placeholders(len(args))+")", args...)
	}
	if q.Personal&access.PersonalFaces == 0 {
		w.and("e.kind <> ?", KindFace)
	}
	if !q.From.IsZero() {
		w.and("e.at_ms >= ?", q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		w.and("e.at_ms < ?", q.To.UnixMilli())
	}
	if q.Plate != "" {
		if q.Personal&access.PersonalPlates == 0 {
			return w, ErrPersonalForbidden
		}
		col, key := "e.plate", CanonicalPlate(q.Plate)
		prefix := false
		switch q.PlateMode {
		case "", PlateExact:
		case PlatePrefix:
			prefix = true
		case PlateFuzzy:
			col, key = "e.plate_fuzzy", FuzzyPlate(q.Plate)
		case PlateFuzzyPrefix:
			col, key, prefix = "e.plate_fuzzy", FuzzyPlate(q.Plate), true
		default:
			return w, fmt.Errorf("%w: unknown plate mode %q", errBadQuery, clip(q.PlateMode))
		}
		if key == "" {
			return w, fmt.Errorf("%w: the plate has no letter or digit", errBadQuery)
		}
		if prefix {
			w.and(col+" >= ?", key)
			if up := prefixUpper(key); up != "" {
				w.and(col+" < ?", up)
			}
		} else {
			w.and(col+" = ?", key)
		}
	}
	return w, nil
}

// scopedFrom joins events to the tables an access.Scope fragment is written
// against (access.ScopeFrom's aliases: c, s, mo).
const scopedFrom = "events e JOIN cameras c ON c.id = e.camera_id JOIN systems s ON s.id = c.system_id JOIN organisations mo ON mo.id = s.managing_org_id"

var errBadQuery = errors.New("events: bad query")

// IsBadQuery reports a query error the caller should answer with 422.
func IsBadQuery(err error) bool { return errors.Is(err, errBadQuery) }

// Search lists events, newest first.
func (s *Service) Search(ctx context.Context, q Query) (Result, error) {
	w, err := q.where()
	if err != nil {
		return Result{}, err
	}
	if q.Before != "" {
		if len(q.Before) < 13 || len(q.Before) > 64 {
			return Result{}, fmt.Errorf("%w: invalid cursor", errBadQuery)
		}
		var at int64
		if _, err := fmt.Sscanf(q.Before[:12], "%012x", &at); err != nil {
			return Result{}, fmt.Errorf("%w: invalid cursor", errBadQuery)
		}
		w.and("(e.at_ms < ? OR (e.at_ms = ? AND e.id < ?))", at, at, q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	cols := "e." + strings.ReplaceAll(strings.ReplaceAll(eventCols, "\n\t", " "), ", ", ", e.")
	sqlq := `SELECT ` + cols + ` FROM ` + scopedFrom + ` WHERE ` +
		strings.Join(w.conds, " AND ") + fmt.Sprintf(` ORDER BY e.at_ms DESC, e.id DESC LIMIT %d`, limit+1)
	rows, err := s.o.DB.Q().Query(ctx, sqlq, w.args...)
	if err != nil {
		return Result{}, err
	}
	defer rows.Close()
	res := Result{Events: []EventView{}}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return Result{}, err
		}
		v := EventView{Event: e, Video: LinkFor(e.CameraID, e.At)}
		if e.Kind == KindPlate && q.Personal&access.PersonalPlates == 0 {
			v.Plate.Text, v.Snapshot, v.Redacted = "", "", true
		}
		res.Events = append(res.Events, v)
	}
	if err := rows.Err(); err != nil {
		return Result{}, err
	}
	if len(res.Events) > limit {
		res.Events = res.Events[:limit]
		res.Next = res.Events[limit-1].ID
	}
	return res, nil
}

// Point is one bucket of a traffic-count series.
type Point struct {
	Start        time.Time `json:"start"`
	Lane         int       `json:"lane"`
	VehicleClass string    `json:"vehicle_class"`
	Count        int64     `json:"count"`
}

// Series sums traffic counts per bucket ("hour" or "day", days in the
// site's time zone), lane and vehicle class, over cameras in scope.
func (s *Service) Series(ctx context.Context, q Query, bucket string) ([]Point, error) {
	var size int64
	switch bucket {
	case "hour":
		size = int64(time.Hour / time.Millisecond)
	case "day":
		size = int64(24 * time.Hour / time.Millisecond)
	default:
		return nil, fmt.Errorf("%w: bucket must be hour or day", errBadQuery)
	}
	if q.From.IsZero() || q.To.IsZero() || !q.To.After(q.From) {
		return nil, fmt.Errorf("%w: from and to are required, from before to", errBadQuery)
	}
	if q.To.Sub(q.From) > 400*24*time.Hour {
		return nil, fmt.Errorf("%w: at most 400 days", errBadQuery)
	}
	q.Kinds, q.Plate = []string{KindTrafficCount}, ""
	w, err := q.where()
	if err != nil {
		return nil, err
	}
	_, off := q.From.In(s.o.Location).Zone()
	offMS := int64(off) * 1000
	sqlq := `SELECT ((e.at_ms + ?) / ?) * ? - ?, e.lane, e.vehicle_class, CAST(SUM(e.count_value) AS BIGINT)
		FROM ` + scopedFrom + ` WHERE ` + strings.Join(w.conds, " AND ") + ` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
	args := append([]any{offMS, size, size, offMS}, w.args...)
	rows, err := s.o.DB.Q().Query(ctx, sqlq, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Point{}
	for rows.Next() {
		var p Point
		var start int64
		if err := rows.Scan(&start, &p.Lane, &p.VehicleClass, &p.Count); err != nil {
			return nil, err
		}
		p.Start = store.Time(start).In(s.o.Location)
		out = append(out, p)
	}
	return out, rows.Err()
}

// AuditSearch records a search of events with its stated purpose, in the
// same transaction as nothing else: the entry is written before the results
// are returned, and a failure to write it fails the search.
func (s *Service) AuditSearch(ctx context.Context, actor audit.Entry, purpose string, q Query, found int) error {
	e := actor
	e.Action, e.Object, e.Outcome = "events.search", "events", audit.OK
	d := map[string]any{"purpose": purpose, "found": found, "personal": q.Personal.Names()}
	if len(q.CameraIDs) > 0 {
		d["camera_ids"] = q.CameraIDs
	}
	if len(q.Kinds) > 0 {
		d["kinds"] = q.Kinds
	}
	if q.Plate != "" {
		d["plate"], d["plate_mode"] = CanonicalPlate(q.Plate), q.PlateMode
	}
	if !q.From.IsZero() {
		d["from"] = q.From.UTC().Format(time.RFC3339)
	}
	if !q.To.IsZero() {
		d["to"] = q.To.UTC().Format(time.RFC3339)
	}
	e.Details = d
	_, err := s.o.Audit.Append(ctx, s.o.DB.Q(), e)
	return err
}
