package heartbeat_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

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

// A live process's running jobs that it took more than DeadAfter ago and is not working (the
// answer of their fetch was lost) are retried at once, with an error saying why; the jobs it is
// working, those it finished a moment ago (River writes the outcome afterwards) and those it
// took just now are left alone, and so are another process's.
func TestHeartbeatRescuesOwnOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	job := func(by string, takenAgo time.Duration) int64 {
		t.Helper()
		var id int64
		err := pool.QueryRow(ctx, `INSERT INTO river_job (args, attempt, attempted_at, attempted_by, kind, max_attempts, queue, state)
			VALUES ('{}', 1, now() - $2 * interval '1 microsecond', ARRAY[$1], 'test', 5, 'default', 'running') RETURNING id`,
			by, takenAgo.Microseconds()).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	const deadAfter = 3 * time.Second
	orphan, worked, finished, fresh, other := job("me", time.Minute), job("me", time.Minute), job("me", time.Minute),
		job("me", 0), job("other", time.Minute)

	working := heartbeat.NewWorking(time.Hour)
	release := make(chan struct{})
	var works sync.WaitGroup
	for _, id := range []int64{worked, finished} {
		started := make(chan struct{})
		works.Go(func() {
			_ = working.Work(ctx, &rivertype.JobRow{ID: id}, func(context.Context) error {
				close(started)
				if id == worked {
					<-release
				}
				return nil
			})
		})
		<-started
	}
	defer func() { close(release); works.Wait() }()

	heart, err := heartbeat.Start(ctx, pool, "me", heartbeat.Config{Interval: 100 * time.Millisecond, DeadAfter: deadAfter, Working: working},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer heart.Stop(ctx)

	deadline := time.Now().Add(10 * time.Second)
	for count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'retryable'`, orphan) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the orphaned job was never rescued")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(`SELECT count(*) FROM river_job WHERE id = $1 AND scheduled_at <= now()
		AND errors[cardinality(errors)]->>'error' LIKE 'worker process me took the job but is not working it%'`, orphan); n != 1 {
		t.Error("the rescued job has no error saying why, or is not due now")
	}
	for id, name := range map[int64]string{worked: "worked", finished: "finished a moment ago", other: "another process's"} {
		if n := count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'running'`, id); n != 1 {
			t.Errorf("the %s job was rescued", name)
		}
	}
	// Taken less than deadAfter ago (unless the machine was slow enough for it to be an orphan
	// by now): left alone.
	if n := count(`SELECT count(*) FROM river_job WHERE id = $1 AND (state = 'running' OR attempted_at < now() - $2 * interval '1 microsecond')`,
		fresh, deadAfter.Microseconds()); n != 1 {
		t.Error("the job taken just now was rescued before DeadAfter")
	}
	if got := working.IDs(); len(got) != 2 {
		t.Errorf("Working holds %v, want the worked and the finished job", got)
	}
}
