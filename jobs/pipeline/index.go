package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/records"
)

// errRolledBack says the batch's write was rolled back and every action carries its own error.
var errRolledBack = errors.New("batch rolled back")

// notHereSnooze is how long an index job waits when its backend is not (or no longer) on this
// process.
const notHereSnooze = 2 * time.Second

// snoozeDefault is how long a rate-limited job waits when the provider gave no Retry-After.
const snoozeDefault = 5 * time.Second

// IndexWorker works [IndexRecordArgs] jobs: it hands each job to the gatherer of its backend and
// returns the job's own result once its batch has run.
type IndexWorker struct {
	river.WorkerDefaults[IndexRecordArgs]
	mu        sync.RWMutex // guards gatherers, which Workers.SetBackends changes
	gatherers map[string]*gatherer[*river.Job[IndexRecordArgs]]
}

// Work implements river.Worker.
func (w *IndexWorker) Work(ctx context.Context, job *river.Job[IndexRecordArgs]) error {
	w.mu.RLock()
	g, ok := w.gatherers[job.Args.Backend]
	w.mu.RUnlock()
	if !ok {
		// The backend was removed from this process while the job was fetched: another process,
		// or this one once it follows the catalog again, takes it. No attempt is used.
		return river.JobSnooze(notHereSnooze)
	}
	return g.Do(ctx, job)
}

// BatchStats describes one index batch after it ran.
type BatchStats struct {
	Backend string
	// Size is the number of jobs in the batch.
	Size int
	// Reason is why it was flushed: "size", "delay" or "slots".
	Reason   string
	Duration time.Duration
	// Succeeded, Retried, Snoozed and Cancelled count the jobs by outcome.
	Succeeded, Retried, Snoozed, Cancelled int
	// Freshness holds, for every record version the batch wrote, the time from its commit
	// (records.updated_at) to the commit of the batch.
	Freshness []time.Duration
	// Outage is how long the backend's embedding provider has been down, as this process sees
	// it when the batch ends; zero when it is up (see outage.go). Jobs snoozed by the outage are
	// counted in Snoozed.
	Outage time.Duration
}

// indexer runs the batches of one backend.
type indexer struct {
	backend backends.Indexer
	shadow  backends.Indexer // the shadow table written while a rebuild runs; nil when there is none
	// nextGen is set when shadow belongs to the backend's next generation (other settings): its
	// documents are prepared by shadow itself, not shared with backend.
	nextGen bool
	// table, generation and nextGeneration fence the writes (see BackendConfig.Generation);
	// generation 0 does not.
	table          string
	generation     int
	nextGeneration int
	domain         string
	logger         *slog.Logger
	onBatch        func(BatchStats)
	pool           *pgxpool.Pool
	provider       *provider // the health of the backend's embedding provider
}

// action is what a batch does for one record.
type action struct {
	id      uuid.UUID
	version int
	delete  bool
	attempt int                // the highest attempt among the record's jobs
	changed time.Time          // records.updated_at of the version written
	written bool               // the batch wrote this record (or its delete)
	newest  int                // the highest version among the record's jobs
	stale   bool               // every job is older than the record: the newer version's job indexes it
	doc     *backends.Document // the document to write when !delete
	nextDoc *backends.Document // with a next generation, the document prepared for its table
	empty   string             // why the record has no text the backend can index; "" when it has
	err     error              // the record's result
}

// plan is one batch's work: an action per distinct record, and the job → action index.
type plan struct {
	acts []*action
	byID map[uuid.UUID]*action
}

