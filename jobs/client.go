package jobs

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/sources"
)

// Defaults of the fan-out batches.
const (
	FanOutBatchDefault = 128
	FanOutDelayDefault = 20 * time.Millisecond
)

// BackendConfig is one backend with its queue and batch settings.
type BackendConfig struct {
	Backend backends.Backend
	// Weight is the backend's share of Config.TotalWorkers.
	Weight int
	// MaxAttempts is how often an index job is tried before it is discarded.
	MaxAttempts int
	// BatchSize is the most jobs in one batch (batch.max_size).
	BatchSize int
	// BatchDelay is how long a batch waits to fill (batch.max_delay).
	BatchDelay time.Duration
	// BatchTimeout bounds one batch write (batch.timeout).
	BatchTimeout time.Duration
}

// Config configures the River client of a process.
type Config struct {
	// Backends are the configured backends; each gets queue "index_<name>".
	Backends []BackendConfig
	// Domain is the SRN domain, for error messages.
	Domain string
	// OnBatch, when set, is called after every index batch (metrics, benchmarks). It must be fast
	// and safe for concurrent use.
	OnBatch func(BatchStats)
	// FanOutWorkers is MaxWorkers of the fanout queue, rounded down to whole FanOutBatch
	// multiples (at least one batch).
	FanOutWorkers int
	// FanOutBatch is the most fan-out jobs done in one transaction. Defaults to 128.
	FanOutBatch int
	// FanOutDelay is how long the first fan-out job of a batch waits for more. Defaults to 20ms.
	FanOutDelay time.Duration
	// FetchCooldown and FetchPollInterval apply to the client and every queue.
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// JobTimeout bounds one job (worker.job_timeout); a fan-out batch gets half of it. As in
	// River, 0 means river.JobTimeoutDefault (1 minute) and -1 no bound.
	JobTimeout time.Duration
	// Middleware wraps job insertion and work (tracing). nil means none.
	Middleware []rivertype.Middleware
	// OutageRetryMax caps how long an index job waits while its backend's embedding provider is
	// down (worker.outage_retry_max): such a job snoozes, without using an attempt, for as long
	// as the outage has lasted so far, at least OutageRetryMin and at most OutageRetryMax, less
	// up to 20% at random (see outage.go). Once the provider is back, every waiting job is
	// retried within OutageRetryMax, plus River's scheduler interval (5s) when OutageRetryMax
	// is longer than that; an outage that never ends has every job tried again about every
	// OutageRetryMax, for ever. Defaults to 30s.
	OutageRetryMax time.Duration
	// OutageRetryMin is the shortest wait of an index job in a provider outage
	// (worker.outage_retry_min). Defaults to 1s, or OutageRetryMax when that is shorter.
	OutageRetryMin time.Duration
	// RetryPolicy schedules retries; nil is River's default ((attempt)^4 seconds, ±10%).
	RetryPolicy river.ClientRetryPolicy
	// RescueAfter is when a running job of a dead process is made retryable (worker.rescue_after).
	RescueAfter time.Duration
	// SoftStopTimeout is how long a stop waits for running jobs before River cancels their
	// contexts (worker.shutdown_timeout); 0 waits for them for ever, as in River.
	SoftStopTimeout time.Duration
	// Sources are the configured sources; with Work, queue "sources" runs their harvests and each
	// enabled source with a schedule gets a periodic job (see harvest_schedule.go). nil means none.
	Sources *sources.Registry
	// Store configures the record store harvest chunks publish through: the API's settings.
	Store records.StoreConfig
	// TotalWorkers is the worker budget split across the index queues by weight.
	TotalWorkers int
	// Work makes the client work queues; without it the client only inserts (the api role).
	Work bool
}

// QueueWorkers splits total workers across backends by weight: each share is rounded down to a
// whole multiple of the backend's batch size, and is at least one batch, so full batches can
// gather and no remainder waits out batch.max_delay every cycle.
func QueueWorkers(total int, bs []BackendConfig) map[string]int {
	sum := 0
	for _, b := range bs {
		sum += b.Weight
	}
	out := make(map[string]int, len(bs))
	for _, b := range bs {
		share := total * b.Weight / max(sum, 1)
		out[backends.Queue(b.Backend.Name())] = max(share/b.BatchSize, 1) * b.BatchSize
	}
	return out
}

