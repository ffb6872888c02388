package eventprune

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/internal/pgtest"
)

// TestWork: the worker deletes the events older than the retention, as of its clock, and
// keeps the others; Register adds its queue, worker and periodic job.
func TestWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	for range 3 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return events.InsertTx(ctx, tx, []events.Change{{Type: events.TypePublished, RecordID: uuid.New(), Version: 1}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE record_events SET committed_at = now() - interval '10 days'
		WHERE id IN (SELECT id FROM record_events ORDER BY xid, id LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	w := &Worker{cfg: Config{Retention: 7 * 24 * time.Hour, Batch: 1}.WithDefaults(), logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		pool: pool, now: time.Now}
	// Prune considers only the events every reader may see: wait until the writes above are.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left int
		if err := w.Work(ctx, &river.Job[Args]{}); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM record_events`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 1 {
			break
		}
		if left < 1 || time.Now().After(deadline) {
			t.Fatalf("%d events left, want the one younger than the retention", left)
		}
		time.Sleep(20 * time.Millisecond)
	}

	rc := &river.Config{Queues: map[string]river.QueueConfig{}, Workers: river.NewWorkers()}
	if err := Register(rc, pool, Config{}, slog.Default()); err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.Queues[Queue]; !ok || len(rc.PeriodicJobs) != 1 {
		t.Fatalf("Register: queues %v, %d periodic jobs; want the %s queue and one job", rc.Queues, len(rc.PeriodicJobs), Queue)
	}
	if err := Register(&river.Config{Queues: map[string]river.QueueConfig{}, Workers: river.NewWorkers()}, pool,
		Config{Batch: -1}, slog.Default()); err == nil {
		t.Fatal("Register took a negative batch")
	}
}
