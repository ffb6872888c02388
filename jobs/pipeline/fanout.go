package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/requestid"
)

// EnqueueFanOut returns the [records.EnqueueFunc] that inserts one fan-out job for the changes
// of a transaction, in that transaction, with the id of the request that made them in its
// metadata (package requestid).
func EnqueueFanOut(client *river.Client[pgx.Tx]) records.EnqueueFunc {
	return func(ctx context.Context, tx pgx.Tx, changes []records.Change, priority int) error {
		args := FanOutArgs{Changes: make([]FanOutChange, len(changes)), Priority: priority}
		for i, c := range changes {
			args.Changes[i] = FanOutChange{RecordID: c.RecordID, Version: c.Version}
		}
		_, err := client.InsertTx(ctx, tx, args, &river.InsertOpts{Priority: priority, Metadata: requestid.Metadata(requestid.From(ctx))})
		return err
	}
}

// FanOutWorker works [FanOutArgs] in batches, through a gatherer like the index workers (a
// batch holds up to worker.fanout_batch changes; a job with more is a batch of its own): in one
// transaction a batch reads its targets from the backend catalog (every building and live
// backend, whatever this process's configuration says), inserts one [IndexRecordArgs] job per
// record and target into the target's queue, marks the records pending in every target's
// index_state, and completes its fan-out jobs — so a fan-out happens exactly once, or not at all.
type FanOutWorker struct {
	river.WorkerDefaults[FanOutArgs]
	client *river.Client[pgx.Tx] // set by Workers.Bind
	g      *gatherer[*river.Job[FanOutArgs]]
	pool   *pgxpool.Pool
	logger *slog.Logger
	// marking holds a token per [FanOutWorker.markBusy] goroutine running.
	marking chan struct{}
}

// Marking the rows a backend was writing when the fan-out marked its records pending.
const (
	// busyMarkers is the most goroutines marking such rows at once.
	busyMarkers = 4
	// busyMarkTimeout bounds one marking: the longest a backend's index write is waited for.
	busyMarkTimeout = time.Minute
)

// markBusy marks the rows [indexstate.MarkPending] left busy, on a goroutine of its own: it waits
// for the backends' writes that hold them, which must not hold the fan-out's batch slot (there
// are only FanOutWorkers ÷ FanOutBatch of them; a slot held for a slow HNSW batch would stall the
// fan-out of every backend). When busyMarkers are busy already the rows are left as they are:
// their readers count them pending anyway, and their index jobs set them when they run.
func (w *FanOutWorker) markBusy(busy []indexstate.Busy) {
	select {
	case w.marking <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-w.marking }()
		ctx, cancel := context.WithTimeout(context.Background(), busyMarkTimeout)
		defer cancel()
		if err := indexstate.MarkBusyPending(ctx, w.pool, busy); err != nil {
			w.logger.Warn("fan-out: marking records pending after their backend's write", "records", len(busy), "error", err)
		}
	}()
}

// Work implements river.Worker.
func (w *FanOutWorker) Work(ctx context.Context, job *river.Job[FanOutArgs]) error {
	return w.g.Do(ctx, job)
}

// runBatch fans out a batch in one transaction; every job gets the transaction's result.
func (w *FanOutWorker) runBatch(ctx context.Context, items []*river.Job[FanOutArgs], _ string) []error {
	latest := map[uuid.UUID]int{}
	for _, job := range items {
		for _, c := range job.Args.changes() {
			latest[c.RecordID] = max(latest[c.RecordID], c.Version)
		}
	}
	// In id order, as the index batches lock index_state rows: batches that share records take
	// turns instead of deadlocking.
	ids := slices.SortedFunc(maps.Keys(latest), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	versions := make([]int32, len(ids))
	for i, id := range ids {
		versions[i] = int32(latest[id])
	}

	var busy []indexstate.Busy
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		// The targets are the catalog's as this transaction reads it, after the records' commits:
		// a backend the catalog gained before is reached whatever this process's configuration
		// says, and one it gains later finds these records in its backfill.
		targets, err := catalog.Targets(ctx, tx)
		if err != nil {
			return err
		}
		if len(targets) == 0 {
			return completeManyTx(ctx, w.client, tx, items)
		}
		params := make([]river.InsertManyParams, 0, len(latest)*len(targets))
		names := make([]string, len(targets))
		for i, t := range targets {
			names[i] = t.Name
		}
		for _, job := range items {
			a := job.Args
			metadata := requestid.Metadata(requestid.FromMetadata(job.Metadata)) // the publish's request id
			for _, c := range a.changes() {
				for _, t := range targets {
					params = append(params, river.InsertManyParams{
						Args: IndexRecordArgs{Backend: t.Name, RecordID: c.RecordID, Version: c.Version},
						InsertOpts: &river.InsertOpts{
							MaxAttempts: t.MaxAttempts, // 0 is River's default
							Priority:    max(a.Priority, 1),
							Queue:       backends.Queue(t.Name),
							Metadata:    metadata,
						},
					})
				}
			}
		}
		if _, err := w.client.InsertManyFastTx(ctx, tx, params); err != nil {
			return fmt.Errorf("error inserting index jobs: %w", err)
		}
		if busy, err = indexstate.MarkPending(ctx, tx, ids, versions, names); err != nil {
			return err
		}
		return completeManyTx(ctx, w.client, tx, items)
	})
	if err == nil && len(busy) > 0 {
		w.markBusy(busy)
	}
	errs := make([]error, len(items))
	for i := range errs {
		errs[i] = err
	}
	return errs
}