// fanOutTimeout bounds a fan-out batch: half of a job's bound jobTimeout, which is River's
// default when 0; none (-1) when jobTimeout is -1.
func fanOutTimeout(jobTimeout time.Duration) time.Duration {
	switch {
	case jobTimeout == 0:
		return river.JobTimeoutDefault / 2
	case jobTimeout < 0:
		return -1
	}
	return jobTimeout / 2
}

// NewClient builds the River client. With cfg.Work it registers the fan-out and index workers
// and one queue per stage and backend; each backend's gatherer is sized by [QueueWorkers].
func NewClient(pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*river.Client[pgx.Tx], error) {
	rc := &river.Config{
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		JobTimeout:           cfg.JobTimeout,
		Logger:               logger,
		RescueStuckJobsAfter: cfg.RescueAfter,
		SoftStopTimeout:      cfg.SoftStopTimeout,
		RetryPolicy:          cfg.RetryPolicy,
		Middleware:           cfg.Middleware,
	}
	if cfg.Work {
		cfg.FanOutBatch = cmp.Or(cfg.FanOutBatch, FanOutBatchDefault)
		cfg.FanOutDelay = cmp.Or(cfg.FanOutDelay, FanOutDelayDefault)
		cfg.OutageRetryMax = cmp.Or(cfg.OutageRetryMax, OutageRetryMaxDefault)
		cfg.OutageRetryMin = cmp.Or(cfg.OutageRetryMin, min(OutageRetryMinDefault, cfg.OutageRetryMax))
		if cfg.OutageRetryMin < 0 || cfg.OutageRetryMax < cfg.OutageRetryMin {
			return nil, fmt.Errorf("jobs: OutageRetryMin (%v) must be positive and at most OutageRetryMax (%v)",
				cfg.OutageRetryMin, cfg.OutageRetryMax)
		}
		queue := func(n int) river.QueueConfig {
			return river.QueueConfig{MaxWorkers: n, FetchCooldown: cfg.FetchCooldown, FetchPollInterval: cfg.FetchPollInterval}
		}
		fanSlots := max(cfg.FanOutWorkers/cfg.FanOutBatch, 1) * cfg.FanOutBatch
		rc.Queues = map[string]river.QueueConfig{QueueFanOut: queue(fanSlots)}
		shares := QueueWorkers(cfg.TotalWorkers, cfg.Backends)
		fan := &FanOutWorker{pool: pool}
		fan.g = newGatherer(gatherConfig{
			MaxSize: cfg.FanOutBatch, MaxDelay: cfg.FanOutDelay, Slots: fanSlots, Timeout: fanOutTimeout(cfg.JobTimeout),
		}, fan.runBatch)
		idx := &IndexWorker{gatherers: map[string]*gatherer[*river.Job[IndexRecordArgs]]{}}
		rx := &reindexer{backends: map[string]backends.Rebuilder{}, logger: logger, pool: pool}
		for _, b := range cfg.Backends {
			rx.backends[b.Backend.Name()] = b.Backend
			name := b.Backend.Name()
			slots := shares[backends.Queue(name)]
			rc.Queues[backends.Queue(name)] = queue(slots)
			fan.names = append(fan.names, name)
			fan.targets = append(fan.targets, target{name: name, maxAttempts: b.MaxAttempts})
			x := &indexer{backend: b.Backend, shadow: b.Backend.Shadow(), domain: cfg.Domain, logger: logger, onBatch: cfg.OnBatch, pool: pool,
				provider: newProvider(name, logger, cfg.OutageRetryMin, cfg.OutageRetryMax)}
			idx.gatherers[name] = newGatherer(gatherConfig{
				MaxSize: b.BatchSize, MaxDelay: b.BatchDelay, Slots: slots, Timeout: b.BatchTimeout,
			}, x.runBatch)
		}
		rc.Workers = river.NewWorkers()
		if err := river.AddWorkerSafely(rc.Workers, river.Worker[FanOutArgs](fan)); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(rc.Workers, river.Worker[IndexRecordArgs](idx)); err != nil {
			return nil, err
		}
		if err := addHarvests(rc, cfg, pool, logger, queue(SourcesWorkers)); err != nil {
			return nil, err
		}
		// One rebuild job at a time: chunks of a rebuild are sequential anyway.
		rc.Queues[QueueReindex] = queue(1)
		if err := river.AddWorkerSafely(rc.Workers, river.Worker[ReindexChunkArgs](&ReindexChunkWorker{x: rx})); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(rc.Workers, river.Worker[ReindexFinishArgs](&ReindexFinishWorker{x: rx})); err != nil {
			return nil, err
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("error building the River client: %w", err)
	}
	return client, nil
}