// runBatch brings every record of jobs to its current state in the backend. It reads the current
// records in one query, prepares (embeds) outside any transaction, then — in one transaction
// that locks the records' index_state rows — re-reads their versions, writes what is still
// current and marks it indexed. A record that changed meanwhile is skipped: the change enqueued
// a newer job. Each job gets its record's result, converted for River by outcome.
func (x *indexer) runBatch(ctx context.Context, jobs []*river.Job[IndexRecordArgs], reason string) []error {
	start := time.Now()
	p, err := x.plan(ctx, jobs)
	if err == nil {
		if err = x.write(ctx, p); errors.Is(err, errRolledBack) {
			err = nil // every action carries its own error
		}
	}
	errs := make([]error, len(jobs))
	for i, job := range jobs {
		e := err
		if e == nil {
			e = p.byID[job.Args.RecordID].err
		}
		errs[i] = x.outcome(job, e)
	}
	x.recordFailures(ctx, jobs, errs)
	var fresh []time.Duration
	if err == nil {
		now := time.Now()
		for _, a := range p.acts {
			if a.written && !a.delete && a.empty == "" {
				fresh = append(fresh, now.Sub(a.changed))
			}
		}
	}
	x.report(ctx, errs, reason, time.Since(start), fresh)
	return errs
}

// plan loads the current records and prepares the documents to write.
func (x *indexer) plan(ctx context.Context, jobs []*river.Job[IndexRecordArgs]) (*plan, error) {
	p := &plan{byID: map[uuid.UUID]*action{}}
	var ids []uuid.UUID
	for _, j := range jobs {
		a, ok := p.byID[j.Args.RecordID]
		if !ok {
			a = &action{id: j.Args.RecordID}
			p.byID[a.id] = a
			p.acts = append(p.acts, a)
			ids = append(ids, a.id)
		}
		a.attempt = max(a.attempt, j.Attempt)
		a.newest = max(a.newest, j.Args.Version)
	}
	current, err := records.LoadCurrent(ctx, x.pool, ids)
	if err != nil {
		return nil, fmt.Errorf("error loading records: %w", err)
	}
	var (
		docs    []backends.Document
		docActs []*action
	)
	for _, a := range p.acts {
		c, ok := current[a.id]
		a.version, a.delete = c.Version, !ok || c.Deleted
		if ok && a.newest < c.Version {
			// A newer version was committed, and with it the job that indexes it.
			a.stale = true
			continue
		}
		if a.delete {
			continue
		}
		var meta map[string]any
		if err := json.Unmarshal(c.Metadata, &meta); err != nil {
			a.err = indexerr.Permanentf("stored metadata is not a JSON object: %v", err)
			continue
		}
		docs = append(docs, backends.Document{RecordID: a.id, Version: c.Version, Metadata: meta})
		docActs = append(docActs, a)
	}
	if len(docs) > 0 {
		started := time.Now()
		for i, err := range x.backend.Prepare(ctx, docs) {
			if indexerr.IsNoText(err) {
				// Not a failure: the backend holds no row for this version, and its state says why.
				docActs[i].empty = err.Error()
				continue
			}
			docActs[i].err = err
		}
		for i, a := range docActs {
			a.doc = &docs[i]
		}
		x.checkOutage(ctx, docActs, started)
		if x.nextGen {
			x.prepareNext(ctx, docActs)
		}
	}
	return p, nil
}

// prepareNext prepares the documents of acts for the next generation's table, with its own
// settings (embedder, text). Each is offered the live generation's vector, which the next
// generation keeps when it embeds the same text with the same model (a change of HNSW settings,
// say), so a text is embedded once, not once per generation. A record the next generation
// cannot prepare retries, as a rebuild must not miss it.
func (x *indexer) prepareNext(ctx context.Context, acts []*action) {
	var (
		docs []backends.Document
		of   []*action
	)
	for _, a := range acts {
		if a.err == nil && a.empty == "" {
			docs = append(docs, backends.Document{RecordID: a.doc.RecordID, Version: a.doc.Version, Metadata: a.doc.Metadata,
				Embedding: a.doc.Embedding, Model: a.doc.Model, TextHash: a.doc.TextHash})
			of = append(of, a)
		}
	}
	if len(docs) == 0 {
		return
	}
	for i, err := range x.shadow.Prepare(ctx, docs) {
		if err != nil {
			of[i].err = fmt.Errorf("the next generation of backend %q: %w", x.backend.Name(), err)
			continue
		}
		of[i].nextDoc = &docs[i]
	}
}

// readSQL returns each record's version, deletion and last change as they are now, and whether
// a rebuild of the backend is running (its shadow table then gets every write too).
const readSQL = `
WITH rebuild AS (
    SELECT EXISTS (SELECT 1 FROM reindexes WHERE backend = $1 AND state = 'running') AS running
)
SELECT r.id, r.version, r.deleted_at IS NOT NULL, r.updated_at, rebuild.running
FROM records r CROSS JOIN rebuild WHERE r.id = ANY($2)`

