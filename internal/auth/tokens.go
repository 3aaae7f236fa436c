package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// APITokenPrefix starts every API token, so a leaked one is recognisable by
// secret scanners and never confused with a session id.
const APITokenPrefix = "vigil_"

// APIToken is an integration token as listed (never the secret).
type APIToken struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"` // first characters, to recognise it
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// CreateToken issues an API token acting as userID (with that user's roles,
// whatever they are at each use). ttl ≤ 0 means the policy's maximum; a
// longer ttl is cut to it. The plaintext is returned once; only its SHA-256
// is stored.
func (s *Service) CreateToken(ctx context.Context, by Actor, userID, name string, ttl time.Duration) (string, *APIToken, error) {
	name, err := cleanDisplayName(name)
	if err != nil || name == "" {
		return "", nil, ErrInvalidInput
	}
	if ttl <= 0 || ttl > s.pol.APITokenMaxAge {
		ttl = s.pol.APITokenMaxAge
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	plain := APITokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	t := &APIToken{ID: newID("tok_"), UserID: userID, Name: name, Prefix: plain[:len(APITokenPrefix)+6],
		CreatedAt: store.Time(now.UnixMilli()), ExpiresAt: store.Time(now.Add(ttl).UnixMilli())}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := s.getQ(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, userID, name, hashHex(plain), t.Prefix, store.MS(t.CreatedAt), store.MS(t.ExpiresAt)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "token.create", Object: "token/" + t.ID,
			Details: map[string]any{"user_id": userID, "name": name, "expires_at": t.ExpiresAt.Format(time.RFC3339)}})
	})
	if err != nil {
		return "", nil, err
	}
	return plain, t, nil
}

// ListTokens lists a user's tokens, revoked and expired ones included.
func (s *Service) ListTokens(ctx context.Context, userID string) ([]APIToken, error) {
	rows, err := s.db.Q().Query(ctx, `SELECT id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at
		FROM api_tokens WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		var (
			t          APIToken
			c, e, l, r int64
		)
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &c, &e, &l, &r); err != nil {
			return nil, err
		}
		t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = store.Time(c), store.Time(e), store.Time(l), store.Time(r)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken ends a token at once. Revoking twice is not an error.
func (s *Service) RevokeToken(ctx context.Context, by Actor, tokenID string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var uid string
		var revoked int64
		err := tx.QueryRow(ctx, `SELECT user_id, revoked_at FROM api_tokens WHERE id = ?`, tokenID).Scan(&uid, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenNotFound
		}
		if err != nil || revoked != 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, s.nowMS(), tokenID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, audit.Entry{Action: "token.revoke", Object: "token/" + tokenID,
			Details: map[string]any{"user_id": uid}})
	})
}

// AuthenticateToken resolves an API token to its principal (the owner's
// current roles). Unknown, revoked and expired tokens and disabled owners
// all answer ErrTokenInvalid.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, APITokenPrefix) || len(token) > maxSecretLen {
		return nil, ErrTokenInvalid
	}
	var (
		p                     Principal
		roles, exp, rev, used int64
		disabled              bool
	)
	err := s.db.Q().QueryRow(ctx, `SELECT t.id, u.id, u.username, u.org_id, u.roles, u.disabled, t.expires_at, t.revoked_at, t.last_used_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`, hashHex(token)).
		Scan(&p.TokenID, &p.UserID, &p.Username, &p.OrgID, &roles, &disabled, &exp, &rev, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrTokenInvalid
	}
	if err != nil {
		return nil, err
	}
	nowMS := s.nowMS()
	if disabled || rev != 0 || nowMS >= exp {
		return nil, ErrTokenInvalid
	}
	// Last use is for reviews, not accounting: write at most once a minute.
	// The check itself only reads: a stamp that cannot be written (a full
	// disk, a read-only database) must not turn a valid token into an
	// invalid one, so its failure is left for the next use to retry.
	if nowMS-used >= time.Minute.Milliseconds() {
		_, _ = s.db.Q().Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, nowMS, p.TokenID)
	}
	p.Roles = roleNames(roles)
	p.ExpiresAt = store.Time(exp)
	return &p, nil
}
