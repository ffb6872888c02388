package reindex

import (
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends"
)

// Workers are the rebuild workers once registered; [Workers.Bind] hands them the client.
type Workers struct {
	x *reindexer
}

// Bind gives the workers the River client built from the configuration they were registered
// on; it must be called before the client starts.
func (w *Workers) Bind(client *river.Client[pgx.Tx]) { w.x.client = client }

// Register adds to rc the reindex queue, with one worker (the chunks of a rebuild are sequential
// anyway), and the chunk and finish workers of rebuilds of bs.
func Register(rc *river.Config, pool *pgxpool.Pool, bs []backends.Rebuilder, logger *slog.Logger) (*Workers, error) {
	x := &reindexer{backends: make(map[string]backends.Rebuilder, len(bs)), logger: logger, pool: pool}
	for _, b := range bs {
		x.backends[b.Name()] = b
	}
	rc.Queues[Queue] = river.QueueConfig{MaxWorkers: 1}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[ChunkArgs](&ChunkWorker{x: x})); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(rc.Workers, river.Worker[FinishArgs](&FinishWorker{x: x})); err != nil {
		return nil, err
	}
	return &Workers{x: x}, nil
}
