// Package record is the recorder: continuous recording of every camera the
// hub carries into fMP4 segment files (1 s fragments) over one or more
// storage folders, the segment index in the database, retention with the
// evidence locks, the disk guard, and the start-up reconcile of index and
// disk. Queries never walk the file tree; only Reconcile does.
package record

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/store"
)

// Segment states.
const (
	StateOpen     = "open"
	StateOK       = "ok"
	StateMissing  = "missing"
	StateDeleting = "deleting"
)

// Folder is one storage folder.
type Folder struct {
	Name string // stable name stored in the index
	Path string // absolute or relative path on this node
}

// DiskUsage reports a folder's filesystem use.
type DiskUsage func(path string) (used, total uint64, err error)

// Options configure the recorder. Zero values take the defaults shown.
type Options struct {
	Folders        []Folder      // required
	Node           string        // this node's name in the index; "node"
	SegmentLength  time.Duration // 5 min
	FragmentLength time.Duration // 1 s
	// GapThreshold: a jump in the camera's clock larger than this (or than 4
	// frame intervals) ends the segment, so an outage is a gap in the index.
	GapThreshold time.Duration // 1 s
	// Silence: no unit for this long ends the open segment.
	Silence       time.Duration // 2 s
	IndexEvery    time.Duration // index row update interval of an open segment; 5 s
	PolicyEvery   time.Duration // how often policies and schedules are re-read; 10 s
	SweepEvery    time.Duration // retention + disk guard; 1 min
	Variant       media.Variant // recorded stream; main
	DefaultMode   string        // site default mode; always
	RetentionDays int           // site default; 30
	// HighWater is the disk use (percent) above which the guard acts; 90.
	HighWater int
	// DiskFullPolicy when still above HighWater after expired footage is
	// gone: "stop" (stop writing to that folder) or "delete_oldest" (delete
	// the oldest unlocked footage even if not expired). Default stop.
	DiskFullPolicy string
	// NoSync skips fsync after each fragment (benchmarks of the write path).
	NoSync    bool
	DiskUsage DiskUsage
	// SystemOf maps a camera to its system (system-level policies).
	SystemOf func(ctx context.Context, cameraID string) (string, error)
	// Location of schedules; Asia/Ho_Chi_Minh.
	Location *time.Location
	// OnAlert is called for critical conditions (disk full), for logs.
	OnAlert func(code, message string)
	// OnStorage is called when a storage folder becomes full (still above
	// HighWater after expired footage is gone) and when it recovers; the app
	// turns it into a storage incident of the health room, resolved on
	// recovery.
	OnStorage func(folder string, full bool, message string)
	// ReserveBytes and ReservePercent (of the volume) are kept free on every
	// storage folder's volume, for the database and the system beside the
	// recordings: the larger of the two. It is checked before every
	// fragment, so writes stop before the volume is full, not after a roll.
	// Defaults 512 MiB and 1 %, at most a tenth of a small volume; negative
	// turns one off.
	ReserveBytes   int64
	ReservePercent int
	reserveCapped  bool // the defaults are in force: capped to a tenth
	// OnEarlyDelete is called when the disk guard (delete_oldest) deletes
	// footage younger than its retention; the app opens an incident.
	OnEarlyDelete func(d Deletion, retentionDays int)

	openFile func(path string) (segFile, error) // tests: a failing writer
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.SegmentLength, 5*time.Minute)
	def(&o.FragmentLength, time.Second)
	def(&o.GapThreshold, time.Second)
	def(&o.Silence, 2*time.Second)
	def(&o.IndexEvery, 5*time.Second)
	def(&o.PolicyEvery, 10*time.Second)
	def(&o.SweepEvery, time.Minute)
	if o.Node == "" {
		o.Node = "node"
	}
	if o.Variant == "" {
		o.Variant = media.Main
	}
	if o.DefaultMode == "" {
		o.DefaultMode = ModeAlways
	}
	if o.RetentionDays <= 0 {
		o.RetentionDays = MinRetentionDays
	}
	if o.HighWater <= 0 || o.HighWater > 100 {
		o.HighWater = 90
	}
	if o.DiskFullPolicy == "" {
		o.DiskFullPolicy = "stop"
	}
	if o.DiskUsage == nil {
		o.DiskUsage = statfsUsage
	}
	if o.ReserveBytes == 0 {
		o.ReserveBytes, o.reserveCapped = 512<<20, true
	}
	if o.ReservePercent == 0 {
		o.ReservePercent = 1
	}
	if o.Location == nil {
		if loc, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
			o.Location = loc
		} else {
			o.Location = time.FixedZone("ICT", 7*3600)
		}
	}
}

