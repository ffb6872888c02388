package jobs

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

// HarvestScheduleArgs starts a scheduled harvest of a source; River's periodic jobs insert it on
// the source's schedule.
type HarvestScheduleArgs struct {
	Source string `json:"source"`
}

// Kind implements river.JobArgs.
func (HarvestScheduleArgs) Kind() string { return "osa_harvest_schedule" }

// InsertOpts implements river.JobArgsWithInsertOpts: queue sources, bulk priority.
func (HarvestScheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSources, Priority: records.PriorityBulk, MaxAttempts: HarvestMaxAttempts}
}

// HarvestScheduleWorker works [HarvestScheduleArgs]: it starts a harvest of the source with the
// source's limit and since = the start of its last successful harvest minus one day (a day of
// overlap, so nothing published around that start is missed; the upsert makes the overlap
// cheap), or the whole source when it never succeeded. A harvest still running is left alone.
type HarvestScheduleWorker struct {
	river.WorkerDefaults[HarvestScheduleArgs]
	logger  *slog.Logger
	pool    *pgxpool.Pool
	sources *sources.Registry
}

// Work implements river.Worker.
func (w *HarvestScheduleWorker) Work(ctx context.Context, job *river.Job[HarvestScheduleArgs]) error {
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
	client := river.ClientFromContext[pgx.Tx](ctx)
	var h Harvest
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var err error
		if h, err = StartHarvestTx(ctx, client, tx, w.sources, HarvestRequest{Source: job.Args.Source, Limit: entry.Limit, Since: since}); err != nil {
			return err
		}
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
	var running *HarvestRunningError
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

// addHarvests registers the harvest workers, the sources queue and one periodic job per enabled
// source with a schedule on rc. A schedule is a standard cron expression (5 fields, or a
// descriptor such as @daily) in the process's time zone; only River's leader enqueues it.
func addHarvests(rc *river.Config, cfg Config, pool *pgxpool.Pool, logger *slog.Logger, queue river.QueueConfig) error {
	rc.Queues[QueueSources] = queue
	chunks := &HarvestChunkWorker{logger: logger, pool: pool, sources: cfg.Sources, storeCfg: cfg.Store}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[HarvestChunkArgs](chunks)); err != nil {
		return err
	}
	starts := &HarvestScheduleWorker{logger: logger, pool: pool, sources: cfg.Sources}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[HarvestScheduleArgs](starts)); err != nil {
		return err
	}
	for _, e := range cfg.Sources.Entries() {
		if e.Schedule == "" || !e.Enabled {
			continue
		}
		schedule, err := cron.ParseStandard(e.Schedule)
		if err != nil {
			return fmt.Errorf("source %q: schedule %q is not a cron expression: %w", e.Name(), e.Schedule, err)
		}
		args := HarvestScheduleArgs{Source: e.Name()}
		rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(schedule,
			func() (river.JobArgs, *river.InsertOpts) { return args, nil },
			&river.PeriodicJobOpts{ID: "osa_harvest_" + e.Name()}))
	}
	return nil
}
