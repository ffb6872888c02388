package reindex

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends"
)

// Config configures rebuilds.
type Config struct {
	// RetireAfter is how long the generation a rebuild replaces keeps its table, retired
	// (catalog.retire_after); 0 drops it at the catalog's next check.
	RetireAfter time.Duration
	// NotHereSnooze is how long a rebuild's job waits when this process does not have its
	// backend or generation (yet): a process that follows the catalog every poll_interval has
	// it within that. 0 means [NotHereSnoozeDefault].
	NotHereSnooze time.Duration
}

// Workers are the rebuild workers once registered; [Workers.Bind] hands them the client.
type Workers struct {
	x *reindexer
}

// Target is a backend whose rebuilds a process works: the generation of the backend it builds.
type Target struct {
	Rebuilder backends.Rebuilder
	// Generation is the catalog generation Rebuilder builds; 0 when unknown (any rebuild's job
	// of the backend is taken).
	Generation int
}

// SetRebuilders makes ts the backends whose rebuilds this process works; a rebuild's job for
// another backend, or another generation, waits for a process that has it.
func (w *Workers) SetRebuilders(ts []Target) {
	m := make(map[string]Target, len(ts))
	for _, t := range ts {
		m[t.Rebuilder.Name()] = t
	}
	w.x.mu.Lock()
	w.x.backends = m
	w.x.mu.Unlock()
}

// Bind gives the workers the River client built from the configuration they were registered
// on; it must be called before the client starts.
func (w *Workers) Bind(client *river.Client[pgx.Tx]) { w.x.client = client }

// Register adds to rc the reindex queue, with one worker (the chunks of a rebuild are sequential
// anyway), and the chunk and finish workers of rebuilds of ts, configured by cfg.
func Register(rc *river.Config, cfg Config, pool *pgxpool.Pool, ts []Target, logger *slog.Logger) (*Workers, error) {
	if cfg.NotHereSnooze <= 0 {
		cfg.NotHereSnooze = NotHereSnoozeDefault
	}
	w := &Workers{x: &reindexer{cfg: cfg, logger: logger, pool: pool}}
	w.SetRebuilders(ts)
	x := w.x
	rc.Queues[Queue] = river.QueueConfig{MaxWorkers: 1}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[ChunkArgs](&ChunkWorker{x: x})); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[FinishArgs](&FinishWorker{x: x})); err != nil {
		return nil, err
	}
	return w, nil
}
