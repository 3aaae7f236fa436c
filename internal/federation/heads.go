package federation

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/store"
)

// A lower site's audit heads go up to tier 1 as a witness the lower site's
// database cannot rewrite (audit.HeadSink): each witnessed head is shipped
// through the outbox after the entries it covers; tier 1 pins the site's
// key, keeps every head (federation_audit_heads) and checks it against the
// chain it received. The lower site can verify its own log against tier 1's
// copy (SiteHeads): a log cut short there shows the entries it lost.

var _ audit.HeadSink = (*Service)(nil)

// WriteHead queues the newest witnessed head for tier 1. It never blocks:
// a head not yet shipped is replaced by a newer one, which covers it.
func (s *Service) WriteHead(_ context.Context, h audit.SignedHead) error {
	s.headMu.Lock()
	s.pendingHead = &h
	s.headMu.Unlock()
	s.Kick()
	return nil
}

// Name is the sink's name in logs.
func (s *Service) Name() string { return "tier1" }

// shipHead publishes the pending head once the entries it covers have left.
func (sh *shipper) shipHead(ctx context.Context) error {
	s := sh.s
	s.headMu.Lock()
	h := s.pendingHead
	s.headMu.Unlock()
	if h == nil || len(s.d.AuditKey) != ed25519.PublicKeySize {
		return nil
	}
	q := s.d.DB.Q()
	auditSeq, outSeq, err := readCursor(ctx, q)
	if err != nil || auditSeq < h.Seq {
		return err
	}
	outSeq++
	env := Envelope{V: envelopeVersion, Site: s.d.Cfg.Site.ID, Seq: outSeq, At: nowMS(), Kind: KindAuditHead,
		Head: &HeadRecord{SignedHead: *h, PublicKey: base64.StdEncoding.EncodeToString(s.d.AuditKey)}}
	if err := sh.publish(ctx, []Envelope{env}); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `UPDATE federation_cursor SET out_seq = ? WHERE id = 1`, outSeq); err != nil {
		return err
	}
	s.headMu.Lock()
	if s.pendingHead == h {
		s.pendingHead = nil
	}
	s.headMu.Unlock()
	return nil
}

// applyHead (tier 1) checks and keeps a lower site's head; it returns the
// seq of the shipped chain the head contradicts (0 if none) and whether the
// head was refused.
func (s *Service) applyHead(ctx context.Context, tx store.Q, site string, h *HeadRecord, auditSeq int64, now int64) (broken int64, refused bool, err error) {
	pub, _ := base64.StdEncoding.DecodeString(h.PublicKey) // checked by DecodeEnvelope
	if secrets.KeyID(pub) != h.KeyID || !h.Check(pub) {
		s.log.Warn("federation: audit head with a bad signature refused", "site", site, "seq", h.Seq)
		return 0, true, nil
	}
	var pinned string
	if err := tx.QueryRow(ctx, `SELECT audit_key FROM federation_sites WHERE site_id = ?`, site).Scan(&pinned); err != nil {
		return 0, false, err
	}
	switch pinned {
	case "":
		if _, err := tx.Exec(ctx, `UPDATE federation_sites SET audit_key = ? WHERE site_id = ?`, h.PublicKey, site); err != nil {
			return 0, false, err
		}
	case h.PublicKey:
	default:
		s.log.Warn("federation: audit head signed with another key than the site's refused", "site", site, "seq", h.Seq, "key_id", h.KeyID)
		return 0, true, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO federation_audit_heads (site_id, seq, hash, at, key_id, signature, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		site, h.Seq, h.Hash, h.AtMS, h.KeyID, h.Signature, now)
	if err != nil && !store.IsUniqueViolation(err) {
		return 0, false, err
	}
	if h.Seq > auditSeq {
		return 0, false, nil // its entries have not arrived: VerifySiteAudit shows it
	}
	var hash string
	err = tx.QueryRow(ctx, `SELECT hash FROM federation_audit WHERE site_id = ? AND seq = ?`, site, h.Seq).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return h.Seq, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if hash != h.Hash {
		s.log.Error("federation: a lower site's witnessed audit head differs from the log it shipped: its log was rewritten",
			"site", site, "seq", h.Seq)
		return h.Seq, false, nil
	}
	return 0, false, nil
}

// SiteHeads is tier 1's copy of a lower site's witnessed heads, in seq
// order: a witness the lower site's log can be verified against
// (audit.Witnessed.Read of their lines).
func (s *Service) SiteHeads(ctx context.Context, site string) ([]audit.SignedHead, error) {
	rows, err := s.d.DB.Q().Query(ctx, `SELECT seq, hash, at, key_id, signature FROM federation_audit_heads WHERE site_id = ? ORDER BY seq, received_at`, site)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.SignedHead
	for rows.Next() {
		h := audit.SignedHead{Site: site}
		if err := rows.Scan(&h.Seq, &h.Hash, &h.AtMS, &h.KeyID, &h.Signature); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// checkHeads holds the stored chain of a site to its stored heads: every
// head must be an entry of the chain with that hash.
func (s *Service) checkHeads(ctx context.Context, r *AuditReport) error {
	rows, err := s.d.DB.Q().Query(ctx, `SELECT h.seq, h.hash, COALESCE(a.hash, '') FROM federation_audit_heads h
		LEFT JOIN federation_audit a ON a.site_id = h.site_id AND a.seq = h.seq WHERE h.site_id = ? ORDER BY h.seq`, r.SiteID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var witnessed, shipped string
		if err := rows.Scan(&seq, &witnessed, &shipped); err != nil {
			return err
		}
		r.Heads++
		r.HeadSeq = max(r.HeadSeq, seq)
		if !r.OK {
			continue
		}
		switch {
		case shipped == "":
			r.OK, r.BrokenAt, r.Problem = false, seq, fmt.Sprintf("head_beyond_log: entries %d..%d witnessed but not received", r.LastSeq+1, seq)
		case shipped != witnessed:
			r.OK, r.BrokenAt, r.Problem = false, seq, "head_mismatch"
		}
	}
	return rows.Err()
}
