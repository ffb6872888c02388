package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/osa-archive/osa/migrations"
)

// riverInsertChunk is how many no-op jobs one InsertManyFast call inserts.
const riverInsertChunk = 5000

// RiverResult is the raw River ceiling: no-op jobs worked by a River client with the pipeline's
// queue settings, through a database on the same server. It bounds what any pipeline built on
// River can reach on this machine.
type RiverResult struct {
	// Jobs is the number of no-op jobs, inserted up front (InsertManyFast, COPY; not timed) into
	// Queues, which mirror the pipeline scenario's: the fanout queue and its index queue, each
	// with the scenario's MaxWorkers and as many jobs as the scenario had records.
	Jobs   int          `json:"jobs"`
	Queues []RiverQueue `json:"queues"`
	// FetchCooldownMillis and FetchPollIntervalMillis are the client's and every queue's
	// (worker.fetch_cooldown and worker.fetch_poll_interval); MaxConns is the pool size
	// (database.max_conns).
	FetchCooldownMillis     float64 `json:"fetch_cooldown_ms"`
	FetchPollIntervalMillis float64 `json:"fetch_poll_interval_ms"`
	MaxConns                int     `json:"max_conns"`
	// InsertSeconds is the time the untimed insert took.
	InsertSeconds float64 `json:"insert_seconds"`
	// Seconds is the time from the client's Start until the database showed every job
	// completed; JobsPerSec is Jobs/Seconds.
	Seconds    float64 `json:"seconds"`
	JobsPerSec float64 `json:"jobs_per_sec"`
	// JobsPerRecord is the jobs the pipeline runs per record (see [jobsPerRecord]);
	// RecordsPerSec is JobsPerSec/JobsPerRecord: the most records/s River alone lets the
	// pipeline reach.
	JobsPerRecord float64 `json:"jobs_per_record"`
	RecordsPerSec float64 `json:"records_per_sec"`
	// CPU is the machine's CPU use while the jobs were worked.
	CPU        CPUUse `json:"cpu"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// RiverQueue is one queue of the River ceiling.
type RiverQueue struct {
	// Name is the queue of the pipeline it mirrors ("fanout", "index_keyword").
	Name       string `json:"name"`
	MaxWorkers int    `json:"max_workers"`
	Jobs       int    `json:"jobs"`
}

// fanOutJobs is the number of fan-out jobs the pipeline runs for records published in calls of
// publishBatch: one per call (jobs/pipeline/fanout.go).
func fanOutJobs(records, publishBatch int) int { return (records + publishBatch - 1) / publishBatch }

// jobsPerRecord is the number of River jobs the pipeline runs per record for records published
// in calls of publishBatch into a server with backends backends: a fan-out job per call, which
// inserts one IndexRecord job per record and backend.
func jobsPerRecord(records, publishBatch, backends int) float64 {
	return float64(fanOutJobs(records, publishBatch)+records*backends) / float64(records)
}

// riverCeilingConfig is what the River ceiling copies from the pipeline scenario.
type riverCeilingConfig struct {
	queues            []RiverQueue
	fetchCooldown     time.Duration
	fetchPollInterval time.Duration
	jobTimeout        time.Duration
	maxConns          int
	jobsPerRecord     float64
}

// riverNoopArgs is the no-op job of the River ceiling.
type riverNoopArgs struct{}

// Kind implements river.JobArgs.
func (riverNoopArgs) Kind() string { return "osa_bench_noop" }

// riverNoopWorker counts the jobs it works and does nothing else.
type riverNoopWorker struct {
	river.WorkerDefaults[riverNoopArgs]
	worked *atomic.Int64
}

// Work implements river.Worker.
func (w *riverNoopWorker) Work(context.Context, *river.Job[riverNoopArgs]) error {
	w.worked.Add(1)
	return nil
}

// riverCompletedSQL counts the completed jobs: River's completer writes completions in batches
// after Work returns, and the ceiling ends when they are all written.
const riverCompletedSQL = `SELECT count(*) FROM river_job WHERE state = 'completed'`

// rawRiver measures the raw River ceiling in a scratch database migrated like the scenarios'
// (OSA's and River's schema): it inserts the jobs of rc.queues, starts a River client whose only
// worker does nothing, and times how long the client takes to complete them all.
func rawRiver(ctx context.Context, adminURL string, cpu *cpuMeter, rc riverCeilingConfig, progress func(done, total int)) (res RiverResult, err error) {
	db, err := createScratchDB(ctx, adminURL)
	if err != nil {
		return res, err
	}
	defer func() {
		if dropErr := db.drop(ctx); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	pc, err := pgxpool.ParseConfig(db.url)
	if err != nil {
		return res, err
	}
	pc.MaxConns = int32(rc.maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return res, fmt.Errorf("error connecting to %s: %w", db.name, err)
	}
	defer pool.Close()
	discard := slog.New(slog.DiscardHandler)
	if err := migrations.Up(ctx, pool, discard); err != nil {
		return res, fmt.Errorf("error migrating the River ceiling's database: %w", err)
	}

	var worked atomic.Int64
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, river.Worker[riverNoopArgs](&riverNoopWorker{worked: &worked})); err != nil {
		return res, err
	}
	queues := make(map[string]river.QueueConfig, len(rc.queues))
	total := 0
	for _, q := range rc.queues {
		queues[q.Name] = river.QueueConfig{MaxWorkers: q.MaxWorkers, FetchCooldown: rc.fetchCooldown, FetchPollInterval: rc.fetchPollInterval}
		total += q.Jobs
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		FetchCooldown:     rc.fetchCooldown,
		FetchPollInterval: rc.fetchPollInterval,
		JobTimeout:        rc.jobTimeout,
		Logger:            discard,
		Queues:            queues,
		Workers:           workers,
	})
	if err != nil {
		return res, fmt.Errorf("error building the River ceiling's client: %w", err)
	}

	res = RiverResult{Jobs: total, Queues: slices.Clone(rc.queues), FetchCooldownMillis: durationMillis(rc.fetchCooldown),
		FetchPollIntervalMillis: durationMillis(rc.fetchPollInterval), MaxConns: rc.maxConns, JobsPerRecord: rc.jobsPerRecord}
	t0 := time.Now()
	for _, q := range rc.queues {
		params := make([]river.InsertManyParams, 0, min(q.Jobs, riverInsertChunk))
		for i := range q.Jobs {
			params = append(params, river.InsertManyParams{Args: riverNoopArgs{}, InsertOpts: &river.InsertOpts{Queue: q.Name}})
			if len(params) == cap(params) || i == q.Jobs-1 {
				if _, err := client.InsertManyFast(ctx, params); err != nil {
					return res, fmt.Errorf("error inserting the River ceiling's jobs: %w", err)
				}
				params = params[:0]
			}
		}
	}
	res.InsertSeconds = time.Since(t0).Seconds()

	res.LoadBefore = loadAvg()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	cpu0 := cpu.read()
	start := time.Now()
	if err := client.Start(runCtx); err != nil {
		return res, fmt.Errorf("error starting the River ceiling's client: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if stopErr := client.Stop(stopCtx); stopErr != nil && err == nil {
			err = fmt.Errorf("error stopping the River ceiling's client: %w", stopErr)
		}
	}()

	// Wait for the workers, then for River's completer to write the last completions.
	var (
		last         int64
		lastMove     = time.Now()
		lastProgress = time.Now()
	)
	for {
		n := worked.Load()
		if n >= int64(total) {
			break
		}
		if n != last {
			last, lastMove = n, time.Now()
		} else if time.Since(lastMove) > stallTimeout {
			return res, fmt.Errorf("River ceiling: no job worked for %s (%d of %d)", stallTimeout, n, total)
		}
		if progress != nil && time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			progress(int(n), total)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	completed := 0
	err = waitFor(ctx, stallTimeout, func() bool {
		if qErr := pool.QueryRow(ctx, riverCompletedSQL).Scan(&completed); qErr != nil {
			return false
		}
		return completed >= total
	})
	if err != nil {
		return res, fmt.Errorf("River ceiling: %d of %d jobs completed in the database: %w", completed, total, err)
	}
	elapsed := time.Since(start)
	res.CPU = cpu0.until(cpu.read())
	res.LoadAfter = loadAvg()
	res.Seconds = elapsed.Seconds()
	res.JobsPerSec = float64(total) / res.Seconds
	if rc.jobsPerRecord > 0 {
		res.RecordsPerSec = res.JobsPerSec / rc.jobsPerRecord
	}
	return res, nil
}

// durationMillis returns d in milliseconds.
func durationMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
