// Package reindex rebuilds a backend while it keeps answering searches (see the "Online
// rebuild" section of package backends): [Start] records a reindexes row, creates the shadow
// table and enqueues the first chunk, in one transaction; from then on the index workers
// (package pipeline) write every batch to both tables. Each chunk job copies the next
// [ChunkSize] live records, in id order, into the shadow, records its progress and enqueues the
// next chunk — in one transaction, so a crash resumes at the chunk it was on. The finish job
// builds the shadow's search index once, syncs index_state from the shadow, and swaps the shadow
// in.
package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// Queue and settings of rebuilds.
const (
	// Queue is the queue of rebuild jobs; one worker, so chunks run one at a time.
	Queue = "reindex"
	// Priority runs rebuild jobs after every interactive and bulk job of their queue.
	Priority = 4
	// ChunkSize is how many records one chunk copies.
	ChunkSize = 2000
	// finishTimeout bounds the index build and swap: an HNSW build of a large table takes
	// minutes, far longer than worker.job_timeout.
	finishTimeout = 2 * time.Hour
	// maxAttempts retries a failing chunk for about an hour before the rebuild fails.
	maxAttempts = 8
)

// Reindex states (reindexes.state).
const (
	Running   = "running"
	Succeeded = "succeeded"
	Failed    = "failed"
)

// Reindex is one rebuild of a backend.
type Reindex struct {
	ID         int64
	Backend    string
	State      string
	Total      int64
	Done       int64
	Error      string
	StartedAt  time.Time
	FinishedAt *time.Time
}

// ChunkArgs copies the next chunk of a rebuild into the shadow table.
type ChunkArgs struct {
	ReindexID int64  `json:"reindex_id"`
	Backend   string `json:"backend"`
	// Generation is the backend's catalog generation the rebuild builds; 0 means whichever the
	// process has.
	Generation int `json:"generation,omitempty"`
}

// Kind implements river.JobArgs.
func (ChunkArgs) Kind() string { return "osa_reindex_chunk" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ChunkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, Priority: Priority, MaxAttempts: maxAttempts}
}

// FinishArgs builds the shadow's search index and swaps the shadow in.
type FinishArgs struct {
	ReindexID  int64  `json:"reindex_id"`
	Backend    string `json:"backend"`
	Generation int    `json:"generation,omitempty"` // as in ChunkArgs
}

// Kind implements river.JobArgs.
func (FinishArgs) Kind() string { return "osa_reindex_finish" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (FinishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, Priority: Priority, MaxAttempts: maxAttempts}
}

const reindexColumns = `id, backend, state, total, done, COALESCE(error, ''), started_at, finished_at`

// runningSQL reads the running rebuild of backend $1 (at most one runs: reindexes_one_running).
const runningSQL = `SELECT ` + reindexColumns + ` FROM reindexes WHERE backend = $1 AND state = 'running'`

func scanReindex(row pgx.Row) (Reindex, error) {
	var r Reindex
	err := row.Scan(&r.ID, &r.Backend, &r.State, &r.Total, &r.Done, &r.Error, &r.StartedAt, &r.FinishedAt)
	return r, err
}

// ErrNotFound is returned by Get for an unknown id; it is of kind
// [domainerr.ErrNotFound].
var ErrNotFound = domainerr.New(domainerr.ErrNotFound, "reindex not found")

// Start starts a rebuild of b, generation of its backend in the catalog (0 when it has none), or
// returns the one already running for the backend.
func Start(ctx context.Context, client *river.Client[pgx.Tx], pool *pgxpool.Pool, b backends.Rebuilder, generation int) (Reindex, error) {
	var r Reindex
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
		r, err = StartTx(ctx, client, tx, b, generation)
		return err
	})
	return r, err
}

