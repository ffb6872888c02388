-- 0006_backend_retirement: a retiring generation keeps its tables, renamed out of the way
-- (vec_x_retired_2), until retire_at, when the catalog drops them and the generation's row.
-- retire_at is null for rows retired before this migration: they are never dropped by the server.
ALTER TABLE backend_catalog
    ADD COLUMN retire_at      timestamptz,
    ADD COLUMN retired_tables text[] NOT NULL DEFAULT '{}';
CREATE INDEX backend_catalog_retire_at ON backend_catalog (retire_at) WHERE state = 'retiring';
