-- Audit heads witnessed outside the database (issue 14): tier 1 keeps every
-- lower site's signed heads, shipped through the federation outbox after
-- the entries they cover, and checks them against the shipped chain. A
-- site that ships two heads for one seq (its log rewound and rewritten)
-- keeps both: the key includes the hash. audit_key pins the public key a
-- lower site signs its heads with, from its first head on (owned by
-- internal/audit and internal/federation).

-- +goose Up
CREATE TABLE federation_audit_heads (
    site_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    key_id      TEXT NOT NULL,
    signature   TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, seq, hash)
);
ALTER TABLE federation_sites ADD COLUMN audit_key TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE federation_sites DROP COLUMN audit_key;
DROP TABLE federation_audit_heads;
