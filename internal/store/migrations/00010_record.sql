-- Recording and playback (owned by internal/record and internal/playback).
-- A segment is one fMP4 file (init + 1 s fragments) of one camera stream. The
-- index answers every timeline and playback question: the file tree is only
-- walked by the start-up reconcile. Times are unix ms UTC.

-- +goose Up
CREATE TABLE record_segments (
    id           TEXT PRIMARY KEY,
    camera_id    TEXT NOT NULL,
    variant      TEXT NOT NULL,
    start_ms     BIGINT NOT NULL,
    end_ms       BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    frames       BIGINT NOT NULL,
    -- storage folder (its configured name) and the path inside it
    storage      TEXT NOT NULL,
    path         TEXT NOT NULL,
    codec        TEXT NOT NULL,
    -- open (being written), ok, missing (file gone), deleting (retention in progress)
    state        TEXT NOT NULL,
    -- why the segment began: start, roll, gap, overflow, recovered
    start_reason TEXT NOT NULL,
    node         TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX record_segments_cam ON record_segments(camera_id, start_ms, variant);
CREATE INDEX record_segments_end ON record_segments(end_ms);
CREATE INDEX record_segments_state ON record_segments(state);

-- Recording policy and retention by camera or system ("camera:<id>",
-- "system:<id>"); what a scope leaves empty (mode '' or 0 days) is inherited.
CREATE TABLE record_policies (
    scope          TEXT PRIMARY KEY,
    mode           TEXT NOT NULL,
    schedule       TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    legal_override TEXT NOT NULL,
    updated_by     TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Evidence locks: a range of a camera that retention and the disk guard
-- must never delete (an export holds one until released).
CREATE TABLE record_locks (
    id          TEXT PRIMARY KEY,
    camera_id   TEXT NOT NULL,
    from_ms     BIGINT NOT NULL,
    to_ms       BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    released_at BIGINT NOT NULL,
    released_by TEXT NOT NULL
);
CREATE INDEX record_locks_cam ON record_locks(camera_id, released_at);

-- Extractions of footage (R-SEC-2) with their signed manifests.
CREATE TABLE playback_exports (
    id             TEXT PRIMARY KEY,
    camera_id      TEXT NOT NULL,
    from_ms        BIGINT NOT NULL,
    to_ms          BIGINT NOT NULL,
    purpose        TEXT NOT NULL,
    requester_name TEXT NOT NULL,
    requester_org  TEXT NOT NULL,
    requester_doc  TEXT NOT NULL,
    performer_id   TEXT NOT NULL,
    performer      TEXT NOT NULL,
    performer_org  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    file           TEXT NOT NULL,
    manifest       TEXT NOT NULL,
    lock_id        TEXT NOT NULL
);
CREATE INDEX playback_exports_cam ON playback_exports(camera_id, created_at);
CREATE INDEX playback_exports_org ON playback_exports(performer_org, created_at);

-- Sharing an export outside the requesting agency needs the managing
-- agency's written consent (R-ACC-7): one row per consent.
CREATE TABLE playback_export_shares (
    id             TEXT PRIMARY KEY,
    export_id      TEXT NOT NULL,
    recipient_org  TEXT NOT NULL,
    consent_doc    TEXT NOT NULL,
    consent_date   BIGINT NOT NULL,
    consent_signer TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX playback_export_shares_exp ON playback_export_shares(export_id, recipient_org);

-- +goose Down
DROP TABLE playback_export_shares;
DROP TABLE playback_exports;
DROP TABLE record_locks;
DROP TABLE record_policies;
DROP TABLE record_segments;
