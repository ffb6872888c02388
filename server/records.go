package server

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/dump"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search/where"
)

// recordService implements osa.v1.RecordService over a [records.Store].
type recordService struct {
	osav1connect.UnimplementedRecordServiceHandler
	backends func() []string // the catalog's backend names, for GetIndexStatus
	exporter *dump.Exporter
	imports  *importRunner
	// parseWhere parses ListRecordsRequest.where (search.Service.ParseWhere).
	parseWhere func(string) (*where.Expr, error)
	store      *records.Store
	waiter     *indexWaiter // the waits of wait_indexed
}

func (s *recordService) PublishRecord(ctx context.Context, req *connect.Request[osav1.PublishRecordRequest]) (*connect.Response[osav1.PublishRecordResponse], error) {
	p, err := publishParams(req.Msg)
	if err != nil {
		return nil, err
	}
	timeout, err := s.waiter.timeout("", req.Msg.WaitIndexed, req.Msg.WaitTimeout)
	if err != nil {
		return nil, err
	}
	res, err := s.store.PublishOne(ctx, p, records.PriorityInteractive)
	if err != nil {
		return nil, err
	}
	rec, err := s.toProto(res.Record)
	if err != nil {
		return nil, err
	}
	out := &osav1.PublishRecordResponse{Record: rec, Unchanged: res.Unchanged}
	if req.Msg.WaitIndexed {
		waiting, err := s.waiter.wait(ctx, []waitTarget{{id: res.Record.ID, version: res.Record.Version}}, timeout)
		if err != nil {
			return nil, err
		}
		out.Indexed = len(waiting[0]) == 0
		out.NotIndexed = indexStatusesProto(waiting[0])
	}
	return connect.NewResponse(out), nil
}

func (s *recordService) PublishRecords(ctx context.Context, req *connect.Request[osav1.PublishRecordsRequest]) (*connect.Response[osav1.PublishRecordsResponse], error) {
	params := make([]records.PublishParams, len(req.Msg.Records))
	for i, r := range req.Msg.Records {
		p, err := publishParams(r)
		var invalid *domainerr.ValidationError
		if errors.As(err, &invalid) {
			return nil, domainerr.Invalid(fmt.Sprintf("records[%d].%s", i, invalid.Field), "%s", invalid.Reason)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case r.WaitIndexed:
			return nil, domainerr.Invalid(fmt.Sprintf("records[%d].wait_indexed", i), "is the batch's: set wait_indexed on the PublishRecordsRequest")
		case r.WaitTimeout != nil:
			return nil, domainerr.Invalid(fmt.Sprintf("records[%d].wait_timeout", i), "is the batch's: set wait_timeout on the PublishRecordsRequest")
		}
		params[i] = p
	}
	timeout, err := s.waiter.timeout("", req.Msg.WaitIndexed, req.Msg.WaitTimeout)
	if err != nil {
		return nil, err
	}
	res, err := s.store.Publish(ctx, params, records.PriorityInteractive)
	if err != nil {
		return nil, err
	}
	out := &osav1.PublishRecordsResponse{Records: make([]*osav1.Record, len(res)), Unchanged: make([]bool, len(res))}
	for i, r := range res {
		// The stored metadata is the request's, in canonical JSON: answer with the request's
		// Struct rather than decode it back (a tenth of the server's CPU in osa bench ingest).
		out.Records[i] = s.recordProto(r.Record, req.Msg.Records[i].Metadata)
		out.Unchanged[i] = r.Unchanged
	}
	if req.Msg.WaitIndexed {
		targets := make([]waitTarget, len(res))
		for i, r := range res {
			targets[i] = waitTarget{id: r.Record.ID, version: r.Record.Version}
		}
		waiting, err := s.waiter.wait(ctx, targets, timeout)
		if err != nil {
			return nil, err
		}
		for i, sts := range waiting {
			if len(sts) > 0 {
				out.NotIndexed = append(out.NotIndexed, &osav1.NotIndexedRecord{
					Index: int32(i), Srn: out.Records[i].Srn, Backends: indexStatusesProto(sts)})
			}
		}
		out.Indexed = len(out.NotIndexed) == 0
	}
	return connect.NewResponse(out), nil
}

func (s *recordService) GetRecord(ctx context.Context, req *connect.Request[osav1.GetRecordRequest]) (*connect.Response[osav1.GetRecordResponse], error) {
	srn, err := records.ParseSRN(req.Msg.Srn)
	if err != nil {
		return nil, err
	}
	r, err := s.store.Get(ctx, srn)
	if err != nil {
		return nil, err
	}
	rec, err := s.toProto(r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.GetRecordResponse{Record: rec}), nil
}

