// Package health watches the site: camera stream status and its history
// (uptime per camera, system and site), the node's disk, CPU and memory, and
// incidents tracked against their deadline (R-OPS-1, R-OPS-5) with
// notifications by webhook and e-mail.
//
// Status comes from the media hub (media.Hub.States). Sample stores a row
// only when a camera's status changes, so the history is a list of
// transitions and uptime is a walk over them. A camera down longer than
// Options.OfflineAfter opens an automatic incident; its return resolves it.
// Other rooms (recording, federation) open and resolve their own automatic
// incidents with OpenAuto and ResolveAuto.
//
// A lower site's camera (origin_site set) is watched by its own site: at
// tier 1 its hub source is pushed on demand and says nothing while nobody
// watches, so Sample leaves it alone. Its status arrives through the
// federation (RecordStatus) and its incidents are opened by that site and
// shipped up (ApplyShipped, remote.go). Uptime counts only the time the
// platform itself was running (platform.go).
//
// Every time is read from Options.Now, so tests drive deadlines, escalation
// and retries with a fake clock.
package health

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/store"
)

// Camera status values as stored (the hub's, see media.Status*).
const (
	StatusOnline     = media.StatusOnline
	StatusOffline    = media.StatusOffline
	StatusConnecting = media.StatusConnecting
	StatusIdle       = media.StatusIdle
)

// Options configures a Service. Zero durations take the defaults shown.
type Options struct {
	DB    *store.DB
	Audit audit.Appender
	Log   *slog.Logger
	// States reports the hub's stream states (nil: no cameras watched).
	States func() []media.State
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OfflineAfter: a camera down this long opens an incident; 2 min.
	OfflineAfter time.Duration
	// DefaultDeadline is detection + this for every category without its own
	// entry in Deadlines; 24 h (R-OPS-1).
	DefaultDeadline time.Duration
	Deadlines       map[string]time.Duration
	// EscalateBefore: an unresolved incident escalates this long before its
	// deadline (level 1) and again at the deadline (level 2); 4 h.
	EscalateBefore time.Duration
	Notify         NotifyConfig
	// OnFirstFrame is called the first time in a process that Sample sees
	// one of this site's cameras deliver frames (at: since when), so the
	// registry records its first connection (R-FED-2 "connected"); nil:
	// nothing.
	OnFirstFrame func(ctx context.Context, cameraID string, at time.Time)
	// Node names this process in platform_runs (several nodes may serve a
	// site).
	Node string
}

// Service is the health room.
type Service struct {
	opt  Options
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex // serialises Sample
	httpc    httpDoer
	sendMail mailSender
	// seen: cameras whose first frame this process reported (under mu).
	seen map[string]bool

	runMu    sync.Mutex
	runID    string // this process's row of platform_runs
	runStart int64
}

// New returns a Service.
func New(opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.OfflineAfter <= 0 {
		opt.OfflineAfter = 2 * time.Minute
	}
	if opt.DefaultDeadline <= 0 {
		opt.DefaultDeadline = 24 * time.Hour
	}
	if opt.EscalateBefore <= 0 {
		opt.EscalateBefore = 4 * time.Hour
	}
	opt.Notify.defaults()
	return &Service{opt: opt, log: opt.Log, wake: make(chan struct{}, 1), httpc: defaultHTTP(), sendMail: smtpSend, seen: map[string]bool{}}
}

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// Deadline is the time allowed to fix an incident of category.
func (s *Service) Deadline(category string) time.Duration {
	if d, ok := s.opt.Deadlines[category]; ok && d > 0 {
		return d
	}
	return s.opt.DefaultDeadline
}

// Errors of the room; the API maps them to 4xx.
var ErrNotFound = errors.New("health: not found")

// InputError is bad input: 422 naming the field.
type InputError struct{ Field, Code, Msg string }

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// StateError is a change the record's state does not allow: 409.
type StateError struct{ Field, Code, Msg string }

