-- Health and operations (owned by internal/health and internal/ops):
-- camera status history, incidents against their deadline (R-OPS-1, R-OPS-5),
-- the notification outbox, account reviews (R-ACC-5, R-ACC-6), poles and
-- cabinets, installations with consents and compatibility checks
-- (R-INS-1..3), assets and maintenance (R-OPS-3, R-OPS-4).
-- Times are BIGINT unix milliseconds UTC; 0 means "not set".

-- +goose Up
-- The last status seen per camera stream; a row of camera_status_events is
-- written only when it changes, so history stays small and uptime is a walk
-- over transitions.
CREATE TABLE camera_status (
    camera_id  TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    since      BIGINT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    checked_at BIGINT NOT NULL
);

CREATE TABLE camera_status_events (
    id         TEXT PRIMARY KEY,
    camera_id  TEXT NOT NULL,
    status     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX camera_status_events_cam ON camera_status_events(camera_id, at);

CREATE TABLE incidents (
    id               TEXT PRIMARY KEY,
    category         TEXT NOT NULL,
    source           TEXT NOT NULL, -- auto or manual
    object           TEXT NOT NULL DEFAULT '', -- camera/<id>, system/<id>, link/<site>
    camera_id        TEXT NOT NULL DEFAULT '',
    system_id        TEXT NOT NULL DEFAULT '',
    assigned_org_id  TEXT NOT NULL DEFAULT '',
    managing_org_id  TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,
    detected_at      BIGINT NOT NULL,
    deadline_at      BIGINT NOT NULL,
    reporter_id      TEXT NOT NULL DEFAULT '',
    reporter_name    TEXT NOT NULL DEFAULT '',
    reporter_org_id  TEXT NOT NULL DEFAULT '',
    acknowledged_at  BIGINT NOT NULL DEFAULT 0,
    acknowledged_by  TEXT NOT NULL DEFAULT '',
    resolved_at      BIGINT NOT NULL DEFAULT 0,
    resolved_by      TEXT NOT NULL DEFAULT '',
    resolution       TEXT NOT NULL DEFAULT '',
    closed_at        BIGINT NOT NULL DEFAULT 0,
    closed_by        TEXT NOT NULL DEFAULT '',
    escalation_level INTEGER NOT NULL DEFAULT 0,
    -- category|object while an automatic incident is unresolved, NULL after:
    -- at most one open automatic incident per fault (NULLs never collide).
    auto_key         TEXT UNIQUE,
    version          BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX incidents_state ON incidents(state, deadline_at);
CREATE INDEX incidents_assigned ON incidents(assigned_org_id);
CREATE INDEX incidents_detected ON incidents(detected_at);

-- Outbox of notifications: written in the transaction of the change, sent by
-- a background worker with retries, so a slow mail server never blocks an
-- operator and a crash loses nothing.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL, -- webhook or email
    target      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    event       TEXT NOT NULL,
    incident_id TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL, -- pending, sent, failed
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notifications_due ON notifications(state, next_at);

CREATE TABLE review_campaigns (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    inactive_days INTEGER NOT NULL,
    state         TEXT NOT NULL, -- open, closed
    opened_by     TEXT NOT NULL,
    opened_at     BIGINT NOT NULL,
    closed_by     TEXT NOT NULL DEFAULT '',
    closed_at     BIGINT NOT NULL DEFAULT 0,
    confirmed     INTEGER NOT NULL DEFAULT 0,
    revoked       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE review_items (
    campaign_id       TEXT NOT NULL REFERENCES review_campaigns(id),
    user_id           TEXT NOT NULL,
    username          TEXT NOT NULL,
    org_id            TEXT NOT NULL,
    roles             TEXT NOT NULL,
    last_login_at     BIGINT NOT NULL DEFAULT 0,
    inactive          BOOLEAN NOT NULL DEFAULT FALSE,
    admin_pwd_expired BOOLEAN NOT NULL DEFAULT FALSE,
    decision          TEXT NOT NULL DEFAULT '', -- '', confirmed, revoked
    reviewer          TEXT NOT NULL DEFAULT '',
    decided_at        BIGINT NOT NULL DEFAULT 0,
    note              TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (campaign_id, user_id)
);

-- Shared infrastructure (R-INS-2).
CREATE TABLE poles (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL, -- pole or cabinet
    name         TEXT NOT NULL,
    owner_org_id TEXT NOT NULL REFERENCES organisations(id),
    lat          DOUBLE PRECISION NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    address      TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);

CREATE TABLE installations (
    id             TEXT PRIMARY KEY,
    system_id      TEXT NOT NULL REFERENCES systems(id),
    pole_id        TEXT NOT NULL DEFAULT '',
    title          TEXT NOT NULL,
    lat            DOUBLE PRECISION NOT NULL,
    lon            DOUBLE PRECISION NOT NULL,
    address        TEXT NOT NULL DEFAULT '',
    technical_plan TEXT NOT NULL,
    state_area     BOOLEAN NOT NULL DEFAULT FALSE,
    public_place   BOOLEAN NOT NULL DEFAULT TRUE,
    state          TEXT NOT NULL, -- requested, approved, rejected, installed
    probe_json     TEXT NOT NULL DEFAULT '',
    probed_at      BIGINT NOT NULL DEFAULT 0,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE installation_consents (
    id              TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL REFERENCES installations(id),
    kind            TEXT NOT NULL, -- department or area_manager
    doc_no          TEXT NOT NULL,
    doc_date        TEXT NOT NULL, -- YYYY-MM-DD
    signer          TEXT NOT NULL,
    doc_sha256      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX installation_consents_kind ON installation_consents(installation_id, kind);

-- Assets and maintenance (R-OPS-3, R-OPS-4). Money in whole VND.
CREATE TABLE assets (
    id             TEXT PRIMARY KEY,
    system_id      TEXT NOT NULL REFERENCES systems(id),
    camera_id      TEXT NOT NULL DEFAULT '',
    pole_id        TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL,
    serial         TEXT NOT NULL DEFAULT '',
    firmware       TEXT NOT NULL DEFAULT '',
    qcvn_cert      TEXT NOT NULL DEFAULT '', -- QCVN 135:2024 certificate number
    purchase_cost  BIGINT NOT NULL DEFAULT 0,
    yearly_op_cost BIGINT NOT NULL DEFAULT 0,
    installed_at   BIGINT NOT NULL DEFAULT 0,
    warranty_end   BIGINT NOT NULL DEFAULT 0,
    replace_due    BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);
CREATE INDEX assets_system ON assets(system_id);

CREATE TABLE maintenance_plans (
    id            TEXT PRIMARY KEY,
    system_id     TEXT NOT NULL REFERENCES systems(id),
    asset_id      TEXT NOT NULL DEFAULT '',
    title         TEXT NOT NULL,
    every_days    INTEGER NOT NULL,
    next_due      BIGINT NOT NULL,
    cost_estimate BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE maintenance_records (
    id         TEXT PRIMARY KEY,
    plan_id    TEXT NOT NULL DEFAULT '',
    system_id  TEXT NOT NULL REFERENCES systems(id),
    asset_id   TEXT NOT NULL DEFAULT '',
    done_at    BIGINT NOT NULL,
    done_by    TEXT NOT NULL,
    cost       BIGINT NOT NULL DEFAULT 0,
    notes      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX maintenance_records_done ON maintenance_records(done_at);

-- +goose Down
DROP TABLE maintenance_records;
DROP TABLE maintenance_plans;
DROP TABLE assets;
DROP TABLE installation_consents;
DROP TABLE installations;
DROP TABLE poles;
DROP TABLE review_items;
DROP TABLE review_campaigns;
DROP TABLE notifications;
DROP TABLE incidents;
DROP TABLE camera_status_events;
DROP TABLE camera_status;
