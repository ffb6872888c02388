-- 0003_reindexes: one row per rebuild of a backend (AdminService.Reindex). Its chunk jobs copy
-- the live records into the backend's shadow table in id order, recording their progress here,
-- so a rebuild resumes where it stopped.
CREATE TABLE reindexes (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backend     text        NOT NULL,
    state       text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
    total       bigint      NOT NULL DEFAULT 0,
    done        bigint      NOT NULL DEFAULT 0,
    last_id     uuid,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
-- At most one rebuild of a backend runs at a time.
CREATE UNIQUE INDEX reindexes_one_running ON reindexes (backend) WHERE state = 'running';
