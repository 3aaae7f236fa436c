package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Sealer protects webhook keys at rest (internal/secrets implements it).
type Sealer interface {
	Seal(plain []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// Options configure the room.
type Options struct {
	DB     *store.DB
	Audit  audit.Appender
	Sealer Sealer
	Log    *slog.Logger
	// Metrics registers the counters (nil: not registered).
	Metrics prometheus.Registerer
	// Retention of non-personal events and of personal ones (plates,
	// faces); 0 keeps forever.
	Retention, PersonalRetention time.Duration
	// Location is the site's time zone, for day buckets.
	Location *time.Location
	Now      func() time.Time
}

// Service is the events room.
type Service struct {
	o        Options
	ingested *prometheus.CounterVec
	rejected *prometheus.CounterVec

	mu      sync.Mutex
	cameras map[string]time.Time // known camera ids, checked at
	keys    map[string][]byte    // opened webhook keys
}

// New returns the room.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	s := &Service{o: o, cameras: map[string]time.Time{}, keys: map[string][]byte{}}
	s.ingested = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_ingested_total",
		Help: "Analytics events stored, by source and kind."}, []string{"source", "kind"})
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_rejected_total",
		Help: "Analytics events rejected, by source and reason."}, []string{"source", "reason"})
	if o.Metrics != nil {
		_ = o.Metrics.Register(s.ingested)
		_ = o.Metrics.Register(s.rejected)
	}
	return s
}

// Rejected returns the rejection counter's value (tests, status).
func (s *Service) Rejected(source, reason string) float64 {
	m := &dtoMetric{}
	_ = s.rejected.WithLabelValues(source, reason).Write(&m.Metric)
	return m.Counter.GetValue()
}

// Ingested returns the ingest counter's value.
func (s *Service) Ingested(source, kind string) float64 {
	m := &dtoMetric{}
	_ = s.ingested.WithLabelValues(source, kind).Write(&m.Metric)
	return m.Counter.GetValue()
}

// CountRejection counts a rejection found before Ingest (e.g. a message
// that did not parse).
func (s *Service) CountRejection(source string, r *Rejection) {
	s.rejected.WithLabelValues(source, r.Reason).Inc()
}

// IndexedRejection is the rejection of the i-th event of a message.
type IndexedRejection struct {
	Index int `json:"index"`
	Rejection
}

// ErrRejected is returned (wrapped) by Ingest when events were refused.
var ErrRejected = errors.New("events: rejected")

// RejectedError carries the reasons of a refused message.
type RejectedError struct{ Rejections []IndexedRejection }

func (e *RejectedError) Error() string {
	if len(e.Rejections) == 0 {
		return "events: rejected"
	}
	return fmt.Sprintf("events: %d rejected, first #%d: %s", len(e.Rejections), e.Rejections[0].Index, e.Rejections[0].Rejection.Error())
}
func (e *RejectedError) Unwrap() error { return ErrRejected }

// Ingest validates every event of one message and stores them all in one
// transaction, or none: a message with any malformed event is refused
// whole (*RejectedError, each rejection counted) so nothing is stored
// half. An event whose (camera, external_id) is already stored is skipped
// (senders retry). It returns how many rows were new.
func (s *Service) Ingest(ctx context.Context, source string, evs []Event) (int, error) {
	now := s.o.Now()
	var rej []IndexedRejection
	for i := range evs {
		evs[i].Source = source
		if r := evs[i].Validate(now); r != nil {
			rej = append(rej, IndexedRejection{Index: i, Rejection: *r})
		}
	}
	if len(rej) == 0 {
		missing, err := s.unknownCameras(ctx, evs)
		if err != nil {
			return 0, err
		}
		for i := range evs {
			if missing[evs[i].CameraID] {
				rej = append(rej, IndexedRejection{Index: i, Rejection: Rejection{Reason: "unknown_camera", Field: "camera_id", Detail: "no camera " + clip(evs[i].CameraID)}})
			}
		}
	}
	if len(rej) > 0 {
		for _, r := range rej {
			s.rejected.WithLabelValues(source, r.Reason).Inc()
		}
		return 0, &RejectedError{Rejections: rej}
	}
	n, err := s.insert(ctx, evs, now)
	if err != nil {
		return 0, err
	}
	for i := range evs {
		s.ingested.WithLabelValues(source, evs[i].Kind).Inc()
	}
	return n, nil
}

