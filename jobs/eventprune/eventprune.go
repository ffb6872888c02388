// Package eventprune deletes the changefeed's events older than events.retention: a River
// periodic job, enqueued by the leader every events.prune_interval, that prunes in batches of
// events.prune_batch, each in its own short transaction ([events.Prune]).
package eventprune

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/events"
)

// Queue is the queue of the prune job.
const Queue = "events"

// Defaults of [Config].
const (
	IntervalDefault = time.Hour
)

// Config configures the prune job.
type Config struct {
	// Retention is how long events are kept (events.retention). Defaults to 720h (30 days).
	Retention time.Duration
	// Interval is how often the job runs (events.prune_interval). Defaults to 1h.
	Interval time.Duration
	// Batch is the most events one transaction deletes (events.prune_batch). Defaults to 1000.
	Batch int
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c Config) WithDefaults() Config {
	if c.Retention == 0 {
		c.Retention = events.RetentionDefault
	}
	if c.Interval == 0 {
		c.Interval = IntervalDefault
	}
	if c.Batch == 0 {
		c.Batch = events.PruneBatchDefault
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Retention < 0:
		return fmt.Errorf("eventprune: Retention (%v) must not be negative", c.Retention)
	case c.Interval < 0:
		return fmt.Errorf("eventprune: Interval (%v) must not be negative", c.Interval)
	case c.Batch < 0:
		return fmt.Errorf("eventprune: Batch (%d) must not be negative", c.Batch)
	}
	return nil
}

// Args is the prune job.
type Args struct{}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "osa_events_prune" }

// InsertOpts implements river.JobArgsWithInsertOpts: its own queue, and one at a time (a
// prune still waiting is not enqueued again).
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable,
		rivertype.JobStateScheduled}}}
}

// Worker works [Args].
type Worker struct {
	river.WorkerDefaults[Args]
	cfg    Config
	logger *slog.Logger
	pool   *pgxpool.Pool
	now    func() time.Time
}

// Work implements river.Worker: it deletes every event written before now - retention.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	cutoff := w.now().Add(-w.cfg.Retention)
	n, err := events.Prune(ctx, w.pool, cutoff, w.cfg.Batch)
	if n > 0 {
		w.logger.InfoContext(ctx, "eventprune: pruned events", "deleted", n, "before", cutoff)
	}
	return err
}

// Register adds to rc the events queue (one worker), the prune worker and its periodic job,
// run every cfg.Interval and once at start.
func Register(rc *river.Config, pool *pgxpool.Pool, cfg Config, logger *slog.Logger) error {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	rc.Queues[Queue] = river.QueueConfig{MaxWorkers: 1}
	w := &Worker{cfg: cfg, logger: logger, pool: pool, now: time.Now}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[Args](w)); err != nil {
		return err
	}
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cfg.Interval),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil },
		&river.PeriodicJobOpts{ID: "osa_events_prune", RunOnStart: true}))
	return nil
}
