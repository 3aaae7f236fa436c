-- Access (owned by internal/access): the provincial committee's approvals and
-- the grants that extend an organisation's access (R-ACC-4). Times are BIGINT
-- unix milliseconds UTC; 0 means "not set". Sets (actions, purposes, kinds,
-- areas) are BIGINT bit masks so a grant turns into plain `&` tests in the
-- scope filter on both engines.

-- +goose Up
CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    -- the organisation the committee approved access for
    org_id        TEXT NOT NULL REFERENCES organisations(id),
    decision_no   TEXT NOT NULL,
    decision_date BIGINT NOT NULL,
    signer        TEXT NOT NULL,
    scope         TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    -- SHA-256 (lower-case hex) of the scanned signed document
    doc_sha256    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
-- One committee decision is recorded once per organisation.
CREATE UNIQUE INDEX approvals_decision ON approvals(org_id, decision_no);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations(id),
    actions       BIGINT NOT NULL,
    -- Coverage: every criterion that is set must hold ('' / 0 = any). No
    -- foreign key on camera_id/system_id so that retiring a camera does not
    -- need the grant history rewritten; a grant on a missing camera matches
    -- nothing.
    camera_id     TEXT NOT NULL DEFAULT '',
    system_id     TEXT NOT NULL DEFAULT '',
    purposes      BIGINT NOT NULL DEFAULT 0,
    kinds         BIGINT NOT NULL DEFAULT 0,
    areas         BIGINT NOT NULL DEFAULT 0,
    -- NULL for a grant within the organisation's functions.
    approval_id   TEXT REFERENCES approvals(id),
    expires_at    BIGINT NOT NULL DEFAULT 0,
    note          TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT NOT NULL DEFAULT 0,
    revoked_by    TEXT NOT NULL DEFAULT '',
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX grants_org ON grants(org_id, revoked_at);
CREATE INDEX grants_approval ON grants(approval_id);

-- +goose Down
DROP TABLE grants;
DROP TABLE approvals;
