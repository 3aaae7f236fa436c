-- Footage across tiers (issue 5): an export of a lower site's camera made
-- from tier 1 is extracted, signed and locked at the lower site, where the
-- footage lives, and copied into tier 1's evidence store. origin_site names
-- that site ('' = made here); origin_released_at is when tier 1 had the
-- lower site release its lock (0 = still locked there). evidence_key_id
-- pins the key a lower site signs its manifests with, from its first
-- export on (owned by internal/playback and internal/federation).

-- +goose Up
ALTER TABLE playback_exports ADD COLUMN origin_site TEXT NOT NULL DEFAULT '';
ALTER TABLE playback_exports ADD COLUMN origin_released_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE federation_sites ADD COLUMN evidence_key_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE federation_sites DROP COLUMN evidence_key_id;
ALTER TABLE playback_exports DROP COLUMN origin_released_at;
ALTER TABLE playback_exports DROP COLUMN origin_site;
