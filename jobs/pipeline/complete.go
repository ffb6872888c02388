package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// completeManyTx completes jobs, all running, in tx with one statement: what river.JobCompleteTx
// does for one job. River's own completion after Work returns then finds them completed and
// leaves them be.
//
// This is the one place OSA calls River's driver package, which River reserves for its own use:
// a fan-out batch completes up to worker.fanout_batch jobs in its transaction, and
// river.JobCompleteTx, one statement per job, cut the pipeline from about 2,430 to about 1,400
// records/s (osa bench ingest --records 20000, two runs of each, 2 CPUs, issue 13). What the
// public call does beyond this statement does not apply here: the pilot is River's default
// (OSA sets none), the schema is the search path's (OSA sets none), and a fan-out job records
// no metadata or output to merge. TestCompleteManyTxMatchesJobCompleteTx checks, on every River
// upgrade, that a job completed here ends exactly as one completed by river.JobCompleteTx.
func completeManyTx[T river.JobArgs](ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, jobs []*river.Job[T]) error {
	n := len(jobs)
	p := &riverdriver.JobSetStateIfRunningManyParams{
		ID: make([]int64, n), Attempt: make([]*int, n), ErrData: make([][]byte, n), FinalizedAt: make([]*time.Time, n),
		MetadataDoMerge: make([]bool, n), MetadataUpdates: make([][]byte, n), ScheduledAt: make([]*time.Time, n),
		State: make([]rivertype.JobState, n),
	}
	now := time.Now()
	for i, job := range jobs {
		if job.State != rivertype.JobStateRunning {
			return fmt.Errorf("job %d is %s, not running", job.ID, job.State)
		}
		c := riverdriver.JobSetStateCompleted(job.ID, now, nil)
		p.ID[i], p.Attempt[i], p.ErrData[i], p.FinalizedAt[i], p.ScheduledAt[i], p.State[i] = c.ID, c.Attempt, c.ErrData, c.FinalizedAt, c.ScheduledAt, c.State
	}
	rows, err := client.Driver().UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p)
	if err != nil {
		return fmt.Errorf("error completing %d jobs: %w", n, err)
	}
	if len(rows) != n {
		return fmt.Errorf("error completing jobs: %d of %d were still there to complete", len(rows), n)
	}
	return nil
}
