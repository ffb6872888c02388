package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/records"
)

// EnqueueFanOut returns the [records.EnqueueFunc] that inserts one fan-out job per change, in
// the change's transaction.
func EnqueueFanOut(client *river.Client[pgx.Tx]) records.EnqueueFunc {
	return func(ctx context.Context, tx pgx.Tx, changes []records.Change, priority int) error {
		params := make([]river.InsertManyParams, len(changes))
		for i, c := range changes {
			params[i] = river.InsertManyParams{
				Args:       FanOutArgs{RecordID: c.RecordID, Version: c.Version, Priority: priority},
				InsertOpts: &river.InsertOpts{Priority: priority},
			}
		}
		_, err := client.InsertManyTx(ctx, tx, params)
		return err
	}
}

// target is one backend as the fan-out sees it.
type target struct {
	name        string
	maxAttempts int
}

// FanOutWorker works [FanOutArgs]: in one transaction it inserts one [IndexRecordArgs] job per
// backend into the backend's queue, marks the record pending in every backend's index_state,
// and completes itself — so a fan-out happens exactly once, or not at all.
type FanOutWorker struct {
	river.WorkerDefaults[FanOutArgs]
	names   []string
	pool    *pgxpool.Pool
	targets []target
}

// pendingSQL marks a record pending in each backend, unless a newer version got there first.
const pendingSQL = `
INSERT INTO index_state AS s (record_id, backend, version, state)
SELECT $1, b, $2, 'pending' FROM unnest($3::text[]) AS b
ON CONFLICT (record_id, backend) DO UPDATE
    SET version = EXCLUDED.version, state = 'pending', attempts = 0, last_error = NULL, updated_at = now()
    WHERE s.version <= EXCLUDED.version`

// Work implements river.Worker.
func (w *FanOutWorker) Work(ctx context.Context, job *river.Job[FanOutArgs]) error {
	client := river.ClientFromContext[pgx.Tx](ctx)
	params := make([]river.InsertManyParams, len(w.targets))
	for i, t := range w.targets {
		params[i] = river.InsertManyParams{
			Args: IndexRecordArgs{Backend: t.name, RecordID: job.Args.RecordID, Version: job.Args.Version},
			InsertOpts: &river.InsertOpts{
				MaxAttempts: t.maxAttempts,
				Priority:    max(job.Args.Priority, 1),
				Queue:       backends.Queue(t.name),
			},
		}
	}
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := client.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("error inserting index jobs: %w", err)
		}
		if _, err := tx.Exec(ctx, pendingSQL, job.Args.RecordID, job.Args.Version, w.names); err != nil {
			return fmt.Errorf("error marking index state pending: %w", err)
		}
		if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
			return fmt.Errorf("error completing the fan-out job: %w", err)
		}
		return nil
	})
}
