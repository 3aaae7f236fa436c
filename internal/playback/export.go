package playback

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store"
)

// Options configure the playback room.
type Options struct {
	Dir         string        // where exports are written (required)
	MaxExport   time.Duration // longest export; 1 h
	MaxBytes    int64         // largest export; 2 GiB
	PerHour     int           // exports per user per hour; 30
	MaxPlayback time.Duration // longest MP4 playback range; 2 h (HLS beyond)
	Site        SiteRef
	Software    string
}

// Service is the playback room.
type Service struct {
	opt   Options
	db    *store.DB
	audit *audit.Log
	res   Resolver
	key   ed25519.PrivateKey
	keyID string

	mu   sync.Mutex
	rate map[string][]time.Time
}

// New makes the playback room.
func New(opt Options, db *store.DB, lg *audit.Log, res Resolver, key ed25519.PrivateKey, keyID string) (*Service, error) {
	if opt.Dir == "" {
		return nil, errors.New("playback: no export folder")
	}
	if opt.MaxExport <= 0 {
		opt.MaxExport = time.Hour
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 2 << 30
	}
	if opt.PerHour <= 0 {
		opt.PerHour = 30
	}
	if opt.MaxPlayback <= 0 {
		opt.MaxPlayback = 2 * time.Hour
	}
	if err := os.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("playback: export folder: %w", err)
	}
	return &Service{opt: opt, db: db, audit: lg, res: res, key: key, keyID: keyID, rate: map[string][]time.Time{}}, nil
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.opt }

// KeyID is the id of the key that signs manifests.
func (s *Service) KeyID() string { return s.keyID }

// PublicKey is the key that signs manifests.
func (s *Service) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Resolver returns the segment path resolver.
func (s *Service) Resolver() Resolver { return s.res }

// Plan builds the MP4 of a playback range.
func (s *Service) Plan(ctx context.Context, cameraID string, from, to time.Time) (*Plan, error) {
	return Build(ctx, s.db.Q(), s.res, cameraID, from, to, s.opt.MaxPlayback)
}

// ExportRequest is what an extraction states (R-SEC-2).
type ExportRequest struct {
	Camera    CameraRef
	From, To  time.Time
	Purpose   string
	Requester EvidenceRequester
	Performer EvidencePerson
	Remote    string
}

// Export is one extraction.
type EvidenceExport struct {
	ID        string            `json:"id"`
	CameraID  string            `json:"camera_id"`
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Purpose   string            `json:"purpose"`
	Requester EvidenceRequester `json:"requester"`
	Performer EvidencePerson    `json:"performer"`
	CreatedAt time.Time         `json:"created_at"`
	Bytes     int64             `json:"bytes"`
	SHA256    string            `json:"sha256"`
	LockID    string            `json:"lock_id"`
	Locked    bool              `json:"locked" doc:"the range is protected from retention"`
	Manifest  json.RawMessage   `json:"manifest,omitempty"`
	// OriginSite is the lower site that extracted a federated camera's
	// footage for this site and keeps the evidence lock ("" = made here).
	OriginSite string `json:"origin_site,omitempty"`
	file       string
}

// FieldError is a request problem naming its field.
type FieldError struct {
	Field, Code, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ErrRateLimited is returned when a user made too many exports.
var ErrRateLimited = errors.New("playback: too many exports; try later")

// ErrNotFound is returned for an unknown export.
var ErrNotFound = errors.New("playback: export not found")

func checkText(field, v string, max int) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return &FieldError{field, "required", "required"}
	}
	if len(v) > max {
		return &FieldError{field, "too_long", fmt.Sprintf("at most %d characters", max)}
	}
	return nil
}

func (s *Service) allow(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	ts := s.rate[user]
	for len(ts) > 0 && now.Sub(ts[0]) > time.Hour {
		ts = ts[1:]
	}
	if len(ts) >= s.opt.PerHour {
		s.rate[user] = ts
		return false
	}
	s.rate[user] = append(ts, now)
	return true
}

