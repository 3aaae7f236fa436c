-- Audit log (owned by internal/audit): append-only, hash-chained, with signed
-- checkpoints (R-SEC-1, R-SEC-2). seq is assigned by the application, gap-free,
-- under the lock of the one-row audit_head table, so both engines serialise
-- appends the same way (row lock on PostgreSQL, the write lock on SQLite).
-- Hashes are lowercase hex SHA-256; signatures are base64 Ed25519.

-- +goose Up
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor_id  TEXT NOT NULL,
    actor     TEXT NOT NULL,
    org       TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    -- canonical JSON (sorted keys) exactly as hashed
    details   TEXT NOT NULL,
    remote    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
-- Filters of the audit viewer page by seq (keyset paging newest first).
CREATE INDEX audit_log_actor ON audit_log(actor_id, seq);
CREATE INDEX audit_log_org ON audit_log(org, seq);
CREATE INDEX audit_log_object ON audit_log(object, seq);
CREATE INDEX audit_log_at ON audit_log(at);

-- The chain's head: last seq and hash, and the last checkpoint. Updated first
-- in every appending transaction, which is what serialises appends.
CREATE TABLE audit_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    seq      BIGINT NOT NULL,
    hash     TEXT NOT NULL,
    ckpt_seq BIGINT NOT NULL,
    ckpt_at  BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, ckpt_seq, ckpt_at) VALUES (1, 0, '', 0, 0);

CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    signature TEXT NOT NULL,
    key_id    TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_head;
DROP TABLE audit_log;