// StartTx is [Start] in tx: the rebuild starts when tx commits (the backfill of a backend the
// catalog gains, or the build of its next generation, starts in the transaction that asks for
// it). Its jobs run only on processes that have that generation of the backend.
func StartTx(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, b backends.Rebuilder, generation int) (Reindex, error) {
	// Serialise starts of one backend, so two callers cannot both create a rebuild.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('osa.reindex.' || $1, 0))`, b.Name()); err != nil {
		return Reindex{}, err
	}
	r, err := scanReindex(tx.QueryRow(ctx, runningSQL, b.Name()))
	if err == nil || !errors.Is(err, pgx.ErrNoRows) {
		return r, err
	}
	if err := checkNoImport(ctx, tx, b.Name()); err != nil {
		return Reindex{}, err
	}
	if err := b.CreateShadow(ctx, tx); err != nil {
		return Reindex{}, fmt.Errorf("error creating the shadow table: %w", err)
	}
	r, err = scanReindex(tx.QueryRow(ctx, `INSERT INTO reindexes (backend, total)
		VALUES ($1, (SELECT count(*) FROM records WHERE deleted_at IS NULL)) RETURNING `+reindexColumns, b.Name()))
	if err != nil {
		return Reindex{}, err
	}
	_, err = client.InsertTx(ctx, tx, ChunkArgs{ReindexID: r.ID, Backend: b.Name(), Generation: generation}, nil)
	return r, err
}

// Get returns the rebuild with id.
func Get(ctx context.Context, pool *pgxpool.Pool, id int64) (Reindex, error) {
	r, err := scanReindex(pool.QueryRow(ctx, `SELECT `+reindexColumns+` FROM reindexes WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// RunningFor returns the rebuild of backend that is running, and whether there is one.
func RunningFor(ctx context.Context, pool *pgxpool.Pool, backend string) (Reindex, bool, error) {
	r, err := scanReindex(pool.QueryRow(ctx, runningSQL, backend))
	if errors.Is(err, pgx.ErrNoRows) {
		return Reindex{}, false, nil
	}
	return r, err == nil, err
}

// reindexer holds what the rebuild workers share.
type reindexer struct {
	cfg      Config
	mu       sync.RWMutex // guards backends, which Workers.SetRebuilders changes
	backends map[string]Target
	client   *river.Client[pgx.Tx] // set by Workers.Bind
	logger   *slog.Logger
	pool     *pgxpool.Pool
}

// NotHereSnoozeDefault is how long a rebuild's job waits, by default, when this process does
// not have its backend (or generation), so that a process that has it takes the job.
const NotHereSnoozeDefault = 5 * time.Second

// backend returns the backend a rebuild's job names. A process that does not have it (one not
// yet restarted with the configuration that added the backend) snoozes the job, without using
// an attempt, for a process that has it: the rebuild queue is shared by every process.
func (x *reindexer) backend(ctx context.Context, name string, generation int) (backends.Rebuilder, error) {
	x.mu.RLock()
	t, ok := x.backends[name]
	x.mu.RUnlock()
	if ok && generation != 0 && t.Generation != generation {
		x.logger.InfoContext(ctx, "jobs: a rebuild's job names a generation of a backend this process does not have yet; "+
			"left to a process that has it, or to this one once it follows the catalog", "backend", name,
			"generation", generation, "here", t.Generation, "retry_in", x.cfg.NotHereSnooze)
		return nil, fmt.Errorf("generation %d of backend %q is not on this process (it has %d): %w", generation, name,
			t.Generation, river.JobSnooze(x.cfg.NotHereSnooze))
	}
	b := t.Rebuilder
	if !ok {
		x.logger.WarnContext(ctx, "jobs: a rebuild's job names a backend this process does not have; left to a process "+
			"that has it (configure the backend on every process)", "backend", name, "retry_in", x.cfg.NotHereSnooze)
		return nil, fmt.Errorf("backend %q is not configured on this process: %w", name, river.JobSnooze(x.cfg.NotHereSnooze))
	}
	return b, nil
}

// fail marks a rebuild failed with err (its last attempt) and drops its shadow table.
func (x *reindexer) fail(ctx context.Context, id int64, b backends.Rebuilder, cause error) {
	err := pgx.BeginFunc(context.WithoutCancel(ctx), x.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE reindexes SET state = 'failed', error = $2, finished_at = now()
			WHERE id = $1 AND state = 'running'`, id, cause.Error()); err != nil {
			return err
		}
		return b.DropShadow(ctx, tx)
	})
	if err != nil {
		x.logger.ErrorContext(ctx, "jobs: error marking a reindex failed", "reindex_id", id, "error", err)
	}
}