// Create extracts [From, To) of a camera: writes the MP4, signs its
// manifest, locks the range against retention and audits the extraction,
// all or nothing.
func (s *Service) Create(ctx context.Context, req ExportRequest) (EvidenceExport, error) {
	var ex EvidenceExport
	for _, c := range []struct{ f, v string }{{"purpose", req.Purpose}, {"requester.name", req.Requester.Name},
		{"requester.organisation", req.Requester.Organisation}, {"requester.document", req.Requester.Document}} {
		if err := checkText(c.f, c.v, 500); err != nil {
			return ex, err
		}
	}
	if !req.To.After(req.From) {
		return ex, &FieldError{"to", "invalid_range", "must be after from"}
	}
	if req.To.Sub(req.From) > s.opt.MaxExport {
		return ex, &FieldError{"to", "too_long", fmt.Sprintf("an export is at most %s", s.opt.MaxExport)}
	}
	if !s.allow(req.Performer.ID) {
		return ex, ErrRateLimited
	}
	plan, err := Build(ctx, s.db.Q(), s.res, req.Camera.ID, req.From, req.To, s.opt.MaxExport+time.Minute)
	if err != nil {
		return ex, err
	}
	defer plan.Close()
	if plan.Size() > s.opt.MaxBytes {
		return ex, &FieldError{"to", "too_large", fmt.Sprintf("the export would be %d bytes, over the limit of %d", plan.Size(), s.opt.MaxBytes)}
	}
	id := newExportID()
	name := id + ".mp4"
	final := filepath.Join(s.opt.Dir, name)
	tmp := final + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return ex, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.NewSectionReader(plan, 0, plan.Size()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return ex, fmt.Errorf("playback: write export: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ex = EvidenceExport{ID: id, CameraID: req.Camera.ID, From: plan.Start, To: plan.End, Purpose: strings.TrimSpace(req.Purpose),
		Requester: req.Requester, Performer: req.Performer, CreatedAt: now, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil)), file: name, Locked: true}
	gaps := plan.Gaps
	if gaps == nil {
		gaps = []RecordedSpan{}
	}
	payload := Payload{ExportID: id, Site: s.opt.Site, Camera: req.Camera,
		RequestedFrom: req.From.UTC().Format(time.RFC3339Nano), RequestedTo: req.To.UTC().Format(time.RFC3339Nano),
		From: plan.Start.Format(time.RFC3339Nano), To: plan.End.Format(time.RFC3339Nano), DurationMS: plan.Duration.Milliseconds(),
		Gaps: gaps, File: FileRef{Name: name, Bytes: n, SHA256: ex.SHA256}, Performer: req.Performer, Requester: req.Requester,
		Purpose: ex.Purpose, CreatedAt: now.Format(time.RFC3339Nano), Codec: plan.Codec, SoftwareVendor: s.opt.Software}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		lockID, err := record.AddLock(ctx, tx, req.Camera.ID, min(plan.Start.UnixMilli(), req.From.UnixMilli()), max(plan.End.UnixMilli(), req.To.UnixMilli()), "export "+id, req.Performer.Name)
		if err != nil {
			return err
		}
		ex.LockID, payload.LockID = lockID, lockID
		man, err := Sign(payload, s.key, s.keyID)
		if err != nil {
			return err
		}
		ex.Manifest = man
		if _, err := tx.Exec(ctx, `INSERT INTO playback_exports (id, camera_id, from_ms, to_ms, purpose, requester_name, requester_org, requester_doc,
			performer_id, performer, performer_org, created_at, bytes, sha256, file, manifest, lock_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, req.Camera.ID, plan.Start.UnixMilli(), plan.End.UnixMilli(), ex.Purpose, req.Requester.Name, req.Requester.Organisation, req.Requester.Document,
			req.Performer.ID, req.Performer.Name, req.Performer.Org, store.MS(now), n, ex.SHA256, name, string(man), lockID); err != nil {
			return err
		}
		_, err = s.audit.Append(ctx, tx, audit.Entry{ActorID: req.Performer.ID, Actor: req.Performer.Name, Org: req.Performer.Org,
			Action: "export.create", Object: "camera/" + req.Camera.ID, Outcome: audit.OK, Remote: req.Remote,
			Details: map[string]any{"export_id": id, "purpose": ex.Purpose, "requester": req.Requester.Name,
				"requester_org": req.Requester.Organisation, "requester_doc": req.Requester.Document,
				"from": payload.From, "to": payload.To, "bytes": n, "sha256": ex.SHA256, "lock_id": lockID}})
		return err
	})
	if err != nil {
		os.Remove(final)
		return EvidenceExport{}, err
	}
	if err := os.WriteFile(filepath.Join(s.opt.Dir, id+".manifest.json"), ex.Manifest, 0o640); err != nil {
		return ex, err
	}
	return ex, nil
}

func newExportID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "ex-" + hex.EncodeToString(b[:])
}

// ValidExportID reports whether id has the form of an export id.
func ValidExportID(id string) bool {
	if len(id) != 27 || !strings.HasPrefix(id, "ex-") {
		return false
	}
	_, err := hex.DecodeString(id[3:])
	return err == nil
}

const exportCols = `e.id, e.camera_id, e.from_ms, e.to_ms, e.purpose, e.requester_name, e.requester_org, e.requester_doc,
	e.performer_id, e.performer, e.performer_org, e.created_at, e.bytes, e.sha256, e.file, e.manifest, e.lock_id, l.released_at,
	e.origin_site, e.origin_released_at`

func scanExport(sc interface{ Scan(...any) error }) (EvidenceExport, error) {
	var ex EvidenceExport
	var from, to, at int64
	var man string
	var rel sql.NullInt64
	var originReleased int64
	err := sc.Scan(&ex.ID, &ex.CameraID, &from, &to, &ex.Purpose, &ex.Requester.Name, &ex.Requester.Organisation, &ex.Requester.Document,
		&ex.Performer.ID, &ex.Performer.Name, &ex.Performer.Org, &at, &ex.Bytes, &ex.SHA256, &ex.file, &man, &ex.LockID, &rel,
		&ex.OriginSite, &originReleased)
	ex.From, ex.To, ex.CreatedAt = store.Time(from), store.Time(to), store.Time(at)
	ex.Manifest = json.RawMessage(man)
	ex.Locked = rel.Valid && rel.Int64 == 0
	if ex.OriginSite != "" {
		// The lock is the origin site's; this row mirrors what tier 1 asked.
		ex.Locked = originReleased == 0
	}
	return ex, err
}

// Get reads an export.
func (s *Service) Get(ctx context.Context, id string) (EvidenceExport, error) {
	if !ValidExportID(id) {
		return EvidenceExport{}, ErrNotFound
	}
	ex, err := scanExport(s.db.Q().QueryRow(ctx, `SELECT `+exportCols+` FROM playback_exports e LEFT JOIN record_locks l ON l.id = e.lock_id WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ex, ErrNotFound
	}
	return ex, err
}