// Current is a record as a write transaction sees it after [LockCurrent].
type Current struct {
	Version int
	Deleted bool
	Changed time.Time // records.updated_at
}

// LockCurrent locks ids' index_state rows of backend in tx ([indexstate.Lock]) and returns the
// records as they are now, and whether a rebuild of backend is running. Every writer of a
// backend's documents calls it first and writes only what is still current, so a delete or an
// update racing the write wins.
func LockCurrent(ctx context.Context, tx pgx.Tx, backend string, ids []uuid.UUID) (map[uuid.UUID]Current, bool, error) {
	if err := indexstate.Lock(ctx, tx, backend, ids); err != nil {
		return nil, false, err
	}
	rows, err := tx.Query(ctx, readSQL, backend, ids)
	if err != nil {
		return nil, false, fmt.Errorf("error locking index state: %w", err)
	}
	now := make(map[uuid.UUID]Current, len(ids))
	var (
		id         uuid.UUID
		st         Current
		rebuilding bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &st.Version, &st.Deleted, &st.Changed, &rebuilding}, func() error {
		now[id] = st
		return nil
	}); err != nil {
		return nil, false, fmt.Errorf("error locking index state: %w", err)
	}
	return now, rebuilding, nil
}

// write applies the plan in one transaction. An error here is the batch's: every job retries.
// A plan with nothing to write (every record failed, as in a provider outage, or is stale) opens
// no transaction.
func (x *indexer) write(ctx context.Context, p *plan) error {
	if !slices.ContainsFunc(p.acts, func(a *action) bool { return a.err == nil && !a.stale }) {
		return nil
	}
	return pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		// A batch writes no events; marked so, its xid (held through the backend's write, an
		// HNSW insert of hundreds of ms under load) does not hold back the changefeed.
		if err := events.QuietTx(ctx, tx); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(p.acts))
		for i, a := range p.acts {
			ids[i] = a.id
		}
		now, rebuilding, err := LockCurrent(ctx, tx, x.backend.Name(), ids)
		if err != nil {
			return err
		}
		if err := x.fence(ctx, tx); err != nil {
			return err
		}

		var (
			docs    []backends.Document
			docActs []*action
			deletes []uuid.UUID
			done    []*action
		)
		for _, a := range p.acts {
			cur, ok := now[a.id]
			switch {
			case a.err != nil || a.stale:
				continue
			case a.delete && (!ok || cur.Deleted):
				deletes = append(deletes, a.id)
				done = append(done, a)
			case a.delete || !ok || cur.Deleted || cur.Version != a.version:
				// Changed since the plan was made: the change enqueued a newer job.
				continue
			case a.empty != "":
				// No text to index: the backend must not keep an older version's row.
				deletes = append(deletes, a.id)
				done = append(done, a)
			default:
				a.changed = cur.Changed
				docs = append(docs, *a.doc)
				docActs = append(docActs, a)
			}
		}
		if len(docs) > 0 {
			for i, err := range x.backend.IngestBatch(ctx, tx, docs) {
				if err != nil {
					docActs[i].err = err
					continue
				}
				done = append(done, docActs[i])
			}
			// A backend isolates a bad document and writes the rest; only a statement that failed
			// outside its savepoint leaves the transaction unusable, and then nothing is written.
			if tx.Conn().PgConn().TxStatus() == 'E' {
				for _, a := range docActs {
					if a.err == nil {
						a.err = errors.New("batch rolled back after another record's error")
					}
				}
				return errRolledBack
			}
		}
		if len(deletes) > 0 {
			if err := x.backend.DeleteBatch(ctx, tx, deletes); err != nil {
				return fmt.Errorf("error deleting: %w", err)
			}
		}
		if rebuilding {
			if err := x.writeShadow(ctx, tx, done, deletes); err != nil {
				return err
			}
		}
		marks := make([]indexstate.Done, len(done))
		for i, a := range done {
			a.written = true
			marks[i] = indexstate.Done{RecordID: a.id, Version: a.version, Attempt: a.attempt, Deleted: a.delete, Empty: a.empty}
		}
		return indexstate.MarkDone(ctx, tx, x.backend.Name(), marks)
	})
}