// ChunkWorker works [ChunkArgs].
type ChunkWorker struct {
	river.WorkerDefaults[ChunkArgs]
	x *reindexer
}

// Work implements river.Worker.
func (w *ChunkWorker) Work(ctx context.Context, job *river.Job[ChunkArgs]) error {
	b, err := w.x.backend(ctx, job.Args.Backend, job.Args.Generation)
	if err != nil {
		return err
	}
	err = w.copyChunk(ctx, job, b)
	if err != nil && job.Attempt >= job.MaxAttempts {
		w.x.fail(ctx, job.Args.ReindexID, b, err)
	}
	return err
}

// copyChunk copies the next chunk and enqueues what follows, in one transaction.
func (w *ChunkWorker) copyChunk(ctx context.Context, job *river.Job[ChunkArgs], b backends.Rebuilder) error {
	var (
		state  string
		lastID *uuid.UUID
	)
	err := w.x.pool.QueryRow(ctx, `SELECT state, last_id FROM reindexes WHERE id = $1`, job.Args.ReindexID).Scan(&state, &lastID)
	if err != nil {
		return fmt.Errorf("error reading reindex %d: %w", job.Args.ReindexID, err)
	}
	if state != Running {
		return nil // failed or finished meanwhile: nothing left to do
	}
	after := uuid.Nil
	if lastID != nil {
		after = *lastID
	}
	rows, err := w.x.pool.Query(ctx, `SELECT id, version, metadata FROM records WHERE deleted_at IS NULL AND id > $1
		ORDER BY id LIMIT $2`, after, ChunkSize)
	if err != nil {
		return err
	}
	var (
		docs []backends.Document
		id   uuid.UUID
		ver  int
		raw  []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &ver, &raw}, func() error {
		var meta map[string]any
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("record %s: stored metadata is not a JSON object: %w", id, err)
		}
		docs = append(docs, backends.Document{RecordID: id, Version: ver, Metadata: meta})
		return nil
	}); err != nil {
		return err
	}
	shadow := b.Shadow()
	// Embed outside the transaction; records no version can index (no text) are skipped, as the
	// live indexer fails them too.
	var ready []backends.Document
	for i, err := range shadow.Prepare(ctx, docs) {
		switch {
		case err == nil:
			ready = append(ready, docs[i])
		case !indexerr.IsPermanent(err) && !indexerr.IsNoText(err):
			return fmt.Errorf("error embedding record %s: %w", docs[i].RecordID, err)
		}
	}

	return pgx.BeginFunc(ctx, w.x.pool, func(tx pgx.Tx) error {
		// A chunk writes no events: its xid does not hold back the changefeed.
		if err := events.QuietTx(ctx, tx); err != nil {
			return err
		}
		if len(ready) > 0 {
			// Same protocol as the index workers: lock the records' index_state rows, then write
			// only what is still current, so a delete or update racing this chunk wins.
			ids := make([]uuid.UUID, len(ready))
			for i, d := range ready {
				ids[i] = d.RecordID
			}
			now, _, err := pipeline.LockCurrent(ctx, tx, b.Name(), ids)
			if err != nil {
				return err
			}
			current := ready[:0]
			for _, d := range ready {
				if st, ok := now[d.RecordID]; ok && !st.Deleted && st.Version == d.Version {
					current = append(current, d)
				}
			}
			for i, err := range shadow.IngestBatch(ctx, tx, current) {
				if err != nil && !indexerr.IsPermanent(err) {
					return fmt.Errorf("error writing record %s to the shadow table: %w", current[i].RecordID, err)
				}
			}
			if tx.Conn().PgConn().TxStatus() == 'E' {
				return errors.New("error writing to the shadow table: transaction aborted")
			}
		}
		if len(docs) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE reindexes SET done = done + $2, last_id = $3 WHERE id = $1`,
				job.Args.ReindexID, len(docs), docs[len(docs)-1].RecordID); err != nil {
				return err
			}
		}
		var next river.JobArgs = ChunkArgs{ReindexID: job.Args.ReindexID, Backend: b.Name(), Generation: job.Args.Generation}
		if len(docs) < ChunkSize {
			next = FinishArgs{ReindexID: job.Args.ReindexID, Backend: b.Name(), Generation: job.Args.Generation}
		}
		if _, err := w.x.client.InsertTx(ctx, tx, next, nil); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}

// FinishWorker works [FinishArgs].
type FinishWorker struct {
	river.WorkerDefaults[FinishArgs]
	x *reindexer
}

// Timeout implements river.Worker: an index build outlasts worker.job_timeout.
func (w *FinishWorker) Timeout(*river.Job[FinishArgs]) time.Duration {
	return finishTimeout
}

// Work implements river.Worker.
func (w *FinishWorker) Work(ctx context.Context, job *river.Job[FinishArgs]) error {
	b, err := w.x.backend(ctx, job.Args.Backend, job.Args.Generation)
	if err != nil {
		return err
	}
	err = w.finish(ctx, job, b)
	if err != nil && job.Attempt >= job.MaxAttempts {
		w.x.fail(ctx, job.Args.ReindexID, b, err)
	}
	return err
}

func (w *FinishWorker) finish(ctx context.Context, job *river.Job[FinishArgs], b backends.Rebuilder) error {
	var state string
	if err := w.x.pool.QueryRow(ctx, `SELECT state FROM reindexes WHERE id = $1`, job.Args.ReindexID).Scan(&state); err != nil {
		return fmt.Errorf("error reading reindex %d: %w", job.Args.ReindexID, err)
	}
	if state != Running {
		return nil
	}
	start := time.Now()
	if err := b.IndexShadow(ctx, w.x.pool); err != nil {
		return fmt.Errorf("error building the shadow's index: %w", err)
	}
	built := time.Since(start)
	// index_state first, from the shadow: when the swap commits, the state already says what the
	// table holds, and a crash just after the swap leaves nothing undone. (After the swap, outside
	// its transaction, a crash or a reader in between saw a live backend whose records were not
	// marked indexed, or had no rows at all after a backfill: TestCrashDuringRebuild caught it.)
	// Records written meanwhile are marked by their own index jobs, which write both tables.
	if err := indexstate.SyncFromTable(ctx, w.x.pool, b.Name(), b.Shadow().Table()); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, w.x.pool, func(tx pgx.Tx) error {
		// A rebuild of a new generation keeps the one it replaces, retired, for
		// catalog.retire_after; a rebuild of the live generation (osa reindex) replaces it.
		live, building, err := catalog.Generations(ctx, tx, b.Name())
		if err != nil {
			return err
		}
		retireAs := 0
		if building != 0 {
			retireAs = live
		}
		retired, err := b.SwapShadow(ctx, tx, retireAs)
		if err != nil {
			return fmt.Errorf("error swapping in the shadow table: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reindexes SET state = 'succeeded', finished_at = now() WHERE id = $1`,
			job.Args.ReindexID); err != nil {
			return err
		}
		// A backend the catalog gained is building until its first rebuild, its backfill, swaps
		// in: from now on it holds every live record, and searches use it.
		if err := catalog.Promote(ctx, tx, b.Name(), catalog.Retirement{After: w.x.cfg.RetireAfter, Tables: retired}); err != nil {
			return err
		}
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
	if err != nil {
		return err
	}
	w.x.logger.InfoContext(ctx, "jobs: reindex finished", "backend", b.Name(), "reindex_id", job.Args.ReindexID,
		"index_build", built.Round(time.Millisecond))
	return nil
}
