package events

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Webhook signing: the sender posts the JSON body with
//
//	X-Vigil-Camera:    <camera id>
//	X-Vigil-Timestamp: <unix seconds>
//	X-Vigil-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>
//
// with the camera's key. A timestamp more than WebhookSkew away from ours is
// refused, so a captured request cannot be replayed later; within the window
// a replay is harmless when the sender sets external_id (stored once).
const WebhookSkew = 5 * time.Minute

// Sign computes the signature header value (senders, tests).
func Sign(key []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature: missing, stale or wrong signature (the reason says which).
type ErrBadSignature struct{ Reason string }

func (e *ErrBadSignature) Error() string { return "events: webhook signature: " + e.Reason }

// CreateKey makes a new webhook key for a camera (replacing the old one)
// and returns it once, base64url-encoded; only its sealed form is stored.
func (s *Service) CreateKey(ctx context.Context, by audit.Entry, cameraID string) (string, error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	sealed, err := s.o.Sealer.Seal(raw)
	if err != nil {
		return "", err
	}
	err = s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM cameras WHERE id = ?`, cameraID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM event_keys WHERE camera_id = ?`, cameraID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO event_keys (camera_id, key_sealed, created_by, created_at) VALUES (?, ?, ?, ?)`,
			cameraID, sealed, by.ActorID, s.o.Now().UnixMilli()); err != nil {
			return err
		}
		e := by
		e.Action, e.Object, e.Outcome = "events.key_create", "camera/"+cameraID, audit.OK
		_, err := s.o.Audit.Append(ctx, tx, e)
		return err
	})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	delete(s.keys, cameraID)
	s.mu.Unlock()
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// DecodeKey reads a key as CreateKey returned it.
func DecodeKey(k string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(k) }

func (s *Service) key(ctx context.Context, cameraID string) ([]byte, error) {
	s.mu.Lock()
	k, ok := s.keys[cameraID]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	var sealed string
	err := s.o.DB.Q().QueryRow(ctx, `SELECT key_sealed FROM event_keys WHERE camera_id = ?`, cameraID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	k, err = s.o.Sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("events: open webhook key: %w", err)
	}
	s.mu.Lock()
	if len(s.keys) > 100_000 {
		clear(s.keys)
	}
	s.keys[cameraID] = k
	s.mu.Unlock()
	return k, nil
}

// VerifyWebhook checks the signature of a webhook request. Every failure
// is counted under source "webhook".
func (s *Service) VerifyWebhook(ctx context.Context, cameraID, ts, sig string, body []byte) error {
	fail := func(reason string) error {
		s.rejected.WithLabelValues("webhook", reason).Inc()
		return &ErrBadSignature{Reason: reason}
	}
	if cameraID == "" || ts == "" || sig == "" {
		return fail("unsigned")
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fail("bad_timestamp")
	}
	if d := s.o.Now().Sub(time.Unix(t, 0)); d > WebhookSkew || d < -WebhookSkew {
		return fail("stale_timestamp")
	}
	k, err := s.key(ctx, cameraID)
	if err != nil {
		return err
	}
	if k == nil {
		// same answer as a wrong signature: ids cannot be probed
		return fail("bad_signature")
	}
	want := Sign(k, t, body)
	if !hmac.Equal([]byte(want), []byte(strings.TrimSpace(sig))) {
		return fail("bad_signature")
	}
	return nil
}

// IngestWebhook parses a verified body and ingests it: every event must be
// of the signing camera.
func (s *Service) IngestWebhook(ctx context.Context, cameraID string, body []byte) (int, error) {
	evs, r := ParseJSON(body)
	if r != nil {
		s.CountRejection("webhook", r)
		return 0, &RejectedError{Rejections: []IndexedRejection{{Index: -1, Rejection: *r}}}
	}
	for i := range evs {
		if evs[i].CameraID == "" {
			evs[i].CameraID = cameraID
		} else if evs[i].CameraID != cameraID {
			rj := IndexedRejection{Index: i, Rejection: Rejection{Reason: "camera_mismatch", Field: "camera_id", Detail: "signed by another camera's key"}}
			s.rejected.WithLabelValues("webhook", rj.Reason).Inc()
			return 0, &RejectedError{Rejections: []IndexedRejection{rj}}
		}
	}
	return s.Ingest(ctx, "webhook", evs)
}
