package auth

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// User is an account as the API shows it: no hash, no TOTP secret.
type User struct {
	ID                 string    `json:"id"`
	Username           string    `json:"username"`
	DisplayName        string    `json:"display_name"`
	OrgID              string    `json:"org_id"`
	Roles              []string  `json:"roles"`
	Disabled           bool      `json:"disabled"`
	DisabledAt         time.Time `json:"disabled_at,omitzero"`
	MustChangePassword bool      `json:"must_change_password"`
	PasswordChangedAt  time.Time `json:"password_changed_at"`
	LastLoginAt        time.Time `json:"last_login_at,omitzero"`
	TOTPEnabled        bool      `json:"totp_enabled"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// IsAdmin reports whether the user holds the admin role.
func (u *User) IsAdmin() bool { return indexOf(u.Roles, RoleAdmin) >= 0 }

// NewUser is what CreateUser needs.
type NewUser struct {
	Username        string
	DisplayName     string
	OrgID           string
	Roles           []string
	InitialPassword string // must meet the policy; the user changes it at first login
}

const userCols = `id, username, display_name, org_id, roles, disabled, disabled_at, must_change_password,
	password_changed_at, last_login_at, totp_enabled, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (*User, error) {
	var (
		u                                    User
		roles, disAt, pwAt, lastAt, cAt, uAt int64
	)
	if err := r.Scan(&u.ID, &u.Username, &u.DisplayName, &u.OrgID, &roles, &u.Disabled, &disAt,
		&u.MustChangePassword, &pwAt, &lastAt, &u.TOTPEnabled, &cAt, &uAt); err != nil {
		return nil, err
	}
	u.Roles = roleNames(roles)
	u.DisabledAt, u.PasswordChangedAt, u.LastLoginAt = store.Time(disAt), store.Time(pwAt), store.Time(lastAt)
	u.CreatedAt, u.UpdatedAt = store.Time(cAt), store.Time(uAt)
	return &u, nil
}

// NormalizeUsername returns the case-folded key of a username, or
// ErrInvalidUsername. Usernames are ASCII so that case-insensitivity is
// unambiguous (no Unicode case or normalisation traps); display names carry
// the Vietnamese.
func NormalizeUsername(username string) (string, error) {
	u := strings.TrimSpace(username)
	if len(u) < 2 || len(u) > 64 {
		return "", ErrInvalidUsername
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			(i > 0 && (c == '.' || c == '_' || c == '-' || c == '@'))
		if !ok {
			return "", ErrInvalidUsername
		}
	}
	return strings.ToLower(u), nil
}

func cleanDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 200 {
		return "", ErrInvalidInput
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", ErrInvalidInput
		}
	}
	return s, nil
}