// List returns a camera's exports, newest first (camera "" = all).
func (s *Service) List(ctx context.Context, cameraID string, limit int) ([]EvidenceExport, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT ` + exportCols + ` FROM playback_exports e LEFT JOIN record_locks l ON l.id = e.lock_id`
	args := []any{}
	if cameraID != "" {
		q += ` WHERE e.camera_id = ?`
		args = append(args, cameraID)
	}
	q += ` ORDER BY e.created_at DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.Q().Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []EvidenceExport{}
	for rows.Next() {
		ex, err := scanExport(rows)
		if err != nil {
			return nil, err
		}
		ex.Manifest = nil
		out = append(out, ex)
	}
	return out, rows.Err()
}

// FilePath is the exported MP4 on disk.
func (s *Service) FilePath(ex EvidenceExport) (string, error) {
	return record.JoinInside(s.opt.Dir, ex.file)
}

// Release ends an export's lock: retention may delete its range again.
func (s *Service) Release(ctx context.Context, ex EvidenceExport, by EvidencePerson, remote string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := record.ReleaseLock(ctx, tx, ex.LockID, by.Name); err != nil {
			if errors.Is(err, record.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Entry{ActorID: by.ID, Actor: by.Name, Org: by.Org, Action: "export.release",
			Object: "export/" + ex.ID, Outcome: audit.OK, Remote: remote, Details: map[string]any{"camera_id": ex.CameraID, "lock_id": ex.LockID}})
		return err
	})
}