func (s *Service) unknownCameras(ctx context.Context, evs []Event) (map[string]bool, error) {
	now := s.o.Now()
	var ask []string
	s.mu.Lock()
	for i := range evs {
		id := evs[i].CameraID
		if t, ok := s.cameras[id]; !ok || now.Sub(t) > time.Minute {
			ask = append(ask, id)
		}
	}
	s.mu.Unlock()
	if len(ask) == 0 {
		return nil, nil
	}
	ask = dedup(ask)
	found := map[string]bool{}
	for len(ask) > 0 {
		chunk := ask[:min(len(ask), 200)]
		ask = ask[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.o.DB.Q().Query(ctx, `SELECT id FROM cameras WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, id := range chunk {
			if !found[id] {
				found[id] = false
			}
		}
	}
	missing := map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ok := range found {
		if ok {
			if len(s.cameras) > 100_000 {
				clear(s.cameras)
			}
			s.cameras[id] = now
		} else {
			missing[id] = true
		}
	}
	return missing, nil
}

func dedup(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// NewID is a time-ordered random id.
func NewID(t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%012x%s", t.UnixMilli(), hex.EncodeToString(b[:]))
}

const eventCols = `id, camera_id, kind, at_ms, received_ms, source, ext_id, personal, confidence, snapshot, plate, plate_fuzzy,
	vehicle_class, colour, direction, lane, watchlist_entry, watchlist, similarity, count_value, threshold, crossed, interval_s, rule, object_class`

const nCols = 25

func rowOf(e *Event, received int64) []any {
	var ext, plate, fuzzy any
	if e.ExternalID != "" {
		ext = e.ExternalID
	}
	var vc, colour, dir, wle, wl, rule, oc string
	var lane, interval int
	var sim float64
	var cnt, thr int64
	var crossed bool
	switch {
	case e.Plate != nil:
		plate, fuzzy = e.Plate.Text, FuzzyPlate(e.Plate.Text)
		vc, colour, dir, lane = e.Plate.VehicleClass, e.Plate.Colour, e.Plate.Direction, e.Plate.Lane
	case e.Face != nil:
		wle, wl, sim = e.Face.WatchlistEntry, e.Face.Watchlist, e.Face.Similarity
	case e.Crowd != nil:
		cnt, thr, crossed = int64(e.Crowd.Count), int64(e.Crowd.Threshold), e.Crowd.Crossed
	case e.Count != nil:
		lane, vc, cnt, interval = e.Count.Lane, e.Count.VehicleClass, int64(e.Count.Count), e.Count.IntervalSeconds
	case e.Zone != nil:
		rule, oc, dir = e.Zone.Rule, e.Zone.ObjectClass, e.Zone.Direction
	}
	return []any{e.ID, e.CameraID, e.Kind, e.At.UnixMilli(), received, e.Source, ext, Personal(e.Kind), e.Confidence, e.Snapshot,
		plate, fuzzy, vc, colour, dir, lane, wle, wl, sim, cnt, thr, crossed, interval, rule, oc}
}

func (s *Service) insert(ctx context.Context, evs []Event, now time.Time) (int, error) {
	received := now.UnixMilli()
	total := 0
	err := s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		total = 0
		const chunk = 200
		for start := 0; start < len(evs); start += chunk {
			part := evs[start:min(len(evs), start+chunk)]
			args := make([]any, 0, len(part)*nCols)
			var vals strings.Builder
			one := "(" + placeholders(nCols) + ")"
			for i := range part {
				if part[i].ID == "" {
					part[i].ID = NewID(part[i].At)
				}
				if i > 0 {
					vals.WriteByte(',')
				}
				vals.WriteString(one)
				args = append(args, rowOf(&part[i], received)...)
			}
			res, err := tx.Exec(ctx, `INSERT INTO events (`+eventCols+`) VALUES `+vals.String()+` ON CONFLICT DO NOTHING`, args...)
			if err != nil {
				return fmt.Errorf("events: insert: %w", err)
			}
			n, _ := res.RowsAffected()
			total += int(n)
		}
		return nil
	})
	return total, err
}

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var at, received int64
	var ext, plate, fuzzy sql.NullString
	var personal, crossed bool
	var vc, colour, dir, wle, wl, rule, oc string
	var lane, interval int
	var sim float64
	var cnt, thr int64
	err := sc.Scan(&e.ID, &e.CameraID, &e.Kind, &at, &received, &e.Source, &ext, &personal, &e.Confidence, &e.Snapshot,
		&plate, &fuzzy, &vc, &colour, &dir, &lane, &wle, &wl, &sim, &cnt, &thr, &crossed, &interval, &rule, &oc)
	if err != nil {
		return e, err
	}
	e.At, e.ExternalID = store.Time(at), ext.String
	switch e.Kind {
	case KindPlate:
		e.Plate = &Plate{Text: plate.String, VehicleClass: vc, Colour: colour, Direction: dir, Lane: lane}
	case KindFace:
		e.Face = &Face{WatchlistEntry: wle, Watchlist: wl, Similarity: sim}
	case KindCrowd:
		e.Crowd = &Crowd{Count: int(cnt), Threshold: int(thr), Crossed: crossed}
	case KindTrafficCount:
		e.Count = &Count{Lane: lane, VehicleClass: vc, Count: int(cnt), IntervalSeconds: interval}
	case KindIntrusion, KindLineCrossing:
		e.Zone = &Zone{Rule: rule, ObjectClass: oc, Direction: dir}
	}
	return e, nil
}

// Purge deletes events past their retention: personal ones (plates,
// faces) after PersonalRetention, the others after Retention. The purge is
// written to the audit log.
func (s *Service) Purge(ctx context.Context) (personal, other int64, err error) {
	now := s.o.Now()
	err = s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		personal, other = 0, 0
		if s.o.PersonalRetention > 0 {
			res, err := tx.Exec(ctx, `DELETE FROM events WHERE personal = ? AND at_ms < ?`, true, now.Add(-s.o.PersonalRetention).UnixMilli())
			if err != nil {
				return err
			}
			personal, _ = res.RowsAffected()
		}
		if s.o.Retention > 0 {
			res, err := tx.Exec(ctx, `DELETE FROM events WHERE personal = ? AND at_ms < ?`, false, now.Add(-s.o.Retention).UnixMilli())
			if err != nil {
				return err
			}
			other, _ = res.RowsAffected()
		}
		if personal+other == 0 {
			return nil
		}
		_, err := s.o.Audit.Append(ctx, tx, audit.Entry{ActorID: "system", Actor: "system", Action: "events.purge", Object: "events",
			Outcome: audit.OK, Details: map[string]any{"personal": personal, "other": other,
				"personal_retention_days": int(s.o.PersonalRetention.Hours() / 24), "retention_days": int(s.o.Retention.Hours() / 24)}})
		return err
	})
	return personal, other, err
}

// RunPurge purges every interval until ctx ends.
func (s *Service) RunPurge(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if p, o, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Error("events purge failed", "err", err)
		} else if p+o > 0 {
			s.o.Log.Info("events purged", "personal", p, "other", o)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
