package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/backends"
)

// retryPage is how many failed jobs RetryFailed lists at a time.
const retryPage = 500

// retryPendingSQL marks the failed records of backend $1 pending again. It locks their rows in
// record id order, as the index workers lock theirs (lockSQL): the jobs RetryFailed has just
// re-queued are being worked meanwhile, and an update in any other order deadlocks with them.
// A row a worker has indexed meanwhile is no longer failed and is left alone.
const retryPendingSQL = `
UPDATE index_state s SET state = 'pending', attempts = 0, updated_at = now()
FROM (
    SELECT record_id FROM index_state
    WHERE backend = $1 AND state = 'failed'
    ORDER BY record_id
    FOR UPDATE
) f
WHERE s.backend = $1 AND s.record_id = f.record_id`

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
	if _, err := pool.Exec(ctx, retryPendingSQL, backend); err != nil {
		return n, fmt.Errorf("error marking failed records pending: %w", err)
	}
	return n, nil
}