// CreateUser adds an account. The initial password must meet the policy and
// must be changed at first login.
func (s *Service) CreateUser(ctx context.Context, by Actor, nu NewUser) (*User, error) {
	key, err := NormalizeUsername(nu.Username)
	if err != nil {
		return nil, err
	}
	display, err := cleanDisplayName(nu.DisplayName)
	if err != nil {
		return nil, err
	}
	roles, err := roleMask(nu.Roles)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(nu.OrgID) == "" {
		return nil, ErrInvalidInput
	}
	if v := CheckComplexity(nu.InitialPassword, key, s.pol.MinPasswordLength); len(v) > 0 {
		return nil, policyError(v)
	}
	hash, err := s.hash(ctx, nu.InitialPassword)
	if err != nil {
		return nil, err
	}
	now := s.nowMS()
	id := newID("usr_")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, username, username_key, display_name, org_id, roles,
			must_change_password, password_hash, password_changed_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?)`,
			id, strings.TrimSpace(nu.Username), key, display, nu.OrgID, roles, hash, now, now, now)
		if store.IsUniqueViolation(err) {
			return ErrUsernameTaken
		}
		if store.IsForeignKeyViolation(err) {
			e := *ErrInvalidInput
			e.Message, e.MessageVI = "unknown organisation", "Không tìm thấy tổ chức"
			return &e
		}
		if err != nil {
			return err
		}
		if err := addHistory(ctx, tx, id, hash, now, s.pol.PasswordHistory); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "user.create", Object: "user/" + id,
			Details: map[string]any{"username": key, "org_id": nu.OrgID, "roles": roleNames(roles)}})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Get returns one user.
func (s *Service) Get(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.db.Q().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return u, err
}

// GetByUsername returns one user by name (case-insensitive).
func (s *Service) GetByUsername(ctx context.Context, username string) (*User, error) {
	key, err := NormalizeUsername(username)
	if err != nil {
		return nil, ErrNotFound
	}
	u, err := scanUser(s.db.Q().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return u, err
}

// ListFilter narrows List; zero values match everything.
type ListFilter struct {
	OrgID           string
	Role            string
	IncludeDisabled bool
}

// List returns the users matching f, by username.
func (s *Service) List(ctx context.Context, f ListFilter) ([]User, error) {
	q := `SELECT ` + userCols + ` FROM users WHERE 1=1`
	var args []any
	if f.OrgID != "" {
		q += ` AND org_id = ?`
		args = append(args, f.OrgID)
	}
	if f.Role != "" {
		m, err := roleMask([]string{f.Role})
		if err != nil {
			return nil, err
		}
		q += ` AND (roles & ?) <> 0`
		args = append(args, m)
	}
	if !f.IncludeDisabled {
		q += ` AND disabled = FALSE`
	}
	q += ` ORDER BY username_key`
	return s.queryUsers(ctx, q, args...)
}

func (s *Service) queryUsers(ctx context.Context, q string, args ...any) ([]User, error) {
	rows, err := s.db.Q().Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// UpdateRoles replaces a user's roles.
func (s *Service) UpdateRoles(ctx context.Context, by Actor, id string, roles []string) (*User, error) {
	m, err := roleMask(roles)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var old int64
		if err := tx.QueryRow(ctx, `SELECT roles FROM users WHERE id = ?`, id).Scan(&old); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET roles = ?, updated_at = ? WHERE id = ?`, m, s.nowMS(), id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "user.update_roles", Object: "user/" + id,
			Details: map[string]any{"from": roleNames(old), "to": roleNames(m)}})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// UpdateDisplayName changes the name shown for a user.
func (s *Service) UpdateDisplayName(ctx context.Context, by Actor, id, name string) (*User, error) {
	name, err := cleanDisplayName(name)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE users SET display_name = ?, updated_at = ? WHERE id = ?`, name, s.nowMS(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "user.update", Object: "user/" + id,
			Details: map[string]any{"display_name": name}})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Disable stops a user: logins fail, sessions and API tokens stop
// authenticating at once, and revocation listeners (the media hub) are told
// after commit so live streams end.
func (s *Service) Disable(ctx context.Context, by Actor, id string) error {
	now := s.nowMS()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE users SET disabled = TRUE, disabled_at = ?, updated_at = ? WHERE id = ? AND disabled = FALSE`, now, now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := s.getQ(ctx, tx, id); err != nil {
				return err
			}
			return nil // already disabled: nothing to record
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, by, audit.Entry{Action: "user.disable", Object: "user/" + id}); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.announce(id, now) })
		return nil
	})
	return err
}

