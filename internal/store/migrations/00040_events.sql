-- Analytics events and ONVIF devices (owned by internal/events and
-- internal/onvif; R-CAM-1). Times are BIGINT unix milliseconds UTC.

-- +goose Up
-- One row per event; the columns of a kind the others leave at their zero.
-- plate is the canonical plate (A–Z, 0–9), plate_fuzzy its OCR-tolerant key;
-- personal marks plates and faces (own retention, own permission).
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    camera_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    at_ms           BIGINT NOT NULL,
    received_ms     BIGINT NOT NULL,
    source          TEXT NOT NULL,
    ext_id          TEXT,
    personal        BOOLEAN NOT NULL,
    confidence      DOUBLE PRECISION NOT NULL DEFAULT 0,
    snapshot        TEXT NOT NULL DEFAULT '',
    plate           TEXT,
    plate_fuzzy     TEXT,
    vehicle_class   TEXT NOT NULL DEFAULT '',
    colour          TEXT NOT NULL DEFAULT '',
    direction       TEXT NOT NULL DEFAULT '',
    lane            INTEGER NOT NULL DEFAULT 0,
    watchlist_entry TEXT NOT NULL DEFAULT '',
    watchlist       TEXT NOT NULL DEFAULT '',
    similarity      DOUBLE PRECISION NOT NULL DEFAULT 0,
    count_value     BIGINT NOT NULL DEFAULT 0,
    threshold       BIGINT NOT NULL DEFAULT 0,
    crossed         BOOLEAN NOT NULL DEFAULT FALSE,
    interval_s      INTEGER NOT NULL DEFAULT 0,
    rule            TEXT NOT NULL DEFAULT '',
    object_class    TEXT NOT NULL DEFAULT ''
);
-- a sender's event id is stored once per camera (NULLs never collide)
CREATE UNIQUE INDEX events_ext ON events(camera_id, ext_id);
CREATE INDEX events_cam_at ON events(camera_id, at_ms);
CREATE INDEX events_kind_at ON events(kind, at_ms);
CREATE INDEX events_plate ON events(plate, at_ms);
CREATE INDEX events_plate_fuzzy ON events(plate_fuzzy, at_ms);
CREATE INDEX events_at ON events(at_ms);

-- Webhook keys, one per camera (HMAC-SHA256), sealed at rest.
CREATE TABLE event_keys (
    camera_id  TEXT PRIMARY KEY,
    key_sealed TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The personal-data permission (plates, faces), separate from roles:
-- scopes is a bit mask (1 plates, 2 faces); basis the legal basis or
-- decision that justifies it; expires_at 0 = no expiry.
CREATE TABLE personal_data_permissions (
    user_id    TEXT PRIMARY KEY,
    scopes     BIGINT NOT NULL,
    basis      TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A camera's ONVIF device: address, sealed credentials, the clock offset
-- last measured, the chosen profiles and the service addresses.
CREATE TABLE onvif_devices (
    camera_id       TEXT PRIMARY KEY,
    xaddr           TEXT NOT NULL,
    cred_sealed     TEXT NOT NULL,
    auth_mode       TEXT NOT NULL,
    clock_offset_ms BIGINT NOT NULL,
    main_profile    TEXT NOT NULL,
    sub_profile     TEXT NOT NULL,
    media_xaddr     TEXT NOT NULL,
    ptz_xaddr       TEXT NOT NULL,
    events_xaddr    TEXT NOT NULL,
    snapshot_uri    TEXT NOT NULL,
    manufacturer    TEXT NOT NULL,
    model           TEXT NOT NULL,
    firmware        TEXT NOT NULL,
    serial          TEXT NOT NULL,
    events_enabled  BOOLEAN NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE onvif_devices;
DROP TABLE personal_data_permissions;
DROP TABLE event_keys;
DROP TABLE events;
