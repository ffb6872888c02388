// Package pipeline is the indexing pipeline: the fan-out of a record change to every backend
// ([FanOutWorker]), and the per-backend index workers ([IndexWorker]) that gather jobs into
// batches (gatherer.go) and write them. Jobs carry record ids and versions, never metadata: a
// worker reads the current record when it runs, so the latest state always wins. While a
// backend's embedding provider is down, its index jobs snooze without using an attempt and are
// retried within [Config.OutageRetryMax] of its return (outage.go; the design is in the doc of
// package jobs).
//
// [Register] adds the pipeline's queues and workers to a River configuration; package jobs
// builds the client.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends"
)

// Defaults of [Config]; config.Default() holds the same values (a test checks it).
const (
	FanOutBatchDefault    = 128
	FanOutDelayDefault    = 20 * time.Millisecond
	OutageRetryMinDefault = time.Second
	OutageRetryMaxDefault = 30 * time.Second
)

// BackendConfig is one backend with its queue and batch settings.
type BackendConfig struct {
	Backend backends.Backend
	// Next is the backend's next generation (other settings), built beside it while a change that
	// needs a rebuild runs: the rebuild fills Next's shadow table, and every batch writes it too,
	// prepared by Next. nil when none; Backend's own shadow is written then.
	Next backends.Backend
	// NextGeneration is Next's generation in the catalog.
	NextGeneration int
	// Generation is Backend's generation in the catalog. When set, every batch checks, under a
	// lock on Backend's table, that it is still the live one, and retries otherwise: a process
	// that has not yet followed a swap to the next generation never writes the old settings'
	// rows into the new table. 0 skips the check.
	Generation int
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

// Config configures the pipeline of a process.
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
	// FanOutBatch is the most record changes fanned out in one transaction, in whole fan-out
	// jobs: a job of more changes (a publish call of up to records.max_batch) is a batch of its
	// own. Defaults to 128.
	FanOutBatch int
	// FanOutDelay is how long the first fan-out job of a batch waits for more. Defaults to 20ms.
	FanOutDelay time.Duration
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
	// TotalWorkers is the worker budget split across the index queues by weight.
	TotalWorkers int
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c Config) WithDefaults() Config {
	c.FanOutBatch = cmp.Or(c.FanOutBatch, FanOutBatchDefault)
	c.FanOutDelay = cmp.Or(c.FanOutDelay, FanOutDelayDefault)
	c.OutageRetryMax = cmp.Or(c.OutageRetryMax, OutageRetryMaxDefault)
	c.OutageRetryMin = cmp.Or(c.OutageRetryMin, min(OutageRetryMinDefault, c.OutageRetryMax))
	return c
}

// validate reports the first setting of c (after WithDefaults) that cannot work.
func (c Config) validate() error {
	if c.OutageRetryMin <= 0 || c.OutageRetryMax < c.OutageRetryMin {
		return fmt.Errorf("pipeline: OutageRetryMin (%v) must be positive and at most OutageRetryMax (%v)",
			c.OutageRetryMin, c.OutageRetryMax)
	}
	for _, b := range c.Backends {
		if b.Weight < 1 || b.BatchSize < 1 {
			return fmt.Errorf("pipeline: backend %q: Weight (%d) and BatchSize (%d) must be at least 1",
				b.Backend.Name(), b.Weight, b.BatchSize)
		}
	}
	return nil
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

// Workers are the pipeline's workers once registered; [Workers.Bind] hands them the client and
// [Workers.SetBackends] changes their backends while they run.
type Workers struct {
	cfg    Config
	fanOut *FanOutWorker
	index  *IndexWorker
	logger *slog.Logger
	pool   *pgxpool.Pool

	mu      sync.Mutex // serialises SetBackends
	client  *river.Client[pgx.Tx]
	current map[string]backendQueue // by backend name
}

// backendQueue is one backend's index queue as it was set up.
type backendQueue struct {
	cfg   BackendConfig
	slots int
}

// Bind gives the workers the River client built from the configuration they were registered
// on; it must be called before the client starts.
func (w *Workers) Bind(client *river.Client[pgx.Tx]) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fanOut.client, w.client = client, client
}