// Hub is what the recorder needs of the stream hub.
type Hub interface {
	OpenInternalReader(ctx context.Context, cameraID string, v media.Variant, p media.Protocol, r media.UnitReader) (media.ReaderHandle, error)
	States() []media.State
}

// Service is the recorder of one node.
type Service struct {
	opt   Options
	db    *store.DB
	audit *audit.Log
	hub   Hub
	log   *slog.Logger
	m     *metrics

	idx chan indexOp

	mu        sync.Mutex
	recs      map[string]*camRecorder
	full      map[string]bool // folder name → above high water with nothing left to delete
	lastCheck *ReconcileReport
	refresh   chan struct{}
	changes   chan struct{} // a camera started or stopped recording
	sweepNow  chan struct{} // a folder reached its reserve: run the guard now
	wg        sync.WaitGroup
	idxWG     sync.WaitGroup
	cancel    context.CancelFunc
	started   bool
}

// New makes the recorder. It does not start recording: call Reconcile then
// Start.
func New(opt Options, db *store.DB, lg *audit.Log, hub Hub, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	opt.defaults()
	if len(opt.Folders) == 0 {
		return nil, errors.New("record: no storage folder")
	}
	seen := map[string]bool{}
	for i, f := range opt.Folders {
		if !validID(f.Name) || seen[f.Name] {
			return nil, fmt.Errorf("record: storage folder %d: bad or duplicate name %q", i, f.Name)
		}
		seen[f.Name] = true
		if err := os.MkdirAll(f.Path, 0o750); err != nil {
			return nil, fmt.Errorf("record: storage folder %s: %w", f.Name, err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{opt: opt, db: db, audit: lg, hub: hub, log: log, recs: map[string]*camRecorder{},
		full: map[string]bool{}, refresh: make(chan struct{}, 1), changes: make(chan struct{}, 1), sweepNow: make(chan struct{}, 1), idx: make(chan indexOp, 4096)}
	s.m = newMetrics(reg)
	return s, nil
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.opt }

// Start runs the recorders, the index writer and the sweeper until Stop.
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.started = true
	s.idxWG.Add(1)
	go func() { defer s.idxWG.Done(); s.indexLoop() }()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.policyLoop(ctx) }()
	go func() { defer s.wg.Done(); s.sweepLoop(ctx) }()
}

// Stop ends every recording (closing segments cleanly) and waits.
func (s *Service) Stop() {
	if !s.started {
		return
	}
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	recs := s.recs
	s.recs = map[string]*camRecorder{}
	s.mu.Unlock()
	for _, r := range recs {
		r.stop()
	}
	close(s.idx)
	s.idxWG.Wait()
	s.started = false
}

// Changes signals (coalesced) when a camera's recorder starts or stops
// recording, so incidents follow the writes at once instead of at the next
// poll of Recording.
func (s *Service) Changes() <-chan struct{} { return s.changes }

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Refresh re-reads policies now (after a policy or registry change).
func (s *Service) Refresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

func (s *Service) policyLoop(ctx context.Context) {
	t := time.NewTicker(s.opt.PolicyEvery)
	defer t.Stop()
	sched := time.NewTicker(15 * time.Second) // schedules change on the minute
	defer sched.Stop()
	for {
		s.applyPolicies(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-sched.C:
		case <-s.refresh:
		}
	}
}

// applyPolicies starts and stops camera recorders to match the policies.
func (s *Service) applyPolicies(ctx context.Context) {
	cams := map[string]bool{}
	for _, st := range s.hub.States() {
		if st.Variant == s.opt.Variant || st.Variant == "" {
			cams[st.CameraID] = true
		}
	}
	pols, err := s.loadPolicies(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("record: cannot read policies", "err", err)
		}
		return
	}
	now := time.Now().In(s.opt.Location)
	want := map[string]bool{}
	for id := range cams {
		if !validID(id) {
			continue
		}
		e := s.effective(ctx, pols, id)
		if e.Wants(now) {
			want[id] = true
		}
	}
	s.mu.Lock()
	var stop []*camRecorder
	for id, r := range s.recs {
		if !want[id] {
			stop = append(stop, r)
			delete(s.recs, id)
		}
	}
	for id := range want {
		if _, ok := s.recs[id]; !ok && ctx.Err() == nil {
			r := newCamRecorder(s, id)
			s.recs[id] = r
			r.start(ctx)
		}
	}
	n := len(s.recs)
	s.mu.Unlock()
	s.m.cameras.Set(float64(n))
	for _, r := range stop {
		r.stop()
	}
}

