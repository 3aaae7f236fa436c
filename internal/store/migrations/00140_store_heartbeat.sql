-- The write probe behind /readyz (owned by internal/store): one row whose
-- counter every probe bumps in a transaction, so "the database answers" and
-- "the database can write" are told apart (a full disk, a read-only
-- PostgreSQL) without touching any real data.

-- +goose Up
CREATE TABLE store_heartbeat (
    id    INTEGER PRIMARY KEY,
    beats BIGINT NOT NULL,
    at    BIGINT NOT NULL
);
INSERT INTO store_heartbeat (id, beats, at) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE store_heartbeat;
