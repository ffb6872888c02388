package heartbeat_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/jobs/heartbeat"
)

// A beating process has its row until it stops; a process whose row went stale has its running
// jobs retried at once (discarded without an attempt left), with an error saying why, and its
// row deleted; the jobs of a live process and jobs in other states are left alone.
func TestHeartbeatRescuesDeadPeers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	heart, err := heartbeat.Start(ctx, pool, "live", heartbeat.Config{Interval: 100 * time.Millisecond, DeadAfter: time.Second},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	job := func(state, by string, attempt, maxAttempts int) int64 {
		t.Helper()
		var id int64
		err := pool.QueryRow(ctx, `INSERT INTO river_job (args, attempt, attempted_at, attempted_by, kind, max_attempts, queue, state, finalized_at)
			VALUES ('{}', $1, now(), ARRAY['other', $2], 'test', $3, 'default', $4::text::river_job_state, CASE WHEN $4::text = 'completed' THEN now() END)
			RETURNING id`, attempt, by, maxAttempts, state).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	retried, lastTry := job("running", "dead", 1, 5), job("running", "dead", 5, 5)
	alive, done := job("running", "live", 1, 5), job("completed", "dead", 1, 5)
	// An old job that the dead process took first, then another one: not the dead one's now.
	other := job("running", "other", 1, 5)
	exec(`UPDATE river_job SET attempted_by = ARRAY['dead', 'other'] WHERE id = $1`, other)
	// The dead process's row last: the live process checks every 100 ms.
	exec(`INSERT INTO worker_heartbeats (client_id, host, pid, beat_at) VALUES ('dead', 'h', 1, now() - interval '1 minute')`)

	deadline := time.Now().Add(10 * time.Second)
	for count(`SELECT count(*) FROM worker_heartbeats WHERE client_id = 'dead'`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dead process's row was never rescued")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for id, want := range map[int64]string{retried: "retryable", lastTry: "discarded", alive: "running", done: "completed", other: "running"} {
		if got := count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = $2`, id, want); got != 1 {
			var state string
			_ = pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&state)
			t.Errorf("job %d: %s, want %s", id, state, want)
		}
	}
	if n := count(`SELECT count(*) FROM river_job WHERE id = $1 AND scheduled_at <= now()
		AND errors[cardinality(errors)]->>'error' LIKE 'worker process dead stopped beating%'`, retried); n != 1 {
		t.Error("the retried job has no error saying why, or is not due now")
	}
	// The live process beats on: its row is fresh, and it is still there.
	time.Sleep(300 * time.Millisecond)
	if n := count(`SELECT count(*) FROM worker_heartbeats WHERE client_id = 'live' AND beat_at > now() - interval '500 milliseconds'`); n != 1 {
		t.Fatal("the live process's row is missing or stale")
	}
	if err := heart.Err(); err != nil {
		t.Fatalf("a beating process reports %v", err)
	}
	heart.Stop(ctx)
	if n := count(`SELECT count(*) FROM worker_heartbeats`); n != 0 {
		t.Fatalf("%d heartbeat rows after Stop, want none", n)
	}
	if _, err := heartbeat.Start(ctx, pool, "x", heartbeat.Config{Interval: time.Second, DeadAfter: 2 * time.Second}, nil); err == nil {
		t.Fatal("Start with DeadAfter < 3 × Interval succeeded")
	}
}