// Enable lets a disabled user log in again (old sessions stay ended).
func (s *Service) Enable(ctx context.Context, by Actor, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE users SET disabled = FALSE, disabled_at = 0, updated_at = ? WHERE id = ? AND disabled = TRUE`, s.nowMS(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			_, err := s.getQ(ctx, tx, id)
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "user.enable", Object: "user/" + id})
	})
}

func (s *Service) getQ(ctx context.Context, q store.Q, id string) (*User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return u, err
}

// SetPassword is an administrator's reset: the new password must meet the
// policy (history included), the user must change it at next login, and
// every session of the user ends.
func (s *Service) SetPassword(ctx context.Context, by Actor, id, password string) error {
	u, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.checkNewPassword(ctx, u, password); err != nil {
		return err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.nowMS()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ?, must_change_password = TRUE,
			updated_at = ? WHERE id = ?`, hash, now, now, id); err != nil {
			return err
		}
		if err := addHistory(ctx, tx, id, hash, now, s.pol.PasswordHistory); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "user.set_password", Object: "user/" + id})
	})
}

// ChangePassword is the user changing their own password: the current one
// is required, the new one must meet the policy and not be one of the last
// PasswordHistory. On success the calling session is no longer restricted
// and the user's other sessions end.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, oldPassword, newPassword, remote string) error {
	if p == nil || p.UserID == "" {
		return ErrUnauthenticated
	}
	lu, err := s.loadLoginUserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if lu == nil || lu.disabled {
		return ErrUnauthenticated
	}
	key := strings.ToLower(lu.username)
	// A stolen session must not become an unthrottled password oracle: a
	// wrong current password counts towards the same lockout as a login.
	locked, err := s.isLocked(ctx, key)
	if err != nil {
		return err
	}
	ok, err := s.verify(ctx, oldPassword, lu.hash)
	if err != nil {
		return err
	}
	if locked || !ok {
		reason := ReasonBadPassword
		if locked {
			reason = ReasonLocked
		}
		if err := s.fail(ctx, "user.change_password", key, lu, reason, remote, !locked); !errors.Is(err, ErrInvalidCredentials) {
			return err
		}
		return ErrWrongPassword
	}
	u, err := s.Get(ctx, p.UserID)
	if err != nil {
		return err
	}
	if err := s.checkNewPassword(ctx, u, newPassword); err != nil {
		return err
	}
	newHash, err := s.hash(ctx, newPassword)
	if err != nil {
		return err
	}
	now := s.nowMS()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ?, must_change_password = FALSE,
			updated_at = ? WHERE id = ?`, newHash, now, now, p.UserID); err != nil {
			return err
		}
		if err := addHistory(ctx, tx, p.UserID, newHash, now, s.pol.PasswordHistory); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, p.UserID, p.SessionID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET must_change = FALSE WHERE id_hash = ?`, p.SessionID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p.Actor(remote), audit.Entry{Action: "user.change_password", Object: "user/" + p.UserID})
	})
}

// checkNewPassword applies the complexity rules and the no-reuse rule.
func (s *Service) checkNewPassword(ctx context.Context, u *User, password string) error {
	if v := CheckComplexity(password, u.Username, s.pol.MinPasswordLength); len(v) > 0 {
		return policyError(v)
	}
	rows, err := s.db.Q().Query(ctx, `SELECT hash FROM password_history WHERE user_id = ? ORDER BY seq DESC LIMIT ?`,
		u.ID, s.pol.PasswordHistory)
	if err != nil {
		return err
	}
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return err
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hashes {
		ok, err := s.verify(ctx, password, h)
		if err != nil {
			return err
		}
		if ok {
			return policyError([]string{RuleReused})
		}
	}
	return nil
}

// addHistory records hash as the newest password and forgets those beyond
// keep (old hashes are still secrets worth not keeping).
func addHistory(ctx context.Context, q store.Q, userID, hash string, now int64, keep int) error {
	var seq int64
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM password_history WHERE user_id = ?`, userID).Scan(&seq); err != nil {
		return err
	}
	seq++
	if _, err := q.Exec(ctx, `INSERT INTO password_history (id, user_id, hash, created_at, seq) VALUES (?, ?, ?, ?, ?)`,
		newID("pwh_"), userID, hash, now, seq); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM password_history WHERE user_id = ? AND seq <= ?`, userID, seq-int64(keep))
	return err
}
