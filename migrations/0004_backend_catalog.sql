-- 0004_backend_catalog: the backends every process follows, whatever its config file says
-- (AdminService.ApplyBackends changes it; an empty catalog is seeded from the config at first
-- start). settings holds a backend's configuration in the config file's shape, without secrets.
CREATE TABLE backend_catalog (
    name       text        NOT NULL,
    generation integer     NOT NULL DEFAULT 1 CHECK (generation >= 1),
    kind       text        NOT NULL,
    settings   jsonb       NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
    state      text        NOT NULL CHECK (state IN ('building', 'live', 'retiring')),
    -- position orders the backends as their file listed them: the first of each kind is the
    -- default of searches that name none.
    position   integer     NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);
-- At most one live and one building generation per backend: a change that needs a rebuild builds
-- the next generation while the live one serves.
CREATE UNIQUE INDEX backend_catalog_one_per_state ON backend_catalog (name, state) WHERE state <> 'retiring';
