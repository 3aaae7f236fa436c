package auth

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// TOTP follows RFC 6238 as authenticator apps expect it: SHA-1, 6 digits,
// 30-second steps.
const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrollment is shown to the user once, to load into an authenticator
// app. It is a secret: never log it.
type TOTPEnrollment struct {
	URL    string `json:"otpauth_url"`
	Secret string `json:"secret"`
}

// EnrollTOTP starts (or restarts) TOTP enrolment for the user behind p: a
// new secret is sealed as pending and returned once. TOTP becomes active
// only after ConfirmTOTP proves the app has it.
func (s *Service) EnrollTOTP(ctx context.Context, p *Principal, remote string) (*TOTPEnrollment, error) {
	if p == nil || p.UserID == "" {
		return nil, ErrUnauthenticated
	}
	if s.sealer == nil {
		return nil, errors.New("auth: TOTP needs a sealer")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.pol.TOTPIssuer, AccountName: p.Username,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()))
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE users SET totp_pending_sealed = ?, updated_at = ? WHERE id = ? AND disabled = FALSE`,
			sealed, s.nowMS(), p.UserID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.appendAudit(ctx, tx, p.Actor(remote), audit.Entry{Action: "auth.totp_enroll", Object: "user/" + p.UserID})
	})
	if err != nil {
		return nil, err
	}
	return &TOTPEnrollment{URL: key.URL(), Secret: key.Secret()}, nil
}

// ConfirmTOTP activates the pending secret when code matches it. The step
// of code is remembered, so it cannot then be used to log in. A session
// restricted to enrolling TOTP becomes a full one.
func (s *Service) ConfirmTOTP(ctx context.Context, p *Principal, code, remote string) error {
	if p == nil || p.UserID == "" {
		return ErrUnauthenticated
	}
	var pending string
	err := s.db.Q().QueryRow(ctx, `SELECT totp_pending_sealed FROM users WHERE id = ? AND disabled = FALSE`, p.UserID).Scan(&pending)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if pending == "" {
		return ErrTOTPNotPending
	}
	step, ok := s.matchTOTP(pending, code, s.now(), 0)
	if !ok {
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			return s.appendAudit(ctx, tx, p.Actor(remote), audit.Entry{Action: "auth.totp_confirm", Object: "user/" + p.UserID,
				Outcome: audit.Failed, Reason: ReasonBadTOTP})
		}); err != nil {
			return err
		}
		return ErrTOTPInvalid
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE users SET totp_sealed = totp_pending_sealed, totp_pending_sealed = '', totp_enabled = TRUE,
			totp_last_step = ?, updated_at = ? WHERE id = ? AND totp_pending_sealed = ?`, step, s.nowMS(), p.UserID, pending)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrTOTPNotPending // a concurrent re-enrolment replaced it
		}
		if p.SessionID != "" {
			if _, err := tx.Exec(ctx, `UPDATE sessions SET must_totp = FALSE WHERE id_hash = ?`, p.SessionID); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, p.Actor(remote), audit.Entry{Action: "auth.totp_confirm", Object: "user/" + p.UserID})
	})
}

// DisableTOTP removes a user's TOTP (an administrator helping a user who
// lost the phone, or the user). Authorisation is the caller's.
func (s *Service) DisableTOTP(ctx context.Context, by Actor, userID string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE users SET totp_sealed = '', totp_pending_sealed = '', totp_enabled = FALSE,
			updated_at = ? WHERE id = ?`, s.nowMS(), userID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "auth.totp_disable", Object: "user/" + userID})
	})
}

// matchTOTP checks code against the sealed secret at now ±1 step and
// returns the matching step. Steps at or before lastStep are refused (a
// code is good once). Every candidate is compared, in constant time.
func (s *Service) matchTOTP(sealed, code string, now time.Time, lastStep int64) (int64, bool) {
	if s.sealer == nil || sealed == "" || len(code) != 6 {
		return 0, false
	}
	secret, err := s.sealer.Open(sealed)
	if err != nil {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var found int64
	for st := cur - 1; st <= cur+1; st++ {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(st*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && st > lastStep && found == 0 {
			found = st
		}
	}
	clear(secret)
	return found, found != 0
}