// Recording lists the cameras being recorded now with their state.
func (s *Service) Recording() []RecorderStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecorderStatus, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, r.status())
	}
	return out
}

// CameraStatus is one camera's recorder state.
type RecorderStatus struct {
	CameraID  string    `json:"camera_id"`
	Recording bool      `json:"recording" doc:"a segment is open and its last write succeeded"`
	SegmentID string    `json:"segment_id,omitempty"`
	Since     time.Time `json:"since,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// WriteErrors counts failed segment opens and fragment writes since the
	// camera's recorder started.
	WriteErrors int64 `json:"write_errors"`
	BytesTotal  int64 `json:"bytes_total"`
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// folderPath resolves a folder name.
func (s *Service) folder(name string) (Folder, bool) {
	for _, f := range s.opt.Folders {
		if f.Name == name {
			return f, true
		}
	}
	return Folder{}, false
}

// SegmentPath is the file of a segment row, refused when the stored path
// would leave its storage folder (a tampered row cannot make the server
// read or delete another file).
func (s *Service) SegmentPath(storage, rel string) (string, error) {
	f, ok := s.folder(storage)
	if !ok {
		return "", fmt.Errorf("record: unknown storage folder %q", storage)
	}
	return JoinInside(f.Path, rel)
}

// JoinInside joins root and rel, refusing any rel that is absolute or
// climbs out of root.
func JoinInside(root, rel string) (string, error) {
	if rel == "" || !filepath.IsLocal(rel) || strings.ContainsRune(rel, 0) {
		return "", fmt.Errorf("record: path %q escapes its storage folder", rel)
	}
	p := filepath.Join(root, rel)
	r, err := filepath.Rel(root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("record: path %q escapes its storage folder", rel)
	}
	return p, nil
}

// relPath is where a new segment goes inside a folder.
func relPath(cameraID string, v media.Variant, startMS int64) string {
	t := time.UnixMilli(startMS).UTC()
	return filepath.Join(cameraID, string(v), t.Format("2006-01-02"), fmt.Sprintf("%d.mp4", startMS))
}

// pickFolder returns the folder with the most free space below high water.
func (s *Service) pickFolder() (Folder, error) {
	var best Folder
	var bestFree uint64
	found := false
	for _, f := range s.opt.Folders {
		used, total, err := s.opt.DiskUsage(f.Path)
		if err != nil || total == 0 {
			continue
		}
		if total-used < s.reserve(total) {
			continue
		}
		if used*100 >= uint64(s.opt.HighWater)*total {
			s.mu.Lock()
			full := s.full[f.Name]
			s.mu.Unlock()
			if full || s.opt.DiskFullPolicy == "stop" {
				continue
			}
		}
		if free := total - used; !found || free > bestFree {
			best, bestFree, found = f, free, true
		}
	}
	if !found {
		return best, errors.New("record: every storage folder is above its high-water mark or at its reserve")
	}
	return best, nil
}

// reserve is the space kept free on a volume of total bytes.
func (s *Service) reserve(total uint64) uint64 {
	var r uint64
	if s.opt.ReserveBytes > 0 {
		r = uint64(s.opt.ReserveBytes)
	}
	if s.opt.ReservePercent > 0 {
		r = max(r, total/100*uint64(s.opt.ReservePercent))
	}
	if s.opt.reserveCapped {
		r = min(r, total/10)
	}
	return r
}

// ErrReserve is a write refused because it would eat into the space kept
// free for the database.
var ErrReserve = errors.New("record: storage reserve reached (disk full)")

// room checks that n more bytes in folder leave its reserve free.
func (s *Service) room(folder string, n int64) error {
	f, ok := s.folder(folder)
	if !ok {
		return fmt.Errorf("record: unknown storage folder %q", folder)
	}
	used, total, err := s.opt.DiskUsage(f.Path)
	if err != nil || total == 0 || s.reserve(total) == 0 {
		return nil // unknown, or no reserve: the write itself will tell
	}
	if free := total - used; free < uint64(n) || free-uint64(n) < s.reserve(total) {
		poke(s.sweepNow)
		return fmt.Errorf("%w: %s has %d bytes free, %d kept for the database", ErrReserve, folder, free, s.reserve(total))
	}
	return nil
}

// ---- index writer: the recorder never waits for the database ----

type indexOp struct {
	kind  string // insert, update
	seg   SegmentRow
	reply chan error
}

// SegmentRow is one row of the index.
type SegmentRow struct {
	ID          string `json:"id"`
	CameraID    string `json:"camera_id"`
	Variant     string `json:"variant"`
	StartMS     int64  `json:"start_ms"`
	EndMS       int64  `json:"end_ms"`
	Bytes       int64  `json:"bytes"`
	Frames      int64  `json:"frames"`
	Storage     string `json:"storage"`
	Path        string `json:"-"`
	Codec       string `json:"codec"`
	State       string `json:"state"`
	StartReason string `json:"start_reason"`
	Node        string `json:"-"`
}

func (s *Service) enqueue(op indexOp) {
	s.idx <- op
}

func (s *Service) indexLoop() {
	for op := range s.idx {
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if err = s.applyIndex(op); err == nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		if err != nil {
			s.log.Error("record: index write failed (reconcile will repair it)", "camera", op.seg.CameraID, "segment", op.seg.ID, "err", err)
		}
		if op.reply != nil {
			op.reply <- err
		}
	}
}

func (s *Service) applyIndex(op indexOp) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	g := op.seg
	switch op.kind {
	case "insert":
		return insertSegment(ctx, s.db.Q(), g)
	case "update":
		_, err := s.db.Q().Exec(ctx, `UPDATE record_segments SET end_ms = ?, bytes = ?, frames = ?, state = ?, updated_at = ? WHERE id = ?`,
			g.EndMS, g.Bytes, g.Frames, g.State, store.NowMS(), g.ID)
		return err
	case "drop":
		_, err := s.db.Q().Exec(ctx, `DELETE FROM record_segments WHERE id = ?`, g.ID)
		return err
	}
	return nil
}

// InsertSegment writes one index row (reconcile, seeding, benchmarks).
func InsertSegment(ctx context.Context, q store.Q, g SegmentRow) error {
	return insertSegment(ctx, q, g)
}

func insertSegment(ctx context.Context, q store.Q, g SegmentRow) error {
	_, err := q.Exec(ctx, `INSERT INTO record_segments (id, camera_id, variant, start_ms, end_ms, bytes, frames, storage, path, codec, state, start_reason, node, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.CameraID, g.Variant, g.StartMS, g.EndMS, g.Bytes, g.Frames, g.Storage, g.Path, g.Codec, g.State, g.StartReason, g.Node, store.NowMS())
	return err
}

