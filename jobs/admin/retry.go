// Package admin is the River administration OSA offers: re-queueing a backend's failed index
// jobs ([RetryFailed]) and the state of every queue ([Stats]).
package admin

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/indexstate"
)

// retryPage is how many failed jobs RetryFailed lists at a time.
const retryPage = 500

// RetryFailed re-queues every discarded and cancelled index job of backend — after its embedder
// or table is fixed — and marks its failed records pending again. It returns how many jobs it
// re-queued.
func RetryFailed(ctx context.Context, client *river.Client[pgx.Tx], pool *pgxpool.Pool, backend string) (int, error) {
	params := river.NewJobListParams().
		Queues(backends.Queue(backend)).
		States(rivertype.JobStateDiscarded, rivertype.JobStateCancelled).
		First(retryPage)
	n := 0
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return n, fmt.Errorf("error listing failed jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if _, err := client.JobRetry(ctx, j.ID); err != nil {
				return n, fmt.Errorf("error retrying job %d: %w", j.ID, err)
			}
			n++
		}
		if len(res.Jobs) < retryPage {
			break
		}
		params = params.After(res.LastCursor)
	}
	_, err := indexstate.ResetFailed(ctx, pool, backend)
	return n, err
}
