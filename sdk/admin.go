package sdk

import (
	"context"
	"fmt"
	"time"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// ReindexState is the lifecycle state of a reindex.
type ReindexState string

const (
	// ReindexRunning: the backend is being rebuilt into a shadow table; searches use the old
	// one.
	ReindexRunning ReindexState = "running"
	// ReindexSucceeded: the rebuilt table was swapped in.
	ReindexSucceeded ReindexState = "succeeded"
	// ReindexFailed: the reindex stopped on an error; the old table was kept.
	ReindexFailed ReindexState = "failed"
)

var reindexStates = map[osav1.ReindexState]ReindexState{
	osav1.ReindexState_REINDEX_STATE_RUNNING:   ReindexRunning,
	osav1.ReindexState_REINDEX_STATE_SUCCEEDED: ReindexSucceeded,
	osav1.ReindexState_REINDEX_STATE_FAILED:    ReindexFailed,
}

// ReindexJob is one rebuild of a backend.
type ReindexJob struct {
	// ID identifies the reindex.
	ID int64 `json:"id"`
	// Backend is the backend being rebuilt.
	Backend string `json:"backend"`
	// State is where the reindex stands.
	State ReindexState `json:"state"`
	// Total is the number of records to index; 0 while not known.
	Total int64 `json:"total"`
	// Done is the number of records indexed so far.
	Done int64 `json:"done"`
	// Error says why the reindex failed; empty otherwise.
	Error string `json:"error,omitempty"`
	// StartedAt is when the reindex started.
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when it ended; nil while running.
	FinishedAt *time.Time `json:"finished_at,omitempty"`

	pb *osav1.ReindexJob // what it was read from, for Proto
}

// Proto returns the API message j was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// ReindexJob not read from a server. The message is shared: do not modify it.
func (j *ReindexJob) Proto() *osav1.ReindexJob { return j.pb }

// Ended reports whether the reindex has ended, successfully or not.
func (j *ReindexJob) Ended() bool { return j.State == ReindexSucceeded || j.State == ReindexFailed }

func fromReindex(procedure string, r *osav1.ReindexJob) (*ReindexJob, error) {
	if r == nil {
		return nil, &Error{Code: CodeInternal, Procedure: procedure, Message: "server returned no reindex job"}
	}
	return &ReindexJob{ID: r.Id, Backend: r.Backend, State: reindexStates[r.State], Total: r.Total, Done: r.Done,
		Error: r.Error, StartedAt: fromTime(r.StartedAt), FinishedAt: fromTimePtr(r.FinishedAt), pb: r}, nil
}

// Reindex starts a rebuild of backend from the stored records and returns it, running; when a
// rebuild of the backend is already running, that one is returned. Searches keep being answered
// from the current data until the rebuilt table is swapped in; the rebuild runs at low
// priority, survives a restart, and records published meanwhile reach both tables. Follow it
// with [Client.ReindexJob] or [Client.WaitReindex]. Needs a token with the admin scope. Errors:
// [ErrInvalidArgument] (field "backend") when backend is empty or unknown,
// [ErrPermissionDenied], and [ErrUnimplemented] from servers without reindexing. Reindex is not
// retried on Unavailable.
func (c *Client) Reindex(ctx context.Context, backend string) (*ReindexJob, error) {
	res, err := unary(ctx, c, osav1connect.AdminServiceReindexProcedure, false, &osav1.ReindexRequest{Backend: backend}, c.admin.Reindex)
	if err != nil {
		return nil, err
	}
	return fromReindex(osav1connect.AdminServiceReindexProcedure, res.Reindex)
}

// ReindexJob returns the rebuild id with its progress. Needs a token with the admin scope.
// Errors: [ErrInvalidArgument] (field "id") when id is not positive, [ErrNotFound].
func (c *Client) ReindexJob(ctx context.Context, id int64) (*ReindexJob, error) {
	res, err := unary(ctx, c, osav1connect.AdminServiceGetReindexProcedure, true, &osav1.GetReindexRequest{Id: id}, c.admin.GetReindex)
	if err != nil {
		return nil, err
	}
	return fromReindex(osav1connect.AdminServiceGetReindexProcedure, res.Reindex)
}

// ReindexFailedError is the error of [Client.WaitReindex] for a rebuild that ended in
// [ReindexFailed]. errors.Is(err, [ErrReindexFailed]) holds for it.
type ReindexFailedError struct {
	// Job is the failed rebuild.
	Job *ReindexJob
}

// Error returns e.g. `sdk: reindex 3 of vector failed: embedder: connection refused`.
func (e *ReindexFailedError) Error() string {
	return fmt.Sprintf("sdk: reindex %d of %s failed: %s", e.Job.ID, e.Job.Backend, e.Job.Error)
}

// Is reports whether target is [ErrReindexFailed].
func (e *ReindexFailedError) Is(target error) bool { return target == ErrReindexFailed }

// WaitReindex polls the rebuild id until it ends and returns it. progress, when not nil, is
// called with every state polled, the last included. A rebuild that failed is returned with a
// [*ReindexFailedError]. Polls are spaced as [WithPollInterval] says; WaitReindex returns ctx's
// error (and the last state) when ctx ends first.
func (c *Client) WaitReindex(ctx context.Context, id int64, progress func(*ReindexJob)) (*ReindexJob, error) {
	p := c.newPoller()
	for {
		j, err := c.ReindexJob(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(j)
		}
		switch j.State {
		case ReindexSucceeded:
			return j, nil
		case ReindexFailed:
			return j, &ReindexFailedError{Job: j}
		}
		if err := p.wait(ctx); err != nil {
			return j, err
		}
	}
}

// RetryFailed puts every index job of backend that gave up (or was cancelled) back in its
// queue, so records in state [IndexFailed] are tried again, and returns how many it re-queued.
// Needs a token with the admin scope. Errors: [ErrInvalidArgument] (field "backend"),
// [ErrNotFound], [ErrPermissionDenied].
func (c *Client) RetryFailed(ctx context.Context, backend string) (int64, error) {
	res, err := unary(ctx, c, osav1connect.AdminServiceRetryFailedProcedure, false, &osav1.RetryFailedRequest{Backend: backend}, c.admin.RetryFailed)
	if err != nil {
		return 0, err
	}
	return res.Retried, nil
}

// QueueStats are the job counts of one job queue when they were read.
type QueueStats struct {
	// Name is the queue's name; [Backend].Queue names a backend's queue.
	Name string `json:"name"`
	// Available jobs are ready to run and wait for a worker.
	Available int64 `json:"available"`
	// Pending jobs are inserted but not yet eligible to be scheduled.
	Pending int64 `json:"pending"`
	// Scheduled jobs wait for a time in the future.
	Scheduled int64 `json:"scheduled"`
	// Running jobs are being worked on.
	Running int64 `json:"running"`
	// Retryable jobs failed an attempt and wait for a retry.
	Retryable int64 `json:"retryable"`
	// Completed jobs succeeded and were not pruned yet.
	Completed int64 `json:"completed"`
	// Cancelled jobs will not run unless re-queued ([Client.RetryFailed]).
	Cancelled int64 `json:"cancelled"`
	// Discarded jobs exhausted their retries ([Client.RetryFailed] re-queues them).
	Discarded int64 `json:"discarded"`
	// OldestAvailableAge is how long the oldest available job has waited; 0 when none. A
	// growing value means the workers do not keep up.
	OldestAvailableAge time.Duration `json:"oldest_available_age"`
	// CompletedPerSecond is the throughput over the last minute.
	CompletedPerSecond float64 `json:"completed_per_second"`

	pb *osav1.QueueStats // what it was read from, for Proto
}

// Proto returns the API message q was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// QueueStats not read from a server. The message is shared: do not modify it.
func (q *QueueStats) Proto() *osav1.QueueStats { return q.pb }

// QueueStats reports every job queue: the fan-out queue and one per backend. Needs a token with
// the admin scope.
func (c *Client) QueueStats(ctx context.Context) ([]QueueStats, error) {
	res, err := unary(ctx, c, osav1connect.AdminServiceGetQueueStatsProcedure, true, &osav1.GetQueueStatsRequest{}, c.admin.GetQueueStats)
	if err != nil {
		return nil, err
	}
	out := make([]QueueStats, len(res.Queues))
	for i, q := range res.Queues {
		out[i] = QueueStats{Name: q.Name, Available: q.Available, Pending: q.Pending, Scheduled: q.Scheduled,
			Running: q.Running, Retryable: q.Retryable, Completed: q.Completed, Cancelled: q.Cancelled,
			Discarded: q.Discarded, OldestAvailableAge: q.OldestAvailableAge.AsDuration(),
			CompletedPerSecond: q.CompletedPerSecond, pb: q}
	}
	return out, nil
}
