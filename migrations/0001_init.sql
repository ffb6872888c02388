-- 0001_init: records, their versions, per-backend index state and harvests (design.md §3).
CREATE EXTENSION IF NOT EXISTS vector;

-- records holds the current version of every record; deleted records keep a tombstone
-- (deleted_at set) so the delete can propagate to the backends and GetRecord answers clearly.
CREATE TABLE records (
    id         uuid        PRIMARY KEY,
    version    integer     NOT NULL CHECK (version >= 1),
    metadata   jsonb       NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    source     text,
    source_id  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT records_source_pair CHECK ((source IS NULL) = (source_id IS NULL)),
    CONSTRAINT records_source_key UNIQUE (source, source_id)
);
CREATE INDEX records_source_id_idx ON records (source, id) WHERE deleted_at IS NULL;
CREATE INDEX records_live_id_idx ON records (id) WHERE deleted_at IS NULL;
CREATE INDEX records_metadata_idx ON records USING gin (metadata jsonb_path_ops);

-- record_versions keeps every published version, so an SRN with @version stays resolvable.
CREATE TABLE record_versions (
    record_id  uuid        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    version    integer     NOT NULL CHECK (version >= 1),
    metadata   jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, version)
);

-- index_state is the per record and backend status, written in the same transaction as the
-- backend's own write: the source of truth for GetIndexStatus, pending counts and freshness.
CREATE TABLE index_state (
    record_id       uuid        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    backend         text        NOT NULL,
    version         integer     NOT NULL,
    indexed_version integer,
    state           text        NOT NULL CHECK (state IN ('pending', 'indexed', 'failed', 'deleted')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    indexed_at      timestamptz,
    PRIMARY KEY (record_id, backend)
);
CREATE INDEX index_state_backend_state_idx ON index_state (backend, state);

-- harvests is one row per harvest of a source; its chunk jobs update the counters.
CREATE TABLE harvests (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    params      jsonb       NOT NULL DEFAULT '{}',
    state       text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
    total       bigint      NOT NULL DEFAULT 0,
    fetched     bigint      NOT NULL DEFAULT 0,
    published   bigint      NOT NULL DEFAULT 0,
    unchanged   bigint      NOT NULL DEFAULT 0,
    skipped     bigint      NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX harvests_source_idx ON harvests (source, id DESC);