// fence fails the batch when this process's generations of the backend are not the catalog's:
// its live one was swapped out, or a next generation is being built that this process does not
// write yet (its shadow table holds the next settings' rows). It locks the live table first (as
// the batch's write would), so a swap either waits for this transaction or has committed, and
// the catalog read after the lock shows it. The batch is retried; by then the process has
// followed the catalog.
func (x *indexer) fence(ctx context.Context, tx pgx.Tx) error {
	if x.generation == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{x.table}.Sanitize()+" IN ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("error locking table %s: %w", x.table, err)
	}
	live, building, err := catalog.Generations(ctx, tx, x.backend.Name())
	if err != nil {
		return err
	}
	switch {
	case live != 0 && live != x.generation:
		return fmt.Errorf("backend %q: this process writes generation %d, and the catalog's live one is %d: "+
			"the batch is retried once the process follows the catalog", x.backend.Name(), x.generation, live)
	case building != 0 && building != x.generation && building != x.nextGeneration:
		return fmt.Errorf("backend %q: the catalog builds generation %d, which this process does not write yet: "+
			"the batch is retried once the process follows the catalog", x.backend.Name(), building)
	}
	return nil
}

// writeShadow repeats a batch's writes in the shadow table of a running rebuild, after the live
// table (the order a swap locks them in). Any failure fails the batch: a rebuild must not miss a
// record the live table has.
func (x *indexer) writeShadow(ctx context.Context, tx pgx.Tx, done []*action, deletes []uuid.UUID) error {
	shadow := x.shadow
	if shadow == nil {
		return fmt.Errorf("a rebuild of backend %q is running, and this process has no shadow table to write for it", x.backend.Name())
	}
	var (
		docs      []backends.Document
		unchanged []int // docs the live table only moved: the shadow needs their vector
	)
	for _, a := range done {
		switch {
		case a.delete || a.empty != "": // removed from the shadow with deletes
		case x.nextGen:
			docs = append(docs, *a.nextDoc)
		default:
			if a.doc.Unchanged {
				unchanged = append(unchanged, len(docs))
			}
			docs = append(docs, *a.doc)
		}
	}
	if len(unchanged) > 0 {
		// The shadow prepares them itself: it copies the live row's vector of an unchanged text.
		prep := make([]backends.Document, len(unchanged))
		for k, i := range unchanged {
			prep[k] = backends.Document{RecordID: docs[i].RecordID, Version: docs[i].Version, Metadata: docs[i].Metadata}
		}
		if err := errors.Join(shadow.Prepare(ctx, prep)...); err != nil {
			return fmt.Errorf("error preparing the shadow table's rows of a rebuild: %v", err)
		}
		for k, i := range unchanged {
			docs[i] = prep[k]
		}
	}
	if len(docs) > 0 {
		if err := errors.Join(shadow.IngestBatch(ctx, tx, docs)...); err != nil {
			// Never permanent for the records: the shadow is the rebuild's, and the jobs retry
			// (%v, not %w, so that a rejected row of the shadow does not cancel them).
			return fmt.Errorf("error writing the shadow table of a rebuild: %v", err)
		}
	}
	if len(deletes) > 0 {
		if err := shadow.DeleteBatch(ctx, tx, deletes); err != nil {
			return fmt.Errorf("error deleting from the shadow table of a rebuild: %w", err)
		}
	}
	return nil
}

// outcome converts a record's result into the job's River result: nil completes; a provider
// outage snoozes for the outage's delay and a rate limit for the advised time, neither using an
// attempt; a permanent error cancels the job with a message naming the backend, the record and
// the reason; anything else retries with backoff.
func (x *indexer) outcome(job *river.Job[IndexRecordArgs], err error) error {
	if err == nil {
		return nil
	}
	srn := records.SRN{Domain: x.domain, ID: job.Args.RecordID, Version: job.Args.Version}
	err = fmt.Errorf("backend %q: record %s: %w", x.backend.Name(), srn, err)
	if o := (*outageError)(nil); errors.As(err, &o) {
		return &snoozed{cause: err, snooze: river.JobSnooze(o.delay), outage: true}
	}
	if d, ok := indexerr.RetryAfter(err); ok {
		if d <= 0 {
			d = snoozeDefault
		}
		return &snoozed{cause: err, snooze: river.JobSnooze(d)}
	}
	if indexerr.IsPermanent(err) {
		return river.JobCancel(err)
	}
	return err
}

