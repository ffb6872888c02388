-- 0009_record_events: the changefeed (package events). One row per change of a record, written in
-- the transaction of the change. A row's place in the feed is (xid, id): xid is the top-level
-- transaction id of its writer (pg_current_xact_id()), id orders the rows of one transaction.
-- Readers expose only rows whose xid is below the xmin of their snapshot, so every place below an
-- exposed one is final (the argument is in events/doc.go).
CREATE TABLE record_events (
    xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    type         text        NOT NULL CHECK (type IN ('record.published', 'record.deleted', 'record.restored')),
    record_id    uuid        NOT NULL,
    version      integer     NOT NULL,
    source       text,
    source_id    text,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (xid, id)
);

-- Retention prunes by age.
CREATE INDEX record_events_committed_at ON record_events (committed_at);

-- The feed's horizon: every place at or below it may have been pruned, so a cursor below it is
-- refused (FailedPrecondition). One row, moved forward by each prune in the prune's transaction.
CREATE TABLE record_events_horizon (
    one bool   PRIMARY KEY DEFAULT true CHECK (one),
    xid xid8   NOT NULL,
    id  bigint NOT NULL
);
INSERT INTO record_events_horizon (xid, id) VALUES ('0', 0);