func (e *StateError) Error() string { return e.Field + ": " + e.Msg }

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CameraStatus is a camera's current status as last sampled.
type CameraStatus struct {
	CameraID  string    `json:"camera_id"`
	Status    string    `json:"status"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// StatusEvent is one transition of a camera's status.
type StatusEvent struct {
	CameraID  string    `json:"camera_id"`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	LastError string    `json:"last_error,omitempty"`
}

// down: the camera should deliver and does not. An idle on-demand camera is
// not down; it is simply not watched.
func down(status string) bool { return status == StatusOffline || status == StatusConnecting }

// Sample reads the hub's states once: it stores status transitions, opens an
// automatic incident for a camera down longer than OfflineAfter, and resolves
// it when the camera is back online. The app calls it on a ticker.
func (s *Service) Sample(ctx context.Context) error {
	if s.opt.States == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cur, err := s.statusMap(ctx)
	if err != nil {
		return err
	}
	open, err := s.openAutoKeys(ctx)
	if err != nil {
		return err
	}
	fed, err := s.federatedCameras(ctx)
	if err != nil {
		return err
	}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, st := range s.opt.States() {
		if st.Variant != media.Main {
			continue
		}
		obj := "camera/" + st.CameraID
		key := autoKey(CatCameraOffline, obj)
		if fed[st.CameraID] {
			// Watched by its own site. An incident this site opened for
			// it before (from its idle on-demand source) is withdrawn.
			if open[key] {
				_, err := s.ResolveAuto(ctx, CatCameraOffline, obj, "camera watched by its own site")
				keep(err)
			}
			continue
		}
		if st.Status == StatusOnline && (st.FPS > 0 || st.Bitrate > 0) && !s.seen[st.CameraID] && s.opt.OnFirstFrame != nil {
			s.seen[st.CameraID] = true
			at := st.Since
			if at.IsZero() || at.After(now) {
				at = now
			}
			s.opt.OnFirstFrame(ctx, st.CameraID, at)
		}
		prev, known := cur[st.CameraID]
		since := now
		if known && prev.Status == st.Status {
			since = prev.Since
		} else {
			keep(s.recordTransition(ctx, s.opt.DB.Q(), st.CameraID, st.Status, st.LastError, now))
		}
		switch {
		case down(st.Status) && now.Sub(since) >= s.opt.OfflineAfter && !open[key]:
			detail := st.LastError
			if detail == "" {
				detail = "status " + st.Status
			}
			_, _, err := s.OpenAuto(ctx, CatCameraOffline, obj, AutoInfo{
				Title:       fmt.Sprintf("Camera %s mất tín hiệu / offline", st.CameraID),
				Description: detail, DetectedAt: since,
			})
			keep(err)
		case st.Status == StatusOnline && open[key]:
			_, err := s.ResolveAuto(ctx, CatCameraOffline, obj, "camera back online")
			keep(err)
		}
	}
	return firstErr
}

// recordTransition stores a camera's new status at `at`, in q's
// transaction when q is one (else in a transaction of its own).
func (s *Service) recordTransition(ctx context.Context, q store.Q, cameraID, status, lastError string, at time.Time) error {
	if tx, ok := q.(*store.Tx); ok {
		return writeTransition(ctx, tx, cameraID, status, lastError, store.MS(at))
	}
	return s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		return writeTransition(ctx, tx, cameraID, status, lastError, store.MS(at))
	})
}

func writeTransition(ctx context.Context, tx store.Q, cameraID, status, lastError string, ms int64) error {
	res, err := tx.Exec(ctx, `UPDATE camera_status SET status = ?, since = ?, last_error = ?, checked_at = ? WHERE camera_id = ?`,
		status, ms, lastError, ms, cameraID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO camera_status (camera_id, status, since, last_error, checked_at) VALUES (?, ?, ?, ?, ?)`,
			cameraID, status, ms, lastError, ms); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO camera_status_events (id, camera_id, status, at, last_error) VALUES (?, ?, ?, ?, ?)`,
		newID("se-"), cameraID, status, ms, lastError)
	return err
}

// federatedCameras is the set of lower sites' cameras (origin_site set).
func (s *Service) federatedCameras(ctx context.Context) (map[string]bool, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT id FROM cameras WHERE origin_site <> ''`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func (s *Service) statusMap(ctx context.Context) (map[string]CameraStatus, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT camera_id, status, since, last_error, checked_at FROM camera_status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]CameraStatus{}
	for rows.Next() {
		var c CameraStatus
		var since, checked int64
		if err := rows.Scan(&c.CameraID, &c.Status, &since, &c.LastError, &checked); err != nil {
			return nil, err
		}
		c.Since, c.CheckedAt = store.Time(since), store.Time(checked)
		out[c.CameraID] = c
	}
	return out, rows.Err()
}

// Statuses lists the stored current status of every camera (ids given: only
// those).
func (s *Service) Statuses(ctx context.Context) (map[string]CameraStatus, error) {
	return s.statusMap(ctx)
}

