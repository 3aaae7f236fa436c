package events

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// PersonalPermission is a user's personal-data permission as the API shows it.
type PersonalPermission struct {
	UserID    string    `json:"user_id"`
	Scopes    []string  `json:"scopes" doc:"plates, faces"`
	Basis     string    `json:"basis" doc:"legal basis or decision that justifies it"`
	GrantedBy string    `json:"granted_by"`
	GrantedAt time.Time `json:"granted_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// PersonalGrant reads a user's grant (zero when none).
func (s *Service) PersonalGrant(ctx context.Context, userID string) (access.PersonalGrant, error) {
	var scopes, exp int64
	err := s.o.DB.Q().QueryRow(ctx, `SELECT scopes, expires_at FROM personal_data_permissions WHERE user_id = ?`, userID).Scan(&scopes, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return access.PersonalGrant{}, nil
	}
	if err != nil {
		return access.PersonalGrant{}, err
	}
	return access.PersonalGrant{Scopes: access.PersonalData(scopes), Expires: store.Time(exp)}, nil
}

// GetPersonalPermission reads the permission of a user.
func (s *Service) GetPersonalPermission(ctx context.Context, userID string) (PersonalPermission, error) {
	p := PersonalPermission{UserID: userID, Scopes: []string{}}
	var scopes, at, exp int64
	err := s.o.DB.Q().QueryRow(ctx, `SELECT scopes, basis, granted_by, granted_at, expires_at FROM personal_data_permissions WHERE user_id = ?`, userID).
		Scan(&scopes, &p.Basis, &p.GrantedBy, &at, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	p.Scopes, p.GrantedAt, p.ExpiresAt = access.PersonalData(scopes).Names(), store.Time(at), store.Time(exp)
	return p, err
}

// FieldError names an input field and what is wrong with it.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// SetPersonalPermission replaces (or, with no scopes, removes) a user's
// permission; by is the audit entry's actor part.
func (s *Service) SetPersonalPermission(ctx context.Context, by audit.Entry, userID string, scopes []string, basis string, expires time.Time) (PersonalPermission, error) {
	m, err := access.ParsePersonalData(scopes)
	if err != nil {
		return PersonalPermission{}, &FieldError{Field: "scopes", Msg: err.Error()}
	}
	basis = strings.TrimSpace(basis)
	if m != 0 && (basis == "" || len(basis) > 500) {
		return PersonalPermission{}, &FieldError{Field: "basis", Msg: "the legal basis (1–500 characters) is required"}
	}
	now := s.o.Now()
	if !expires.IsZero() && !expires.After(now) {
		return PersonalPermission{}, &FieldError{Field: "expires_at", Msg: "must be in the future"}
	}
	err = s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE id = ?`, userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM personal_data_permissions WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if m != 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO personal_data_permissions (user_id, scopes, basis, granted_by, granted_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
				userID, int64(m), basis, by.ActorID, now.UnixMilli(), store.MS(expires)); err != nil {
				return err
			}
		}
		e := by
		e.Action, e.Object, e.Outcome = "personal_data.grant", "user/"+userID, audit.OK
		e.Details = map[string]any{"scopes": m.Names(), "basis": basis}
		if !expires.IsZero() {
			e.Details["expires_at"] = expires.UTC().Format(time.RFC3339)
		}
		_, err := s.o.Audit.Append(ctx, tx, e)
		return err
	})
	if err != nil {
		return PersonalPermission{}, err
	}
	return s.GetPersonalPermission(ctx, userID)
}

// ErrNotFound: no such user or camera.
var ErrNotFound = errors.New("events: not found")
