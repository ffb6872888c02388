-- 0008_worker_heartbeats: one row per running worker process (its River client id), beaten every
-- worker.heartbeat_interval. A row stale for worker.dead_after is a dead process: a peer makes
-- its running jobs retryable at once instead of waiting for River's rescuer (worker.rescue_after).
CREATE TABLE worker_heartbeats (
    client_id  text        PRIMARY KEY,
    host       text        NOT NULL,
    pid        integer     NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    beat_at    timestamptz NOT NULL DEFAULT now()
);
