-- Federation over an external NATS cluster (owned by internal/federation):
-- with federation.nats_url tier 1 runs no NATS server of its own and gives
-- each enrolled lower site an account of the cluster (decentralized auth).
-- Per site: the account's public nkey and its seed sealed with the site key
-- (tier 1 signs the site's users with it), the public nkey of the site's
-- current leaf user, and the leaf users revoked so far ("key:unix,..."),
-- which every account JWT tier 1 pushes carries.

-- +goose Up
CREATE TABLE federation_nats_accounts (
    site_id             TEXT PRIMARY KEY,
    account_key         TEXT NOT NULL,
    account_seed_sealed TEXT NOT NULL,
    leaf_user_key       TEXT NOT NULL DEFAULT '',
    revoked_users       TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- +goose Down
DROP TABLE federation_nats_accounts;
