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

// SetRebuilders makes bs the backends whose rebuilds this process works; a rebuild's job for
// another backend waits for a process that has it.
func (w *Workers) SetRebuilders(bs []backends.Rebuilder) {
	m := make(map[string]backends.Rebuilder, len(bs))
	for _, b := range bs {
		m[b.Name()] = b
	}
	w.x.mu.Lock()
	w.x.backends = m
	w.x.mu.Unlock()
}

// Bind gives the workers the River client built from the configuration they were registered
// on; it must be called before the client starts.
func (w *Workers) Bind(client *river.Client[pgx.Tx]) { w.x.client = client }

// Register adds to rc the reindex queue, with one worker (the chunks of a rebuild are sequential
// anyway), and the chunk and finish workers of rebuilds of bs.
func Register(rc *river.Config, pool *pgxpool.Pool, bs []backends.Rebuilder, logger *slog.Logger) (*Workers, error) {
	w := &Workers{x: &reindexer{logger: logger, pool: pool}}
	w.SetRebuilders(bs)
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