// Flush waits until every index write queued so far is done (tests, Stop).
func (s *Service) Flush() {
	if !s.started {
		return
	}
	ch := make(chan error, 1)
	s.idx <- indexOp{kind: "noop", reply: ch}
	<-ch
}

const segCols = `id, camera_id, variant, start_ms, end_ms, bytes, frames, storage, path, codec, state, start_reason, node`

func scanSegments(rows *sql.Rows) ([]SegmentRow, error) {
	defer rows.Close()
	var out []SegmentRow
	for rows.Next() {
		var g SegmentRow
		if err := rows.Scan(&g.ID, &g.CameraID, &g.Variant, &g.StartMS, &g.EndMS, &g.Bytes, &g.Frames, &g.Storage, &g.Path, &g.Codec, &g.State, &g.StartReason, &g.Node); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// MaxSegmentMS bounds a segment's length in the index, so a range query can
// bound its index scan on start_ms alone. Segments are cut well before.
const MaxSegmentMS = int64(2 * time.Hour / time.Millisecond)

// Segments returns the segments of a camera overlapping [fromMS, toMS), in
// order, from the index only. Missing and deleting rows are left out.
func Segments(ctx context.Context, q store.Q, cameraID string, v media.Variant, fromMS, toMS int64) ([]SegmentRow, error) {
	rows, err := q.Query(ctx, `SELECT `+segCols+` FROM record_segments
		WHERE camera_id = ? AND start_ms >= ? AND start_ms < ? AND end_ms > ? AND variant = ? AND state IN ('ok', 'open')
		ORDER BY start_ms`, cameraID, fromMS-MaxSegmentMS, toMS, fromMS, string(v))
	if err != nil {
		return nil, err
	}
	return scanSegments(rows)
}

// Segment returns one row by id.
func GetSegment(ctx context.Context, q store.Q, id string) (SegmentRow, error) {
	rows, err := q.Query(ctx, `SELECT `+segCols+` FROM record_segments WHERE id = ?`, id)
	if err != nil {
		return SegmentRow{}, err
	}
	out, err := scanSegments(rows)
	if err != nil {
		return SegmentRow{}, err
	}
	if len(out) == 0 {
		return SegmentRow{}, ErrNotFound
	}
	return out[0], nil
}

// ErrNotFound is returned for an unknown segment, policy or lock.
var ErrNotFound = errors.New("record: not found")
