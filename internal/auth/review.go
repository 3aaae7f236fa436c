package auth

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// Account review support (R-ACC-5: the department reviews who still needs
// what; R-ACC-6: admin passwords have a maximum age). ops records the review
// itself; these are the questions it asks.

// LastLogin returns when the user last logged in (zero: never).
func (s *Service) LastLogin(ctx context.Context, userID string) (time.Time, error) {
	var at int64
	err := s.db.Q().QueryRow(ctx, `SELECT last_login_at FROM users WHERE id = ?`, userID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	return store.Time(at), err
}

// InactiveUsers lists enabled users with no login for at least d: those who
// logged in before now-d, and those who never did and were created before
// now-d.
func (s *Service) InactiveUsers(ctx context.Context, d time.Duration) ([]User, error) {
	cut := s.now().Add(-d).UnixMilli()
	return s.queryUsers(ctx, `SELECT `+userCols+` FROM users WHERE disabled = FALSE AND
		((last_login_at > 0 AND last_login_at <= ?) OR (last_login_at = 0 AND created_at <= ?)) ORDER BY username_key`, cut, cut)
}

// AdminsPasswordExpired lists enabled admins whose password is older than
// the policy's AdminPasswordMaxAge (their next login is forced to change it).
func (s *Service) AdminsPasswordExpired(ctx context.Context) ([]User, error) {
	cut := s.now().Add(-s.pol.AdminPasswordMaxAge).UnixMilli()
	return s.queryUsers(ctx, `SELECT `+userCols+` FROM users WHERE disabled = FALSE AND (roles & ?) <> 0
		AND password_changed_at < ? ORDER BY username_key`, int64(adminBit), cut)
}
