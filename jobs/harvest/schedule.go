package harvest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/robfig/cron/v3"

	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/sources"
)

// ScheduleArgs starts a scheduled harvest of a source; River's periodic jobs insert it on
// the source's schedule.
type ScheduleArgs struct {
	Source string `json:"source"`
}

// Kind implements river.JobArgs.
func (ScheduleArgs) Kind() string { return "osa_harvest_schedule" }

// InsertOpts implements river.JobArgsWithInsertOpts: queue sources, bulk priority.
func (ScheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, Priority: records.PriorityBulk, MaxAttempts: MaxAttempts}
}

// ScheduleWorker works [ScheduleArgs]: it starts a harvest of the source with the
// source's limit and since = the start of its last successful harvest minus one day (a day of
// overlap, so nothing published around that start is missed; the upsert makes the overlap
// cheap), or the whole source when it never succeeded. A harvest still running is left alone.
type ScheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	client  *river.Client[pgx.Tx] // set by Workers.Bind
	logger  *slog.Logger
	pool    *pgxpool.Pool
	sources *sources.Registry
}

// Work implements river.Worker.
func (w *ScheduleWorker) Work(ctx context.Context, job *river.Job[ScheduleArgs]) error {
	log := w.logger.With("source", job.Args.Source)
	entry, err := w.sources.Lookup(job.Args.Source)
	if err != nil {
		return river.JobCancel(err)
	}
	if !entry.Enabled {
		log.InfoContext(ctx, "harvest: scheduled harvest skipped, the source is disabled")
		return nil
	}
	since, err := scheduledSince(ctx, w.pool, job.Args.Source)
	if err != nil {
		return err
	}
	var h Harvest
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var err error
		if h, err = StartTx(ctx, w.client, tx, w.sources, Request{Source: job.Args.Source, Limit: entry.Limit, Since: since}); err != nil {
			return err
		}
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
	var running *RunningError
	switch {
	case errors.As(err, &running):
		log.InfoContext(ctx, "harvest: scheduled harvest skipped, one is still running", "running_id", running.ID)
		return nil
	case err != nil:
		return fmt.Errorf("error starting the scheduled harvest: %w", err)
	}
	log.InfoContext(ctx, "harvest: scheduled harvest started", "harvest_id", h.ID, "since", since, "limit", entry.Limit)
	return nil
}

// scheduledSince returns the since of a scheduled harvest of source: the day before the start
// of its last successful harvest, as YYYY-MM-DD in UTC; "" when none succeeded.
func scheduledSince(ctx context.Context, pool *pgxpool.Pool, source string) (string, error) {
	var last *time.Time
	if err := pool.QueryRow(ctx, `SELECT max(started_at) FROM harvests WHERE source = $1 AND state = 'succeeded'`,
		source).Scan(&last); err != nil {
		return "", fmt.Errorf("error reading the last harvest of %q: %w", source, err)
	}
	if last == nil {
		return "", nil
	}
	return last.UTC().AddDate(0, 0, -1).Format(time.DateOnly), nil
}

// Config configures the harvests of a process.
type Config struct {
	// Sources are the configured sources; queue "sources" runs their harvests and each enabled
	// source with a schedule gets a periodic job. nil means none.
	Sources *sources.Registry
}

// Workers are the harvest workers once registered; [Workers.Bind] hands them the client and the
// store they publish through.
type Workers struct {
	chunks *ChunkWorker
	starts *ScheduleWorker
}

// Bind gives the workers the River client built from the configuration they were registered
// on, and the record store harvests publish through; it must be called before the client starts.
func (w *Workers) Bind(client *river.Client[pgx.Tx], store *records.Store) {
	w.chunks.client, w.chunks.store, w.starts.client = client, store, client
}

// Register adds to rc the sources queue ([MaxWorkers] workers), the harvest workers and one
// periodic job per enabled source with a schedule. A schedule is a standard cron expression (5
// fields, or a descriptor such as @daily) in the process's time zone; only River's leader
// enqueues it.
func Register(rc *river.Config, pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*Workers, error) {
	rc.Queues[Queue] = river.QueueConfig{MaxWorkers: MaxWorkers}
	chunks := &ChunkWorker{logger: logger, pool: pool, sources: cfg.Sources}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[ChunkArgs](chunks)); err != nil {
		return nil, err
	}
	starts := &ScheduleWorker{logger: logger, pool: pool, sources: cfg.Sources}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[ScheduleArgs](starts)); err != nil {
		return nil, err
	}
	for _, e := range cfg.Sources.Entries() {
		if e.Schedule == "" || !e.Enabled {
			continue
		}
		schedule, err := cron.ParseStandard(e.Schedule)
		if err != nil {
			return nil, fmt.Errorf("source %q: schedule %q is not a cron expression: %w", e.Name(), e.Schedule, err)
		}
		args := ScheduleArgs{Source: e.Name()}
		rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(schedule,
			func() (river.JobArgs, *river.InsertOpts) { return args, nil },
			&river.PeriodicJobOpts{ID: "osa_harvest_" + e.Name()}))
	}
	return &Workers{chunks: chunks, starts: starts}, nil
}
