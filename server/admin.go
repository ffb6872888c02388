package server

import (
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/jobs/admin"
	"github.com/osa-archive/osa/jobs/reindex"
)

// adminService implements osa.v1.AdminService.
type adminService struct {
	osav1connect.UnimplementedAdminServiceHandler
	server *Server
	pool   *pgxpool.Pool
	queues func() []string // the process's queues, listed even when empty
	river  *river.Client[pgx.Tx]
	view   *backendView
}

func (s *adminService) RetryFailed(ctx context.Context, req *connect.Request[osav1.RetryFailedRequest]) (*connect.Response[osav1.RetryFailedResponse], error) {
	if err := s.checkBackend(req.Msg.Backend); err != nil {
		return nil, err
	}
	n, err := admin.RetryFailed(ctx, s.river, s.pool, req.Msg.Backend)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.RetryFailedResponse{Retried: int64(n)}), nil
}

func (s *adminService) GetQueueStats(ctx context.Context, _ *connect.Request[osav1.GetQueueStatsRequest]) (*connect.Response[osav1.GetQueueStatsResponse], error) {
	stats, err := admin.Stats(ctx, s.pool, s.queues())
	if err != nil {
		return nil, err
	}
	out := &osav1.GetQueueStatsResponse{Queues: make([]*osav1.QueueStats, len(stats))}
	for i, q := range stats {
		out.Queues[i] = &osav1.QueueStats{
			Name: q.Name, Available: q.Available, Scheduled: q.Scheduled, Running: q.Running, Retryable: q.Retryable,
			Completed: q.Completed, Cancelled: q.Cancelled, Discarded: q.Discarded, Pending: q.Pending,
			OldestAvailableAge: durationpb.New(q.OldestAvailableAge), CompletedPerSecond: q.CompletedPerSecond,
		}
	}
	return connect.NewResponse(out), nil
}

func (s *adminService) Reindex(ctx context.Context, req *connect.Request[osav1.ReindexRequest]) (*connect.Response[osav1.ReindexResponse], error) {
	if err := s.checkBackend(req.Msg.Backend); err != nil {
		return nil, err
	}
	b, next := s.view.lookup(req.Msg.Backend)
	if next != nil { // a backend being built: its rebuild is the one running
		b = next
	}
	r, err := reindex.Start(ctx, s.river, s.pool, b.bc.Backend, b.entry.Generation)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.ReindexResponse{Reindex: reindexToProto(r)}), nil
}

func (s *adminService) GetReindex(ctx context.Context, req *connect.Request[osav1.GetReindexRequest]) (*connect.Response[osav1.GetReindexResponse], error) {
	if req.Msg.Id <= 0 {
		return nil, domainerr.Invalid("id", "must be positive, got %d", req.Msg.Id)
	}
	r, err := reindex.Get(ctx, s.pool, req.Msg.Id)
	if errors.Is(err, reindex.ErrNotFound) {
		return nil, domainerr.New(domainerr.ErrNotFound, "id: no reindex %d", req.Msg.Id)
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.GetReindexResponse{Reindex: reindexToProto(r)}), nil
}

var reindexStates = map[string]osav1.ReindexState{
	reindex.Running:   osav1.ReindexState_REINDEX_STATE_RUNNING,
	reindex.Succeeded: osav1.ReindexState_REINDEX_STATE_SUCCEEDED,
	reindex.Failed:    osav1.ReindexState_REINDEX_STATE_FAILED,
}

func reindexToProto(r reindex.Reindex) *osav1.ReindexJob {
	out := &osav1.ReindexJob{Id: r.ID, Backend: r.Backend, State: reindexStates[r.State], Total: r.Total, Done: r.Done,
		Error: r.Error, StartedAt: timestamppb.New(r.StartedAt)}
	if r.FinishedAt != nil {
		out.FinishedAt = timestamppb.New(*r.FinishedAt)
	}
	return out
}

func (s *adminService) checkBackend(name string) error {
	names := s.view.names()
	switch {
	case name == "":
		return domainerr.Invalid("backend", "is required (one of %v)", names)
	case !slices.Contains(names, name):
		return domainerr.Invalid("backend", "%q is not a backend of the catalog (one of %v)", name, names)
	}
	return nil
}
