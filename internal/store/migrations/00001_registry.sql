-- Registry: organisations, systems, cameras (owned by internal/registry).
-- Times are BIGINT unix milliseconds UTC; sets (purposes, kinds, areas) are
-- BIGINT bit masks so the access scoping can be one SQL expression on both
-- engines (see internal/registry/enums.go for the bit of each value).
-- search_text holds the name/id/address folded by registry.Fold (lower case,
-- Vietnamese diacritics removed, đ→d) so one LIKE serves both engines.
-- version is the optimistic-concurrency counter: an update names the version
-- it read and loses (409) if someone else wrote in between.

-- +goose Up
CREATE TABLE organisations (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    parent_id          TEXT REFERENCES organisations(id),
    functions          BIGINT NOT NULL DEFAULT 0,
    area_limit         BIGINT NOT NULL DEFAULT 0,
    cleared_classified BOOLEAN NOT NULL DEFAULT FALSE,
    search_text        TEXT NOT NULL DEFAULT '',
    version            BIGINT NOT NULL DEFAULT 1,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX organisations_kind ON organisations(kind);
CREATE INDEX organisations_parent ON organisations(parent_id);

CREATE TABLE systems (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    tier             INTEGER NOT NULL CHECK (tier IN (1, 2, 3)),
    managing_org_id  TEXT NOT NULL REFERENCES organisations(id),
    operating_org_id TEXT NOT NULL REFERENCES organisations(id),
    site_id          TEXT NOT NULL,
    public_sharing   BOOLEAN NOT NULL DEFAULT FALSE,
    search_text      TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX systems_managing ON systems(managing_org_id);
CREATE INDEX systems_operating ON systems(operating_org_id);

CREATE TABLE cameras (
    id                 TEXT PRIMARY KEY,
    system_id          TEXT NOT NULL REFERENCES systems(id),
    name               TEXT NOT NULL,
    kinds              BIGINT NOT NULL DEFAULT 0,
    purposes           BIGINT NOT NULL DEFAULT 0,
    area               TEXT NOT NULL,
    area_bit           BIGINT NOT NULL,
    lat                DOUBLE PRECISION NOT NULL,
    lon                DOUBLE PRECISION NOT NULL,
    admin_unit         TEXT NOT NULL DEFAULT '',
    address            TEXT NOT NULL DEFAULT '',
    classified         BOOLEAN NOT NULL DEFAULT FALSE,
    public             BOOLEAN NOT NULL DEFAULT FALSE,
    -- Stream endpoints without credentials; the credentials are sealed by
    -- internal/secrets and never leave the server.
    main_url           TEXT NOT NULL DEFAULT '',
    main_cred_sealed   TEXT NOT NULL DEFAULT '',
    sub_url            TEXT NOT NULL DEFAULT '',
    sub_cred_sealed    TEXT NOT NULL DEFAULT '',
    transport          TEXT NOT NULL DEFAULT 'tcp',
    on_demand          BOOLEAN NOT NULL DEFAULT FALSE,
    push               BOOLEAN NOT NULL DEFAULT FALSE,
    -- R-CAM-2: a private owner's camera is shared only with consent on record.
    consent_doc        TEXT NOT NULL DEFAULT '',
    consent_date       TEXT NOT NULL DEFAULT '',
    consent_scope      TEXT NOT NULL DEFAULT '',
    installed_at       BIGINT NOT NULL DEFAULT 0,
    changed_at         BIGINT NOT NULL DEFAULT 0,
    first_connected_at BIGINT NOT NULL DEFAULT 0,
    search_text        TEXT NOT NULL DEFAULT '',
    version            BIGINT NOT NULL DEFAULT 1,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX cameras_system ON cameras(system_id);
CREATE INDEX cameras_purposes ON cameras(purposes);
-- Lists are ordered by (name, id) and paged; the filters below are the
-- common ones of the console tree and the public endpoint.
CREATE INDEX cameras_name ON cameras(name, id);
CREATE INDEX cameras_area ON cameras(area_bit);
CREATE INDEX cameras_admin_unit ON cameras(admin_unit);
CREATE INDEX cameras_public ON cameras(public);

-- +goose Down
DROP TABLE cameras;
DROP TABLE systems;
DROP TABLE organisations;
