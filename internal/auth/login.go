package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// LoginState says what a successful password check led to.
type LoginState string

const (
	// LoginOK: a full session.
	LoginOK LoginState = "ok"
	// LoginMustChangePassword: a session restricted to changing the password
	// (first login, an administrator reset, an admin password past max age).
	LoginMustChangePassword LoginState = "must_change_password"
	// LoginMustEnrollTOTP: an admin without TOTP where the policy requires
	// it; the session is restricted to enrolling.
	LoginMustEnrollTOTP LoginState = "must_enroll_totp"
	// LoginTOTPRequired: the password was right; submit again with the code.
	// No session is created.
	LoginTOTPRequired LoginState = "totp_required"
)

// LoginResult is the answer to a login that passed the password check.
type LoginResult struct {
	State LoginState `json:"state"`
	// SessionID is the session's secret (the cookie value). Shown once: only
	// its SHA-256 is stored. Empty for LoginTOTPRequired.
	SessionID string     `json:"-"`
	Principal *Principal `json:"principal,omitempty"`
	// PasswordExpired: MustChange is due to the admin password's max age.
	PasswordExpired bool `json:"password_expired,omitempty"`
}

// Failure reasons recorded in the audit log (never shown to the client).
const (
	ReasonUnknownUser  = "unknown_user"
	ReasonBadPassword  = "bad_password"
	ReasonLocked       = "locked"
	ReasonDisabled     = "disabled"
	ReasonBadTOTP      = "bad_totp"
	ReasonTOTPRequired = "totp_required"
)

type loginUser struct {
	id, username, org, hash, totpSealed string
	roles, pwChanged, totpLastStep      int64
	disabled, mustChange, totpEnabled   bool
}

