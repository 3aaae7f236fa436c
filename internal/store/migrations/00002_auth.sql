-- Auth: users, password history, sessions, API tokens, login throttling
-- (owned by internal/auth). Times are BIGINT unix milliseconds UTC.
-- Secrets are never stored in the clear: passwords as argon2id PHC strings,
-- session ids and API tokens as their SHA-256 (hex), TOTP secrets sealed by
-- internal/secrets (AES-GCM).

-- +goose Up
CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL,
    -- Lower-cased username: uniqueness and lookups are case-insensitive on
    -- both engines without relying on collations or functional indexes.
    username_key         TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL DEFAULT '',
    org_id               TEXT NOT NULL REFERENCES organisations(id),
    -- Bit mask of roles (see internal/auth Roles): admin=1, operator=2,
    -- viewer=4, auditor=8, so "every admin" is one SQL expression.
    roles                BIGINT NOT NULL DEFAULT 0,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_at          BIGINT NOT NULL DEFAULT 0,
    must_change_password BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash        TEXT NOT NULL,
    password_changed_at  BIGINT NOT NULL,
    last_login_at        BIGINT NOT NULL DEFAULT 0,
    totp_sealed          TEXT NOT NULL DEFAULT '',
    totp_pending_sealed  TEXT NOT NULL DEFAULT '',
    totp_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    -- Last accepted TOTP time step: a code is accepted only for a later step,
    -- so the same code cannot be replayed (also across nodes).
    totp_last_step       BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX users_org ON users(org_id);
CREATE INDEX users_disabled_at ON users(disabled_at);

CREATE TABLE password_history (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq        BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history(user_id, seq);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    -- restricted: the session may only change the password (first login,
    -- expired admin password) or enrol TOTP.
    must_change  BOOLEAN NOT NULL DEFAULT FALSE,
    must_totp    BOOLEAN NOT NULL DEFAULT FALSE,
    remote       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- Failed logins per username (known or not, so lockout does not reveal which
-- accounts exist). Counted in the database so every node sees the same count.
CREATE TABLE login_failures (
    id           TEXT PRIMARY KEY,
    username_key TEXT NOT NULL,
    at           BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    remote       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX login_failures_user_at ON login_failures(username_key, at);

-- One row per throttled username: the row is upserted first in a failure's
-- transaction, which serialises concurrent failures for the same name on
-- PostgreSQL (row lock) as SQLite's single writer does.
CREATE TABLE login_locks (
    username_key TEXT PRIMARY KEY,
    locked_until BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE login_locks;
DROP TABLE login_failures;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE password_history;
DROP TABLE users;
