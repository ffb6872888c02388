package harvest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/sources"
)

// failTimeout bounds the write that marks a harvest failed, which runs even when the job's own
// context has expired.
const failTimeout = 10 * time.Second

// ChunkWorker works [ChunkArgs]. It fetches the chunk's page outside any
// transaction, then in one transaction publishes the page's records, adds to the harvest's
// counters, enqueues the next chunk (or marks the harvest succeeded) and completes its own job —
// so a chunk happens exactly once, and a process that dies between chunks leaves the next chunk
// queued for another to resume.
//
// The worker publishes through the [records.Store] that [Workers.Bind] hands it: the store
// enqueues its fan-out through the River client, which needs its workers before it exists.
type ChunkWorker struct {
	river.WorkerDefaults[ChunkArgs]
	logger  *slog.Logger
	pool    *pgxpool.Pool
	sources *sources.Registry
	client  *river.Client[pgx.Tx] // set by Workers.Bind
	store   *records.Store        // set by Workers.Bind
}

// harvestEnd says why a harvest ends after a chunk; "" while it goes on.
func harvestEnd(a ChunkArgs, page sources.Page, next sources.Cursor) string {
	switch {
	case page.Fetched == 0:
		return "empty page"
	case a.Limit > 0 && next.Offset >= a.Limit:
		return "limit reached"
	case next.Offset >= page.Total:
		return "total reached"
	}
	return ""
}

// Work implements river.Worker. A failing chunk is retried by River; on its last attempt, or at
// once for a permanent error, the harvest is marked failed with the error and the job cancelled.
func (w *ChunkWorker) Work(ctx context.Context, job *river.Job[ChunkArgs]) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.logger.ErrorContext(ctx, "harvest: chunk panicked", "harvest_id", job.Args.HarvestID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("harvest chunk panicked: %v", r)
		}
		if err != nil {
			err = w.failed(ctx, job, err)
		}
	}()
	return w.work(ctx, job)
}

