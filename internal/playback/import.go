package playback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Exports made at another site. Tier 1 keeps no recordings of a lower
// site's cameras; when a tier-1 user extracts one, the lower site makes the
// export (its manifest, signed with its key; its retention lock; its audit
// entry) and tier 1 brings a copy into its own evidence store with Import,
// so the tier-1 user downloads, shares and verifies it like a local one and
// the extraction is in tier 1's audit log as well.

// ImportRequest is an export made at Origin, arriving at this site.
type ImportRequest struct {
	Origin   string // the site that made it (its manifest must say so)
	Manifest []byte // its signed manifest, as the origin wrote it
	File     io.Reader
	// Performer and Remote are the local user who asked for the export.
	Performer EvidencePerson
	Remote    string
	// TrustKey, when set, is asked whether the origin may sign with this
	// key id (the caller pins each site's key); an error refuses the file.
	TrustKey func(keyID string) error
}

// ErrBadImport is an export whose file or manifest does not hold up.
var ErrBadImport = errors.New("playback: imported export does not match its manifest")

// Import checks an export made at another site against its manifest (the
// signature, the site, the file's size and SHA-256), stores the file and
// the manifest under the export's own id and audits the extraction here.
func (s *Service) Import(ctx context.Context, req ImportRequest) (EvidenceExport, error) {
	var ex EvidenceExport
	p, sig, err := ParseManifest(req.Manifest)
	if err != nil {
		return ex, fmt.Errorf("%w: %v", ErrBadImport, err)
	}
	switch {
	case req.Origin == "" || p.Site.ID != req.Origin:
		return ex, fmt.Errorf("%w: signed by site %q, expected %q", ErrBadImport, p.Site.ID, req.Origin)
	case !ValidExportID(p.ExportID):
		return ex, fmt.Errorf("%w: bad export id", ErrBadImport)
	}
	if req.TrustKey != nil {
		if err := req.TrustKey(sig.KeyID); err != nil {
			return ex, fmt.Errorf("%w: %v", ErrBadImport, err)
		}
	}
	from, err1 := time.Parse(time.RFC3339Nano, p.From)
	to, err2 := time.Parse(time.RFC3339Nano, p.To)
	if err1 != nil || err2 != nil {
		return ex, fmt.Errorf("%w: bad range", ErrBadImport)
	}
	name := p.ExportID + ".mp4"
	final := filepath.Join(s.opt.Dir, name)
	if _, err := os.Stat(final); err == nil {
		return ex, fmt.Errorf("%w: export %s is already here", ErrBadImport, p.ExportID)
	}
	tmp := final + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return ex, err
	}
	h := sha256.New()
	// One byte more than announced tells a longer file from a right one.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(req.File, p.File.Bytes+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != p.File.Bytes {
		err = fmt.Errorf("%w: %d bytes arrived, the manifest says %d", ErrBadImport, n, p.File.Bytes)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); err == nil && sum != p.File.SHA256 {
		err = fmt.Errorf("%w: SHA-256 %s, the manifest says %s", ErrBadImport, sum, p.File.SHA256)
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return ex, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ex = EvidenceExport{ID: p.ExportID, CameraID: p.Camera.ID, From: from, To: to, Purpose: p.Purpose, Requester: p.Requester,
		Performer: req.Performer, CreatedAt: now, Bytes: n, SHA256: p.File.SHA256, Locked: true, Manifest: req.Manifest,
		OriginSite: req.Origin, file: name}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// lock_id stays empty here: the lock is the origin's (its id is in
		// the manifest), and ids of two sites' locks must not meet in a join.
		if _, err := tx.Exec(ctx, `INSERT INTO playback_exports (id, camera_id, from_ms, to_ms, purpose, requester_name, requester_org, requester_doc,
			performer_id, performer, performer_org, created_at, bytes, sha256, file, manifest, lock_id, origin_site, origin_released_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0)`,
			ex.ID, ex.CameraID, from.UnixMilli(), to.UnixMilli(), ex.Purpose, ex.Requester.Name, ex.Requester.Organisation, ex.Requester.Document,
			req.Performer.ID, req.Performer.Name, req.Performer.Org, store.MS(now), n, ex.SHA256, name, string(req.Manifest), req.Origin); err != nil {
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Entry{ActorID: req.Performer.ID, Actor: req.Performer.Name, Org: req.Performer.Org,
			Action: "export.create", Object: "camera/" + ex.CameraID, Outcome: audit.OK, Remote: req.Remote,
			Details: map[string]any{"export_id": ex.ID, "origin_site": req.Origin, "origin_key_id": sig.KeyID, "origin_lock_id": p.LockID,
				"purpose": ex.Purpose, "requester": ex.Requester.Name, "requester_org": ex.Requester.Organisation,
				"requester_doc": ex.Requester.Document, "from": p.From, "to": p.To, "bytes": n, "sha256": ex.SHA256}})
		return err
	})
	if err != nil {
		os.Remove(final)
		return EvidenceExport{}, err
	}
	if err := os.WriteFile(filepath.Join(s.opt.Dir, ex.ID+".manifest.json"), req.Manifest, 0o640); err != nil {
		return ex, err
	}
	return ex, nil
}

// MarkOriginReleased records that the origin site released an imported
// export's lock (at tier 1's request) and audits it here.
func (s *Service) MarkOriginReleased(ctx context.Context, ex EvidenceExport, by EvidencePerson, remote string) error {
	if ex.OriginSite == "" {
		return fmt.Errorf("playback: export %s was made here", ex.ID)
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE playback_exports SET origin_released_at = ? WHERE id = ? AND origin_released_at = 0`,
			store.NowMS(), ex.ID); err != nil {
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Entry{ActorID: by.ID, Actor: by.Name, Org: by.Org, Action: "export.release",
			Object: "export/" + ex.ID, Outcome: audit.OK, Remote: remote,
			Details: map[string]any{"camera_id": ex.CameraID, "origin_site": ex.OriginSite}})
		return err
	})
}

// PerformedFor reports whether an export was made for a user of site (a
// performer id of the form "<site>/<user id>", see federation).
func PerformedFor(ex EvidenceExport, site string) bool {
	return site != "" && strings.HasPrefix(ex.Performer.ID, site+"/")
}