// Login checks username, password and (when enrolled) the TOTP code. Every
// failure returns ErrInvalidCredentials, whatever the cause, and costs about
// one argon2 hash; the audit entry (action "auth.login") records the true
// reason. Failures are counted per username in the database, so the lockout
// holds across nodes.
func (s *Service) Login(ctx context.Context, username, password, totpCode, remote string) (*LoginResult, error) {
	key, kerr := NormalizeUsername(username)
	if kerr != nil {
		// Still count it against the (cleaned) name and burn a hash: a
		// malformed name must not be a fast, unthrottled probe.
		key = cleanForLog(username, 64)
	}
	now := s.now()
	nowMS := now.UnixMilli()

	locked, err := s.isLocked(ctx, key)
	if err != nil {
		return nil, err
	}

	var u *loginUser
	if kerr == nil {
		u, err = s.loadLoginUser(ctx, key)
		if err != nil {
			return nil, err
		}
	}
	// Always hash once, so the answer's timing says nothing about which
	// check failed.
	hash := s.dummyHash
	if u != nil {
		hash = u.hash
	}
	// No real password is longer than the policy allows; a megabyte of
	// input must not cost more than a normal attempt (still one hash, so the
	// timing stays uniform).
	tooLong := len(password) > maxPasswordBytes
	if tooLong {
		password = password[:maxPasswordBytes]
	}
	pwOK, err := s.verify(ctx, password, hash)
	if err != nil {
		return nil, err
	}
	pwOK = pwOK && u != nil && !tooLong

	switch {
	case locked:
		return nil, s.fail(ctx, "auth.login", key, u, ReasonLocked, remote, false)
	case u == nil:
		return nil, s.fail(ctx, "auth.login", key, nil, ReasonUnknownUser, remote, true)
	case u.disabled:
		return nil, s.fail(ctx, "auth.login", key, u, ReasonDisabled, remote, !pwOK)
	case !pwOK:
		return nil, s.fail(ctx, "auth.login", key, u, ReasonBadPassword, remote, true)
	}

	var totpStep int64
	if u.totpEnabled {
		if totpCode == "" {
			// Recorded (R-SEC-1: every login attempt); an unrecorded step is
			// an error, not a silent success.
			if err := s.db.InTx(ctx, func(tx *store.Tx) error {
				return s.appendAudit(ctx, tx, Actor{UserID: u.id, Username: u.username, OrgID: u.org, Remote: remote},
					audit.Entry{Action: "auth.login", Object: "user/" + u.id, Outcome: audit.Failed, Reason: ReasonTOTPRequired})
			}); err != nil {
				return nil, err
			}
			return &LoginResult{State: LoginTOTPRequired}, nil
		}
		step, ok := s.matchTOTP(u.totpSealed, totpCode, now, u.totpLastStep)
		if !ok {
			return nil, s.fail(ctx, "auth.login", key, u, ReasonBadTOTP, remote, true)
		}
		totpStep = step
	}

	res := &LoginResult{State: LoginOK}
	isAdmin := u.roles&adminBit != 0
	mustChange := u.mustChange
	if isAdmin && nowMS-u.pwChanged > s.pol.AdminPasswordMaxAge.Milliseconds() {
		mustChange, res.PasswordExpired = true, true
	}
	mustTOTP := isAdmin && s.pol.RequireTOTPForAdmins && !u.totpEnabled
	switch {
	case mustChange:
		res.State = LoginMustChangePassword
	case mustTOTP:
		res.State = LoginMustEnrollTOTP
	}

	// Upgrade an old-cost hash while we hold the password.
	var rehash string
	if needsRehash(u.hash, s.pol.Argon2) {
		if h, err := s.hash(ctx, password); err == nil {
			rehash = h
		}
	}

	secret, handle := newSessionSecret()
	expires := nowMS + s.pol.SessionMax.Milliseconds()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if u.totpEnabled {
			// Conditional on the last step: two nodes racing with the same
			// code cannot both win.
			r, err := tx.Exec(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, totpStep, u.id, totpStep)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return errTOTPReplay
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, nowMS, u.id); err != nil {
			return err
		}
		if rehash != "" {
			if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, rehash, u.id, u.hash); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, must_change, must_totp, remote)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, handle, u.id, nowMS, nowMS, expires, mustChange, mustTOTP && !mustChange, truncate(remote, 200)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE username_key = ?`, key); err != nil {
			return err
		}
		details := map[string]any{"session": handle[:16], "state": string(res.State)}
		if res.PasswordExpired {
			details["password_expired"] = true
		}
		return s.appendAudit(ctx, tx, Actor{UserID: u.id, Username: u.username, OrgID: u.org, Remote: remote},
			audit.Entry{Action: "auth.login", Object: "user/" + u.id, Details: details})
	})
	if errors.Is(err, errTOTPReplay) {
		return nil, s.fail(ctx, "auth.login", key, u, ReasonBadTOTP, remote, true)
	}
	if err != nil {
		return nil, err
	}
	res.SessionID = secret
	res.Principal = &Principal{UserID: u.id, Username: u.username, OrgID: u.org, Roles: roleNames(u.roles),
		MustChange: mustChange, MustEnrollTOTP: mustTOTP && !mustChange, SessionID: handle, CSRF: csrfFor(secret),
		ExpiresAt: store.Time(expires)}
	return res, nil
}

var errTOTPReplay = errors.New("auth: totp step already used")

// isLocked reports whether the username key is locked out now.
func (s *Service) isLocked(ctx context.Context, key string) (bool, error) {
	var until int64
	err := s.db.Q().QueryRow(ctx, `SELECT locked_until FROM login_locks WHERE username_key = ?`, key).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return until > s.nowMS(), err
}

func (s *Service) loadLoginUser(ctx context.Context, key string) (*loginUser, error) {
	return s.loadLoginUserWhere(ctx, `username_key = ?`, key)
}

func (s *Service) loadLoginUserByID(ctx context.Context, id string) (*loginUser, error) {
	return s.loadLoginUserWhere(ctx, `id = ?`, id)
}

func (s *Service) loadLoginUserWhere(ctx context.Context, where string, arg string) (*loginUser, error) {
	var u loginUser
	err := s.db.Q().QueryRow(ctx, `SELECT id, username, org_id, password_hash, totp_sealed, roles, password_changed_at,
		totp_last_step, disabled, must_change_password, totp_enabled FROM users WHERE `+where, arg).
		Scan(&u.id, &u.username, &u.org, &u.hash, &u.totpSealed, &u.roles, &u.pwChanged, &u.totpLastStep,
			&u.disabled, &u.mustChange, &u.totpEnabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// fail records a failed login, or a wrong current password at a password
// change (action), with the true reason in the audit log; a counted failure
// may lock the username. It returns the generic error; a database error is
// returned instead, so an outage is not mistaken for bad credentials.
func (s *Service) fail(ctx context.Context, action, key string, u *loginUser, reason, remote string, count bool) error {
	nowMS := s.nowMS()
	actor := Actor{Username: key, Remote: remote}
	object := ""
	if u != nil {
		actor = Actor{UserID: u.id, Username: u.username, OrgID: u.org, Remote: remote}
		object = "user/" + u.id
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		details := map[string]any{}
		if count {
			// Upsert first: on PostgreSQL the row lock serialises concurrent
			// failures for one name, so the count below cannot be raced.
			if _, err := tx.Exec(ctx, `INSERT INTO login_locks (username_key, locked_until, updated_at) VALUES (?, 0, ?)
				ON CONFLICT (username_key) DO UPDATE SET updated_at = excluded.updated_at`, key, nowMS); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO login_failures (id, username_key, at, reason, remote) VALUES (?, ?, ?, ?, ?)`,
				newID("lf_"), key, nowMS, reason, truncate(remote, 200)); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM login_failures WHERE username_key = ? AND at > ?`,
				key, nowMS-s.pol.LockoutWindow.Milliseconds()).Scan(&n); err != nil {
				return err
			}
			details["failures_in_window"] = n
			if n >= s.pol.LockoutFailures {
				until := nowMS + s.pol.LockoutDuration.Milliseconds()
				if _, err := tx.Exec(ctx, `UPDATE login_locks SET locked_until = ? WHERE username_key = ?`, until, key); err != nil {
					return err
				}
				// Start the next window afresh once the lock ends.
				if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE username_key = ?`, key); err != nil {
					return err
				}
				details["locked_until"] = store.Time(until).Format(time.RFC3339)
				if err := s.appendAudit(ctx, tx, actor, audit.Entry{Action: "auth.lockout", Object: object,
					Reason: "too_many_failures", Details: map[string]any{"username": key, "until": details["locked_until"]}}); err != nil {
					return err
				}
			}
		}
		if len(details) == 0 {
			details = nil
		}
		return s.appendAudit(ctx, tx, actor, audit.Entry{Action: action, Object: object,
			Outcome: audit.Failed, Reason: reason, Details: details})
	})
	if err != nil {
		return err
	}
	return ErrInvalidCredentials
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// cleanForLog makes attacker-typed text safe for the log and the database:
// valid UTF-8, no control characters, at most n bytes on a rune boundary.
func cleanForLog(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// newSessionSecret returns a random 32-byte session secret (base64url) and
// its public handle, the hex SHA-256 stored in the database.
func newSessionSecret() (secret, handle string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashHex(secret)
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// csrfFor derives the session's CSRF token from its secret: bound to the
// session, nothing extra to store, and (a different hash than the stored
// handle) a database reader cannot compute it without the secret. Knowing
// the CSRF token does not reveal the session secret.
func csrfFor(secret string) string {
	h := sha256.Sum256([]byte("vigil-csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// CheckCSRF reports whether token is the CSRF token of p's session,
// comparing in constant time.
func (p *Principal) CheckCSRF(token string) bool {
	if p == nil || p.CSRF == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p.CSRF), []byte(token)) == 1
}

// maxSecretLen bounds what is hashed for a lookup; real secrets are 43-48
// characters.
const maxSecretLen = 128

// Authenticate resolves a session secret (the cookie value) to its
// principal, sliding the idle timeout. An expired session is deleted.
// A disabled user's sessions do not authenticate.
func (s *Service) Authenticate(ctx context.Context, sessionSecret string) (*Principal, error) {
	if sessionSecret == "" || len(sessionSecret) > maxSecretLen {
		return nil, ErrUnauthenticated
	}
	handle := hashHex(sessionSecret)
	var (
		p                          Principal
		roles, lastSeen, expiresAt int64
		disabled                   bool
	)
	err := s.db.Q().QueryRow(ctx, `SELECT u.id, u.username, u.org_id, u.roles, u.disabled, s.last_seen_at, s.expires_at,
		s.must_change, s.must_totp FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, handle).
		Scan(&p.UserID, &p.Username, &p.OrgID, &roles, &disabled, &lastSeen, &expiresAt, &p.MustChange, &p.MustEnrollTOTP)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	nowMS := s.nowMS()
	if disabled || nowMS >= expiresAt || nowMS-lastSeen >= s.pol.SessionIdle.Milliseconds() {
		// The session is over whether or not the delete is written; one
		// that cannot be (a full disk) is retried by the next check.
		_, _ = s.db.Q().Exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, handle)
		return nil, ErrUnauthenticated
	}
	// Slide the idle timeout, but write at most about once a minute per
	// session: a busy console must not turn every request into a write.
	// The check only reads: when the slide cannot be written (a full disk,
	// a read-only database) the session stays valid on what was read, and
	// the next request tries the slide again; it is never a 401.
	if nowMS-lastSeen >= s.slideEvery().Milliseconds() {
		_, _ = s.db.Q().Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?`,
			nowMS, handle, nowMS)
	}
	p.Roles = roleNames(roles)
	p.SessionID = handle
	p.CSRF = csrfFor(sessionSecret)
	p.ExpiresAt = store.Time(expiresAt)
	return &p, nil
}

func (s *Service) slideEvery() time.Duration {
	d := s.pol.SessionIdle / 30
	if d > time.Minute {
		d = time.Minute
	}
	return d
}

// Logout ends the session with this secret. Unknown secrets are not an error.
func (s *Service) Logout(ctx context.Context, sessionSecret, remote string) error {
	if sessionSecret == "" || len(sessionSecret) > maxSecretLen {
		return nil
	}
	handle := hashHex(sessionSecret)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var uid, uname, org string
		err := tx.QueryRow(ctx, `SELECT u.id, u.username, u.org_id FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.id_hash = ?`, handle).Scan(&uid, &uname, &org)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, handle); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, Actor{UserID: uid, Username: uname, OrgID: org, Remote: remote},
			audit.Entry{Action: "auth.logout", Object: "user/" + uid, Details: map[string]any{"session": handle[:16]}})
	})
}