// Share is the managing agency's written consent to share an export
// outside the requesting agency (R-ACC-7).
type ExportShare struct {
	ID            string    `json:"id"`
	ExportID      string    `json:"export_id"`
	RecipientOrg  string    `json:"recipient_org" minLength:"1" maxLength:"64"`
	ConsentDoc    string    `json:"consent_doc" minLength:"1" maxLength:"200" doc:"number of the managing agency's written consent"`
	ConsentDate   time.Time `json:"consent_date"`
	ConsentSigner string    `json:"consent_signer" minLength:"1" maxLength:"200"`
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
}

// AddShare records a consent and audits it.
func (s *Service) AddShare(ctx context.Context, ex EvidenceExport, sh ExportShare, by EvidencePerson, remote string) (ExportShare, error) {
	for _, c := range []struct{ f, v string }{{"recipient_org", sh.RecipientOrg}, {"consent_doc", sh.ConsentDoc}, {"consent_signer", sh.ConsentSigner}} {
		if err := checkText(c.f, c.v, 200); err != nil {
			return sh, err
		}
	}
	if sh.ConsentDate.IsZero() || sh.ConsentDate.After(time.Now().Add(24*time.Hour)) {
		return sh, &FieldError{"consent_date", "invalid", "the date of the written consent is required and cannot be in the future"}
	}
	sh.ID, sh.ExportID, sh.CreatedBy, sh.CreatedAt = newExportID(), ex.ID, by.Name, time.Now().UTC().Truncate(time.Millisecond)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO playback_export_shares (id, export_id, recipient_org, consent_doc, consent_date, consent_signer, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sh.ID, sh.ExportID, sh.RecipientOrg, sh.ConsentDoc, store.MS(sh.ConsentDate), sh.ConsentSigner, sh.CreatedBy, store.MS(sh.CreatedAt)); err != nil {
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Entry{ActorID: by.ID, Actor: by.Name, Org: by.Org, Action: "export.share",
			Object: "export/" + ex.ID, Outcome: audit.OK, Remote: remote, Details: map[string]any{"recipient_org": sh.RecipientOrg,
				"consent_doc": sh.ConsentDoc, "consent_signer": sh.ConsentSigner, "camera_id": ex.CameraID}})
		return err
	})
	return sh, err
}

// SharedWith reports whether an export was shared with org under consent.
func (s *Service) SharedWith(ctx context.Context, exportID, org string) (bool, error) {
	var n int
	err := s.db.Q().QueryRow(ctx, `SELECT COUNT(*) FROM playback_export_shares WHERE export_id = ? AND recipient_org = ?`, exportID, org).Scan(&n)
	return n > 0, err
}

// AuditDownload writes the download's audit entry.
func (s *Service) AuditDownload(ctx context.Context, ex EvidenceExport, by EvidencePerson, remote, what string) error {
	_, err := s.audit.Append(ctx, s.db.Q(), audit.Entry{ActorID: by.ID, Actor: by.Name, Org: by.Org, Action: "export.download",
		Object: "export/" + ex.ID, Outcome: audit.OK, Remote: remote, Details: map[string]any{"camera_id": ex.CameraID, "part": what, "sha256": ex.SHA256}})
	return err
}
