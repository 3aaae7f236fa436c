-- True figures (issue 14), owned by internal/health.
--
-- incidents.origin_site: an incident shipped up by the lower site that saw
-- the fault (a federated camera's incident is opened and resolved there);
-- '' for this site's own. Tier 1 shows it and follows its state; its own
-- users do not move it.
--
-- platform_runs: when this site's process was running (one row per start,
-- last_beat moved forward while it runs), so camera uptime leaves out the
-- platform's own downtime and reports it separately.

-- +goose Up
ALTER TABLE incidents ADD COLUMN origin_site TEXT NOT NULL DEFAULT '';

CREATE TABLE platform_runs (
    id         TEXT PRIMARY KEY,
    node       TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    last_beat  BIGINT NOT NULL
);
CREATE INDEX platform_runs_start ON platform_runs(started_at);

-- +goose Down
DROP TABLE platform_runs;
ALTER TABLE incidents DROP COLUMN origin_site;