// Session is a live session as an administrator sees it (no secret).
type Session struct {
	ID         string    `json:"id"` // the public handle
	UserID     string    `json:"user_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Remote     string    `json:"remote"`
	Restricted bool      `json:"restricted"`
}

// ListSessions lists a user's unexpired sessions.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	nowMS := s.nowMS()
	rows, err := s.db.Q().Query(ctx, `SELECT id_hash, user_id, created_at, last_seen_at, expires_at, remote, must_change, must_totp
		FROM sessions WHERE user_id = ? AND expires_at > ? AND last_seen_at > ? ORDER BY created_at`,
		userID, nowMS, nowMS-s.pol.SessionIdle.Milliseconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var (
			x       Session
			c, l, e int64
			mc, mt  bool
		)
		if err := rows.Scan(&x.ID, &x.UserID, &c, &l, &e, &x.Remote, &mc, &mt); err != nil {
			return nil, err
		}
		x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.Restricted = store.Time(c), store.Time(l), store.Time(e), mc || mt
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession ends a session by its public handle (an administrator
// throwing someone out, or a user ending another device's session).
func (s *Service) RevokeSession(ctx context.Context, by Actor, handle string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var uid string
		err := tx.QueryRow(ctx, `SELECT user_id FROM sessions WHERE id_hash = ?`, handle).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, handle); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "session.revoke", Object: "user/" + uid,
			Details: map[string]any{"session": truncate(handle, 16)}})
	})
}
