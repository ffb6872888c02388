package heartbeat

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// Working is the set of jobs a process is working, for the rescue of its own orphans (see
// [Config.Working]): a River worker middleware that holds each job from the start of its Work
// until linger after it returns, since River writes a job's outcome afterwards, in batches, and
// keeps it while the database is away. Its methods are safe for concurrent use.
type Working struct {
	linger time.Duration

	mu   sync.Mutex
	jobs map[int64]time.Time // the zero time while working, else when Work returned
}

// NewWorking returns an empty set that forgets a job linger after its Work returned.
func NewWorking(linger time.Duration) *Working {
	return &Working{linger: linger, jobs: map[int64]time.Time{}}
}

// IsMiddleware implements [rivertype.Middleware].
func (w *Working) IsMiddleware() bool { return true }

// Work implements [rivertype.WorkerMiddleware]: it holds job while doInner works it.
func (w *Working) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	w.mu.Lock()
	w.jobs[job.ID] = time.Time{}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.jobs[job.ID] = time.Now()
		w.mu.Unlock()
	}()
	return doInner(ctx)
}

// IDs returns the jobs being worked or returned less than linger ago, forgetting older ones.
func (w *Working) IDs() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]int64, 0, len(w.jobs))
	for id, returned := range w.jobs {
		if !returned.IsZero() && time.Since(returned) >= w.linger {
			delete(w.jobs, id)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

var _ rivertype.WorkerMiddleware = (*Working)(nil)