// History lists a camera's transitions in [from, to), oldest first, at most
// limit.
func (s *Service) History(ctx context.Context, cameraID string, from, to time.Time, limit int) ([]StatusEvent, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT camera_id, status, at, last_error FROM camera_status_events
		WHERE camera_id = ? AND at >= ? AND at < ? ORDER BY at, id LIMIT ?`, cameraID, store.MS(from), store.MS(to), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []StatusEvent{}
	for rows.Next() {
		var e StatusEvent
		var at int64
		if err := rows.Scan(&e.CameraID, &e.Status, &at, &e.LastError); err != nil {
			return nil, err
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Uptime is the share of observed time a camera (or a group) was online.
type Uptime struct {
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Observed time.Duration `json:"observed_ns"`
	Online   time.Duration `json:"online_ns"`
	Down     time.Duration `json:"down_ns"`
	// PlatformDown is the time the camera had a status while the platform
	// itself was not running: it counts for neither side of Ratio.
	PlatformDown time.Duration `json:"platform_down_ns"`
	// Ratio is Online / (Online + Down); idle (unwatched on-demand) time
	// and the platform's own downtime count for neither. -1 when nothing
	// was observed.
	Ratio float64 `json:"ratio"`
}

func (u *Uptime) add(o Uptime) {
	u.Observed += o.Observed
	u.Online += o.Online
	u.Down += o.Down
	u.PlatformDown += o.PlatformDown
}

func (u *Uptime) finish() {
	u.Ratio = -1
	if t := u.Online + u.Down; t > 0 {
		u.Ratio = float64(u.Online) / float64(t)
	}
}

// CameraUptime walks a camera's transitions over [from, to). Time before the
// first transition is unobserved; the last status holds until to (or now).
// Time the platform itself was not running is left out (PlatformDown) for
// this site's cameras; a lower site's camera has its status from its own
// site, which kept watching while this one was down.
func (s *Service) CameraUptime(ctx context.Context, cameraID string, from, to time.Time) (Uptime, error) {
	cov, fed, err := s.uptimeBasis(ctx)
	if err != nil {
		return Uptime{From: from, To: to}, err
	}
	if fed[cameraID] {
		cov = nil
	}
	return s.cameraUptime(ctx, cameraID, from, to, cov)
}

// uptimeBasis is the platform's running time and the federated cameras.
func (s *Service) uptimeBasis(ctx context.Context) (coverage, map[string]bool, error) {
	cov, err := s.platformCoverage(ctx)
	if err != nil {
		return nil, nil, err
	}
	fed, err := s.federatedCameras(ctx)
	return cov, fed, err
}

func (s *Service) cameraUptime(ctx context.Context, cameraID string, from, to time.Time, cov coverage) (Uptime, error) {
	u := Uptime{From: from, To: to}
	if now := s.now(); to.After(now) {
		to = now
	}
	q := s.opt.DB.Q()
	var prevStatus string
	var prevAt int64
	err := q.QueryRow(ctx, `SELECT status, at FROM camera_status_events WHERE camera_id = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1`,
		cameraID, store.MS(from)).Scan(&prevStatus, &prevAt)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return u, err
	}
	evs, err := s.History(ctx, cameraID, from, to, 10000)
	if err != nil {
		return u, err
	}
	cur, curAt := prevStatus, from
	span := func(status string, a, b time.Time) {
		if status == "" || !b.After(a) {
			return
		}
		total := b.Sub(a)
		d := time.Duration(cov.covered(store.MS(a), store.MS(b))) * time.Millisecond
		if d > total {
			d = total
		}
		u.PlatformDown += total - d
		u.Observed += d
		switch {
		case status == StatusOnline:
			u.Online += d
		case down(status):
			u.Down += d
		}
	}
	for _, e := range evs {
		span(cur, curAt, e.At)
		cur, curAt = e.Status, e.At
	}
	span(cur, curAt, to)
	u.finish()
	return u, nil
}

// GroupUptime sums the uptime of several cameras (a system, the site).
func (s *Service) GroupUptime(ctx context.Context, cameraIDs []string, from, to time.Time) (Uptime, error) {
	u := Uptime{From: from, To: to}
	cov, fed, err := s.uptimeBasis(ctx)
	if err != nil {
		return u, err
	}
	for _, id := range cameraIDs {
		cv := cov
		if fed[id] {
			cv = nil
		}
		c, err := s.cameraUptime(ctx, id, from, to, cv)
		if err != nil {
			return u, err
		}
		u.add(c)
	}
	u.finish()
	return u, nil
}

// Run records the platform's run (StartRun, a beat each sample), samples,
// escalates and delivers notifications until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Second
	}
	if err := s.StartRun(ctx, s.opt.Node); err != nil && ctx.Err() == nil {
		s.log.Warn("platform run not recorded", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.runNotifier(ctx) }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			// A clean stop ends the run where it stopped.
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = s.Beat(bctx)
			cancel()
			return
		case <-t.C:
			if err := s.Beat(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("platform run beat failed", "err", err)
			}
			if err := s.Sample(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("health sample failed", "err", err)
			}
			if _, err := s.Escalate(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("incident escalation failed", "err", err)
			}
		}
	}
}

// CameraIDs lists every camera of the registry, by id.
func (s *Service) CameraIDs(ctx context.Context) ([]string, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT id FROM cameras ORDER BY id`)
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

// SystemCameras is a system, its organisations and its cameras.
type SystemCameras struct {
	SystemID, ManagingOrgID, OperatingOrgID string
	Cameras                                 []string
}

// Systems lists every system with its cameras.
func (s *Service) Systems(ctx context.Context) ([]SystemCameras, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT s.id, s.managing_org_id, s.operating_org_id, COALESCE(c.id, '') FROM systems s
		LEFT JOIN cameras c ON c.system_id = s.id ORDER BY s.id, c.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SystemCameras
	for rows.Next() {
		var sys, man, op, cam string
		if err := rows.Scan(&sys, &man, &op, &cam); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].SystemID != sys {
			out = append(out, SystemCameras{SystemID: sys, ManagingOrgID: man, OperatingOrgID: op})
		}
		if cam != "" {
			out[len(out)-1].Cameras = append(out[len(out)-1].Cameras, cam)
		}
	}
	return out, rows.Err()
}
