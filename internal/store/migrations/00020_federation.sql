-- Federation (owned by internal/federation): the link between tiers
-- (R-FED-1..4). Tier 1 keeps enrollments, enrolled sites with their link
-- state and history, link-down alerts, the shipped audit log of each lower
-- site, and per federated camera its status and the time tier 1 first saw it
-- online after its last change (the 5-day rule, R-FED-2). A lower site keeps
-- its shipping cursor. Times are BIGINT unix milliseconds UTC.

-- +goose Up
-- origin_site marks a camera federated from a lower site ('' = local); such
-- a camera is edited only by its own site, through the federation link.
ALTER TABLE cameras ADD COLUMN origin_site TEXT NOT NULL DEFAULT '';
CREATE INDEX cameras_origin_site ON cameras(origin_site);

CREATE TABLE federation_enrollments (
    token_hash  TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL,
    systems     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX federation_enrollments_site ON federation_enrollments(site_id);

CREATE TABLE federation_sites (
    site_id      TEXT PRIMARY KEY,
    systems      TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    push_token   TEXT NOT NULL DEFAULT '',
    enrolled_at  BIGINT NOT NULL,
    revoked_at   BIGINT NOT NULL DEFAULT 0,
    link_state   TEXT NOT NULL DEFAULT 'never',
    state_since  BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL DEFAULT 0,
    applied_seq  BIGINT NOT NULL DEFAULT 0,
    rejected     BIGINT NOT NULL DEFAULT 0,
    audit_seq    BIGINT NOT NULL DEFAULT 0,
    audit_hash   TEXT NOT NULL DEFAULT '',
    audit_broken BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE federation_link_events (
    site_id TEXT NOT NULL,
    n       BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    state   TEXT NOT NULL,
    PRIMARY KEY (site_id, n)
);

CREATE TABLE federation_alerts (
    id        TEXT PRIMARY KEY,
    site_id   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    down_since BIGINT NOT NULL,
    closed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX federation_alerts_site ON federation_alerts(site_id, closed_at);

CREATE TABLE federation_audit (
    site_id   TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    actor_id  TEXT NOT NULL,
    actor     TEXT NOT NULL,
    org       TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    details   TEXT NOT NULL,
    remote    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    PRIMARY KEY (site_id, seq)
);

CREATE TABLE federation_cameras (
    camera_id      TEXT PRIMARY KEY,
    site_id        TEXT NOT NULL,
    remote_version BIGINT NOT NULL,
    online         BOOLEAN NOT NULL DEFAULT FALSE,
    status_at      BIGINT NOT NULL DEFAULT 0,
    seen_online_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX federation_cameras_site ON federation_cameras(site_id);

-- A lower site's shipping cursor: the last audit seq shipped and the last
-- outbox sequence number used.
CREATE TABLE federation_cursor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    audit_seq BIGINT NOT NULL,
    out_seq   BIGINT NOT NULL
);
INSERT INTO federation_cursor (id, audit_seq, out_seq) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE federation_cursor;
DROP TABLE federation_cameras;
DROP TABLE federation_audit;
DROP TABLE federation_alerts;
DROP TABLE federation_link_events;
DROP TABLE federation_sites;
DROP TABLE federation_enrollments;
DROP INDEX cameras_origin_site;
ALTER TABLE cameras DROP COLUMN origin_site;
