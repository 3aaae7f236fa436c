-- Video on demand across tiers, sub stream (issue 5): tier 1 records
-- whether a lower site's camera has a sub stream (federated_sub), so its
-- media hub offers a pushed, on-demand sub stream for it and the lower site
-- relays the sub stream alone to small tiles over a weak link. Always FALSE
-- for a camera of this site (owned by internal/registry, written by
-- internal/federation).

-- +goose Up
ALTER TABLE cameras ADD COLUMN federated_sub BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE cameras DROP COLUMN federated_sub;