// Register adds to rc the fanout queue and one index queue per backend, sized by
// [QueueWorkers], and their workers; each backend's gatherer is sized by its queue. The fan-out
// bound is half of rc.JobTimeout. cfg gets its defaults first.
func Register(rc *river.Config, pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*Workers, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fanSlots := max(cfg.FanOutWorkers/cfg.FanOutBatch, 1) * cfg.FanOutBatch
	rc.Queues[QueueFanOut] = river.QueueConfig{MaxWorkers: fanSlots}
	fan := &FanOutWorker{pool: pool, logger: logger, marking: make(chan struct{}, busyMarkers)}
	fan.g = newGatherer(gatherConfig{
		MaxSize: cfg.FanOutBatch, MaxDelay: cfg.FanOutDelay, Slots: fanSlots, Timeout: fanOutTimeout(rc.JobTimeout),
	}, fan.runBatch)
	fan.g.weight = func(job *river.Job[FanOutArgs]) int { return len(job.Args.changes()) }

	w := &Workers{cfg: cfg, fanOut: fan, index: &IndexWorker{gatherers: map[string]*gatherer[*river.Job[IndexRecordArgs]]{}},
		logger: logger, pool: pool, current: map[string]backendQueue{}}
	shares := QueueWorkers(cfg.TotalWorkers, cfg.Backends)
	for _, b := range cfg.Backends {
		q := backendQueue{cfg: b, slots: shares[backends.Queue(b.Backend.Name())]}
		rc.Queues[backends.Queue(b.Backend.Name())] = river.QueueConfig{MaxWorkers: q.slots}
		w.addGatherer(q)
	}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[FanOutArgs](fan)); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[IndexRecordArgs](w.index)); err != nil {
		return nil, err
	}
	return w, nil
}

// addGatherer gives q's backend its indexer and gatherer.
func (w *Workers) addGatherer(q backendQueue) {
	b := q.cfg
	name := b.Backend.Name()
	x := &indexer{backend: b.Backend, shadow: b.Backend.Shadow(), domain: w.cfg.Domain, logger: w.logger, onBatch: w.cfg.OnBatch,
		pool: w.pool, provider: newProvider(name, w.logger, w.cfg.OutageRetryMin, w.cfg.OutageRetryMax),
		table: b.Backend.Table(), generation: b.Generation, nextGeneration: b.NextGeneration}
	if b.Next != nil {
		x.shadow, x.nextGen = b.Next.Shadow(), true
	}
	g := newGatherer(gatherConfig{MaxSize: b.BatchSize, MaxDelay: b.BatchDelay, Slots: q.slots, Timeout: b.BatchTimeout}, x.runBatch)
	w.index.mu.Lock()
	w.index.gatherers[name] = g
	w.index.mu.Unlock()
	w.current[name] = q
}

// SetBackends makes bs the backends the workers index, while they run: a backend that is new,
// or whose settings or share of the workers changed, gets its queue (re)started; one that is
// gone has its queue stopped, after its running jobs end (River's Queues().Remove). The backends'
// tables must exist. A backend left as it was keeps its queue and its running batches.
func (w *Workers) SetBackends(ctx context.Context, bs []BackendConfig) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client == nil {
		return errors.New("pipeline: SetBackends before Bind")
	}
	cfg := w.cfg
	cfg.Backends = bs
	if err := cfg.validate(); err != nil {
		return err
	}
	shares := QueueWorkers(w.cfg.TotalWorkers, bs)
	want := make(map[string]backendQueue, len(bs))
	for _, b := range bs {
		want[b.Backend.Name()] = backendQueue{cfg: b, slots: shares[backends.Queue(b.Backend.Name())]}
	}
	for name, q := range w.current {
		if n, ok := want[name]; ok && n == q {
			continue
		}
		if err := w.client.Queues().Remove(ctx, backends.Queue(name)); err != nil {
			return fmt.Errorf("pipeline: error stopping the queue of backend %q: %w", name, err)
		}
		w.index.mu.Lock()
		delete(w.index.gatherers, name)
		w.index.mu.Unlock()
		delete(w.current, name)
	}
	for name, q := range want {
		if _, ok := w.current[name]; ok {
			continue
		}
		w.addGatherer(q)
		if err := w.client.Queues().Add(backends.Queue(name), river.QueueConfig{MaxWorkers: q.slots}); err != nil {
			return fmt.Errorf("pipeline: error starting the queue of backend %q: %w", name, err)
		}
	}
	return nil
}