// snoozed is River's snooze result that still remembers why, for index_state and the log.
type snoozed struct {
	cause  error
	snooze error
	outage bool // the cause is a provider outage (an [outageError])
}

func (s *snoozed) Error() string { return s.cause.Error() }

// Unwrap returns River's snooze error, so River snoozes the job.
func (s *snoozed) Unwrap() error { return s.snooze }

// recordFailures writes the failed and snoozed jobs' errors to index_state, so GetIndexStatus
// shows why a record waits. A failure is final when the job is cancelled or has used its last
// attempt; a snooze (provider outage, rate limit) keeps the record's attempts and state.
func (x *indexer) recordFailures(ctx context.Context, jobs []*river.Job[IndexRecordArgs], errs []error) {
	var fs []indexstate.Failure
	for i, err := range errs {
		if err == nil || errors.Is(err, context.Canceled) {
			continue
		}
		j := jobs[i]
		var (
			cancel *river.JobCancelError
			snooze *snoozed
		)
		isSnooze := errors.As(err, &snooze)
		isCancel := errors.As(err, &cancel)
		msg := err.Error()
		if isCancel && cancel.Unwrap() != nil {
			msg = cancel.Unwrap().Error() // not River's "JobCancelError: " prefix
		}
		fs = append(fs, indexstate.Failure{RecordID: j.Args.RecordID, Version: j.Args.Version, Attempt: j.Attempt,
			Error: msg, Final: !isSnooze && (isCancel || j.Attempt >= j.MaxAttempts), Snoozed: isSnooze})
	}
	if err := indexstate.RecordFailures(context.WithoutCancel(ctx), x.pool, x.backend.Name(), fs); err != nil {
		x.logger.WarnContext(ctx, "jobs: error recording index failures", "backend", x.backend.Name(), "error", err)
	}
}

// report writes the one line per batch and hands its stats to onBatch. The line is INFO, or WARN
// when a job did not succeed for a reason other than a provider outage (whose beginning and end
// are logged once, by [provider]).
func (x *indexer) report(ctx context.Context, errs []error, reason string, d time.Duration, fresh []time.Duration) {
	st := BatchStats{Backend: x.backend.Name(), Size: len(errs), Reason: reason, Duration: d, Freshness: fresh,
		Outage: x.provider.downFor()}
	outages := 0
	for _, err := range errs {
		var (
			snooze *snoozed
			cancel *river.JobCancelError
		)
		switch {
		case err == nil:
			st.Succeeded++
		case errors.As(err, &snooze):
			st.Snoozed++
			if snooze.outage {
				outages++
			}
		case errors.As(err, &cancel):
			st.Cancelled++
		default:
			st.Retried++
		}
	}
	if x.onBatch != nil {
		x.onBatch(st)
	}
	level := slog.LevelInfo
	if st.Succeeded+outages < st.Size {
		level = slog.LevelWarn
	}
	attrs := []any{"backend", st.Backend, "size", st.Size, "flush", reason, "duration", d.Round(time.Millisecond),
		"succeeded", st.Succeeded, "retried", st.Retried, "snoozed", st.Snoozed, "cancelled", st.Cancelled}
	if st.Outage > 0 {
		attrs = append(attrs, "outage", st.Outage.Round(time.Millisecond))
	}
	x.logger.Log(ctx, level, "jobs: batch", attrs...)
	if st.Succeeded < st.Size && x.logger.Enabled(ctx, slog.LevelDebug) {
		for _, err := range errs {
			if err != nil {
				x.logger.DebugContext(ctx, "jobs: batch item failed", "backend", st.Backend, "error", err)
			}
		}
	}
}