func (w *ChunkWorker) work(ctx context.Context, job *river.Job[ChunkArgs]) error {
	a := job.Args
	log := w.logger.With("source", a.Source, "harvest_id", a.HarvestID)
	var state string
	if err := w.pool.QueryRow(ctx, `SELECT state FROM harvests WHERE id = $1`, a.HarvestID).Scan(&state); err != nil {
		return fmt.Errorf("error reading harvest %d: %w", a.HarvestID, err)
	}
	if state != Running {
		log.InfoContext(ctx, "harvest: chunk of a harvest that is no longer running, dropped", "state", state, "offset", a.Cursor.Offset)
		return nil
	}
	entry, err := w.sources.Lookup(a.Source)
	if err != nil {
		return fmt.Errorf("%w (%w)", err, sources.ErrPermanent)
	}

	cur := a.Cursor
	cur.PageSize = a.ChunkSize
	if a.Limit > 0 {
		// Never fetch past the limit: the last chunk asks for what is left.
		cur.PageSize = min(cur.PageSize, a.Limit-cur.Offset)
		log.DebugContext(ctx, "harvest: chunk size bounded by the limit", "offset", cur.Offset, "limit", a.Limit, "page_size", cur.PageSize)
	}
	start := time.Now()
	page, next, err := entry.Source.Pull(ctx, cur)
	if err != nil {
		return fmt.Errorf("error fetching offset %d: %w", cur.Offset, err)
	}
	end := harvestEnd(a, page, next)
	total := page.Total
	if a.Limit > 0 {
		total = min(total, a.Limit)
	}

	if len(page.Unfetched) > 0 {
		// Once per chunk: the harvest's row keeps the count and the first ids for good.
		log.WarnContext(ctx, "harvest: documents the source could not return", "offset", cur.Offset,
			"count", len(page.Unfetched), "ids", page.Unfetched)
	}
	maxIDs := entry.MaxUnfetchedIDs
	switch maxIDs {
	case 0:
		maxIDs = sources.MaxUnfetchedIDsDefault
	case -1:
		maxIDs = 0
	}
	params, invalid := w.publishParams(ctx, log, a.Source, page.Records)
	var published, unchanged int
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT state FROM harvests WHERE id = $1 FOR UPDATE`, a.HarvestID).Scan(&state); err != nil {
			return fmt.Errorf("error locking harvest %d: %w", a.HarvestID, err)
		}
		if state == Running {
			for batch := range batches(params, w.store.Config().MaxBatch) {
				results, err := w.store.PublishTx(ctx, tx, batch, records.PriorityBulk)
				if err != nil {
					return fmt.Errorf("error publishing: %w", err)
				}
				for _, r := range results {
					if r.Unchanged {
						unchanged++
					} else {
						published++
					}
				}
			}
			if _, err := tx.Exec(ctx, updateHarvestSQL, a.HarvestID, total, page.Fetched, published, unchanged,
				page.Skipped+invalid, end != "", len(page.Unfetched), page.Unfetched, maxIDs, page.Warnings); err != nil {
				return fmt.Errorf("error updating harvest %d: %w", a.HarvestID, err)
			}
			if end == "" {
				nextArgs := a
				nextArgs.Cursor = next
				if _, err := w.client.InsertTx(ctx, tx, nextArgs, nil); err != nil {
					return fmt.Errorf("error enqueuing the next chunk: %w", err)
				}
			}
		}
		if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
			return fmt.Errorf("error completing the chunk job: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if state != Running {
		log.InfoContext(ctx, "harvest: harvest stopped while its chunk was fetched, chunk dropped", "state", state, "offset", cur.Offset)
		return nil
	}
	log.InfoContext(ctx, "harvest: chunk", "offset", cur.Offset, "fetched", page.Fetched, "published", published,
		"unchanged", unchanged, "skipped", page.Skipped+invalid, "unfetched", len(page.Unfetched), "warnings", page.Warnings,
		"total", total, "duration", time.Since(start).Round(time.Millisecond))
	if end != "" {
		log.DebugContext(ctx, "harvest: "+end, "offset", next.Offset, "limit", a.Limit, "total", page.Total, "fetched", page.Fetched)
		log.InfoContext(ctx, "harvest: succeeded", "reason", end, "records", next.Offset)
	}
	return nil
}

// updateHarvestSQL adds a chunk's counts to its harvest ($1) and ends it when $7: total ($2),
// fetched, published, unchanged, skipped ($3–$6), unfetched ($8) with their ids ($9) appended to
// those kept, up to $10 in all, and warnings ($11).
const updateHarvestSQL = `UPDATE harvests SET total = $2, fetched = fetched + $3, published = published + $4,
	unchanged = unchanged + $5, skipped = skipped + $6,
	unfetched = unfetched + $8, unfetched_ids = (unfetched_ids || $9::text[])[1:$10::int], warnings = warnings + $11,
	state = CASE WHEN $7 THEN 'succeeded' ELSE state END, finished_at = CASE WHEN $7 THEN now() END
	WHERE id = $1`

// publishParams turns a page's records into publish params, leaving out (and counting) those
// whose metadata breaks a record limit: one oversized document must not fail its whole chunk.
func (w *ChunkWorker) publishParams(ctx context.Context, log *slog.Logger, source string, recs []sources.Record) ([]records.PublishParams, int) {
	params := make([]records.PublishParams, 0, len(recs))
	invalid := 0
	for _, r := range recs {
		if _, err := records.ValidateMetadata("metadata", r.Metadata, w.store.Config().Limits); err != nil {
			invalid++
			log.WarnContext(ctx, "harvest: record skipped", "id", r.ID, "error", err)
			continue
		}
		params = append(params, records.PublishParams{Metadata: r.Metadata, Source: source, SourceID: r.ID})
	}
	return params, invalid
}

// failed decides what a chunk's error means. A chunk stopped by the process shutting down goes
// back to the queue untouched (River does not count the attempt). Otherwise River retries it,
// unless this was its last attempt or the error is permanent: then the harvest is marked failed
// with the error, and the job cancelled. A chunk job cancelled by an operator (River UI) fails
// its harvest too, so the source can be harvested again.
func (w *ChunkWorker) failed(ctx context.Context, job *river.Job[ChunkArgs], err error) error {
	a := job.Args
	log := w.logger.With("source", a.Source, "harvest_id", a.HarvestID)
	switch {
	case errors.Is(context.Cause(ctx), rivertype.ErrJobCancelledRemotely):
		err = errors.New("cancelled by an operator (its chunk job was cancelled)")
	case errors.Is(ctx.Err(), context.Canceled):
		return err
	case job.Attempt < job.MaxAttempts && !errors.Is(err, sources.ErrPermanent):
		log.WarnContext(ctx, "harvest: chunk failed, will retry", "offset", a.Cursor.Offset, "attempt", job.Attempt,
			"max_attempts", job.MaxAttempts, "error", err)
		return err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failTimeout)
	defer cancel()
	if _, ferr := w.pool.Exec(fctx, `UPDATE harvests SET state = 'failed', error = $2, finished_at = now()
		WHERE id = $1 AND state = 'running'`, a.HarvestID, err.Error()); ferr != nil {
		return errors.Join(err, fmt.Errorf("error marking harvest %d failed: %w", a.HarvestID, ferr))
	}
	log.ErrorContext(ctx, "harvest: failed", "offset", a.Cursor.Offset, "attempt", job.Attempt, "error", err)
	return river.JobCancel(err)
}

// batches yields s in slices of at most n.
func batches[T any](s []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}