func (s *recordService) ListRecords(ctx context.Context, req *connect.Request[osav1.ListRecordsRequest]) (*connect.Response[osav1.ListRecordsResponse], error) {
	p := records.ListParams{PageSize: int(req.Msg.PageSize), PageToken: req.Msg.PageToken, Source: req.Msg.Source}
	if req.Msg.Where != "" {
		e, err := s.parseWhere(req.Msg.Where)
		if err != nil {
			return nil, err
		}
		p.Where = e
	}
	rs, next, err := s.store.List(ctx, p)
	if err != nil {
		return nil, err
	}
	out := &osav1.ListRecordsResponse{Records: make([]*osav1.Record, len(rs)), NextPageToken: next}
	for i, r := range rs {
		if out.Records[i], err = s.toProto(r); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(out), nil
}

func (s *recordService) DeleteRecord(ctx context.Context, req *connect.Request[osav1.DeleteRecordRequest]) (*connect.Response[osav1.DeleteRecordResponse], error) {
	srn, err := records.ParseSRN(req.Msg.Srn)
	if err != nil {
		return nil, err
	}
	if err := s.store.Delete(ctx, srn); err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.DeleteRecordResponse{}), nil
}

func (s *recordService) GetIndexStatus(ctx context.Context, req *connect.Request[osav1.GetIndexStatusRequest]) (*connect.Response[osav1.GetIndexStatusResponse], error) {
	srn, err := records.ParseSRN(req.Msg.Srn)
	if err != nil {
		return nil, err
	}
	version, sts, err := s.store.IndexStatus(ctx, srn, s.backends())
	if err != nil {
		return nil, err
	}
	out := &osav1.GetIndexStatusResponse{Srn: srn.WithVersion(version).String(), Statuses: indexStatusesProto(sts)}
	return connect.NewResponse(out), nil
}

// indexStatusesProto turns statuses into their messages; a zero UpdatedAt (a row not written
// yet) is left unset.
func indexStatusesProto(sts []indexstate.Status) []*osav1.BackendIndexStatus {
	out := make([]*osav1.BackendIndexStatus, len(sts))
	for i, st := range sts {
		out[i] = &osav1.BackendIndexStatus{
			Backend:        st.Backend,
			State:          indexStates[st.State],
			IndexedVersion: int32(st.IndexedVersion),
			Attempts:       int32(st.Attempts),
			LastError:      st.LastError,
			PendingVersion: int32(st.Version),
		}
		if !st.UpdatedAt.IsZero() {
			out[i].UpdatedAt = timestamppb.New(st.UpdatedAt)
		}
		if st.IndexedAt != nil {
			out[i].IndexedAt = timestamppb.New(*st.IndexedAt)
		}
	}
	return out
}

var indexStates = map[string]osav1.IndexState{
	indexstate.Pending: osav1.IndexState_INDEX_STATE_PENDING,
	indexstate.Indexed: osav1.IndexState_INDEX_STATE_INDEXED,
	indexstate.Failed:  osav1.IndexState_INDEX_STATE_FAILED,
	indexstate.Deleted: osav1.IndexState_INDEX_STATE_DELETED,
	indexstate.Empty:   osav1.IndexState_INDEX_STATE_EMPTY,
}

// publishParams turns one request into store params; metadata travels as JSON.
func publishParams(r *osav1.PublishRecordRequest) (records.PublishParams, error) {
	p := records.PublishParams{Source: r.Source, SourceID: r.SourceId}
	if r.Metadata != nil {
		b, err := protojson.Marshal(r.Metadata)
		if err != nil {
			return p, domainerr.Invalid("metadata", "cannot be encoded as JSON: %v", err)
		}
		p.Metadata = b
	}
	return p, nil
}

func (s *recordService) toProto(r records.Record) (*osav1.Record, error) {
	meta := &structpb.Struct{}
	if err := protojson.Unmarshal(r.Metadata, meta); err != nil {
		return nil, fmt.Errorf("error decoding stored metadata of %s: %w", r.ID, err)
	}
	return s.recordProto(r, meta), nil
}

// recordProto is the API message of r with meta, its metadata as a Struct.
func (s *recordService) recordProto(r records.Record, meta *structpb.Struct) *osav1.Record {
	out := &osav1.Record{
		Srn:       s.store.SRN(r).String(),
		Version:   int32(r.Version),
		Metadata:  meta,
		Source:    r.Source,
		SourceId:  r.SourceID,
		CreatedAt: timestamppb.New(r.CreatedAt),
		UpdatedAt: timestamppb.New(r.UpdatedAt),
	}
	if r.DeletedAt != nil {
		out.DeletedAt = timestamppb.New(*r.DeletedAt)
	}
	return out
}
