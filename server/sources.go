package server

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"google.golang.org/protobuf/types/known/timestamppb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/sources"
)

// sourceService implements osa.v1.SourceService over the sources registry and the harvest jobs.
type sourceService struct {
	osav1connect.UnimplementedSourceServiceHandler
	pool    *pgxpool.Pool
	river   *river.Client[pgx.Tx]
	sources *sources.Registry
}

func (s *sourceService) ListSources(ctx context.Context, _ *connect.Request[osav1.ListSourcesRequest]) (*connect.Response[osav1.ListSourcesResponse], error) {
	last, err := harvest.Last(ctx, s.pool, s.sources.Names())
	if err != nil {
		return nil, err
	}
	out := &osav1.ListSourcesResponse{Sources: []*osav1.Source{}}
	for _, e := range s.sources.Entries() {
		src := &osav1.Source{Name: e.Name(), Kind: e.Kind, Enabled: e.Enabled, Schedule: e.Schedule}
		if h, ok := last[e.Name()]; ok {
			src.LastHarvest = harvestToProto(h)
		}
		out.Sources = append(out.Sources, src)
	}
	return connect.NewResponse(out), nil
}

func (s *sourceService) StartHarvest(ctx context.Context, req *connect.Request[osav1.StartHarvestRequest]) (*connect.Response[osav1.StartHarvestResponse], error) {
	h, err := harvest.Start(ctx, s.river, s.pool, s.sources, harvest.Request{
		Source:    req.Msg.Source,
		Limit:     int(req.Msg.Limit),
		Since:     req.Msg.Since,
		ChunkSize: int(req.Msg.ChunkSize),
	})
	if err != nil {
		return nil, harvestError(err)
	}
	return connect.NewResponse(&osav1.StartHarvestResponse{Harvest: harvestToProto(h)}), nil
}

func (s *sourceService) GetHarvest(ctx context.Context, req *connect.Request[osav1.GetHarvestRequest]) (*connect.Response[osav1.GetHarvestResponse], error) {
	if req.Msg.Id <= 0 {
		return nil, domainerr.Invalid("id", "must be positive, got %d", req.Msg.Id)
	}
	h, err := harvest.Get(ctx, s.pool, req.Msg.Id)
	if errors.Is(err, harvest.ErrNotFound) {
		return nil, domainerr.New(domainerr.ErrNotFound, "id: no harvest has id %d", req.Msg.Id)
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.GetHarvestResponse{Harvest: harvestToProto(h)}), nil
}

// harvestError names the request field an unknown source is about; the error interceptor maps
// every error of starting a harvest by its kind.
func harvestError(err error) error {
	if errors.Is(err, sources.ErrUnknownSource) {
		return fmt.Errorf("source: %w", err)
	}
	return err
}

var harvestStates = map[string]osav1.HarvestState{
	harvest.Running:   osav1.HarvestState_HARVEST_STATE_RUNNING,
	harvest.Succeeded: osav1.HarvestState_HARVEST_STATE_SUCCEEDED,
	harvest.Failed:    osav1.HarvestState_HARVEST_STATE_FAILED,
}

func harvestToProto(h harvest.Harvest) *osav1.Harvest {
	p := &osav1.Harvest{
		Id:        h.ID,
		Source:    h.Source,
		State:     harvestStates[h.State],
		Total:     h.Total,
		Fetched:   h.Fetched,
		Published: h.Published,
		Unchanged: h.Unchanged,
		Skipped:   h.Skipped,
		Error:     h.Error,
		StartedAt: timestamppb.New(h.StartedAt),
		Limit:     int64(h.Limit),
		Since:     h.Since,
		ChunkSize: int32(h.ChunkSize),

		Unfetched:    h.Unfetched,
		UnfetchedIds: h.UnfetchedIDs,
		Warnings:     h.Warnings,
	}
	if h.FinishedAt != nil {
		p.FinishedAt = timestamppb.New(*h.FinishedAt)
	}
	return p
}
