package server

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/jackc/pgx/v5/pgxpool"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

// searchService implements osa.v1.SearchService over a [search.Service].
type searchService struct {
	osav1connect.UnimplementedSearchServiceHandler
	search *search.Service
	view   *backendView
	reload func(context.Context) error // reads the catalog again (Server.reloadCatalog)
	pool   *pgxpool.Pool               // for the progress of building backends
}

var (
	modesIn = map[osav1.SearchMode]search.Mode{
		osav1.SearchMode_SEARCH_MODE_UNSPECIFIED: search.ModeDefault,
		osav1.SearchMode_SEARCH_MODE_VECTOR:      search.ModeVector,
		osav1.SearchMode_SEARCH_MODE_KEYWORD:     search.ModeKeyword,
		osav1.SearchMode_SEARCH_MODE_HYBRID:      search.ModeHybrid,
		osav1.SearchMode_SEARCH_MODE_BROWSE:      search.ModeBrowse,
	}
	modesOut = map[search.Mode]osav1.SearchMode{
		search.ModeVector:  osav1.SearchMode_SEARCH_MODE_VECTOR,
		search.ModeKeyword: osav1.SearchMode_SEARCH_MODE_KEYWORD,
		search.ModeHybrid:  osav1.SearchMode_SEARCH_MODE_HYBRID,
		search.ModeBrowse:  osav1.SearchMode_SEARCH_MODE_BROWSE,
	}
)

func (s *searchService) Search(ctx context.Context, req *connect.Request[osav1.SearchRequest]) (*connect.Response[osav1.SearchResponse], error) {
	m := req.Msg
	mode, ok := modesIn[m.Mode]
	if !ok {
		return nil, domainerr.Invalid("mode", "%d is not a search mode", m.Mode)
	}
	sr := search.Request{Query: m.Query, Mode: mode, Backend: m.Backend, Offset: int(m.Offset), MinScore: m.MinScore, Where: m.Where,
		Facets: m.Facets, FacetLimit: int(m.FacetLimit), Sort: m.Sort, PageToken: m.PageToken,
		Highlight: m.Highlight, HighlightPreTag: m.HighlightPreTag, HighlightPostTag: m.HighlightPostTag}
	if m.Limit != nil {
		// search.Request reads 0 as "the default"; a limit the client set to 0 is an error.
		if *m.Limit < 1 {
			return nil, s.search.InvalidLimit(int(*m.Limit))
		}
		sr.Limit = int(*m.Limit)
	}
	if m.Filter != nil {
		b, err := protojson.Marshal(m.Filter)
		if err != nil {
			return nil, domainerr.Invalid("filter", "cannot be encoded as JSON: %v", err)
		}
		sr.Filter = b
	}
	res, err := s.search.Search(ctx, sr)
	if err != nil && !isDomainError(err) && s.reload != nil {
		// A backend's table may have been swapped for its next generation's since this process
		// last read the catalog (a vector of other dims): follow the catalog now and ask again.
		if rerr := s.reload(ctx); rerr == nil {
			res, err = s.search.Search(ctx, sr)
		}
	}
	if err != nil {
		return nil, err
	}
	hits, err := hitsOut(res)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.SearchResponse{Mode: modesOut[res.Mode], Backends: res.Backends, Hits: hits,
		Facets: facetsOut(res.Facets), FacetMatches: res.Matches, NextPageToken: res.NextPageToken}), nil
}

// hitsOut converts a result's hits to their API messages; a browse's have no score.
func hitsOut(res *search.Result) ([]*osav1.SearchHit, error) {
	out := make([]*osav1.SearchHit, len(res.Hits))
	for i, h := range res.Hits {
		meta := &structpb.Struct{}
		if err := protojson.Unmarshal(h.Metadata, meta); err != nil {
			return nil, err
		}
		out[i] = &osav1.SearchHit{Srn: h.SRN.String(), Metadata: meta, VectorRank: int32(h.VectorRank), KeywordRank: int32(h.KeywordRank),
			Highlights: h.Highlights, Source: h.Source}
		if res.Mode != search.ModeBrowse {
			out[i].Score = proto.Float64(h.Score)
		}
	}
	return out, nil
}

// facetsOut converts facets to their API messages.
func facetsOut(fs []search.Facet) []*osav1.Facet {
	out := make([]*osav1.Facet, len(fs))
	for i, f := range fs {
		out[i] = &osav1.Facet{Field: f.Field, Type: string(f.Type), OtherValues: int32(f.OtherValues), OtherCount: f.OtherCount,
			Missing: f.Missing, Min: f.Min, Max: f.Max, Values: make([]*osav1.FacetValue, len(f.Values))}
		for j, v := range f.Values {
			out[i].Values[j] = &osav1.FacetValue{Value: v.Value, Count: v.Count, From: v.From, To: v.To}
		}
	}
	return out
}

func (s *searchService) SimilarRecords(ctx context.Context, req *connect.Request[osav1.SimilarRecordsRequest]) (*connect.Response[osav1.SimilarRecordsResponse], error) {
	m := req.Msg
	srn, err := records.ParseSRN(m.Srn)
	if err != nil {
		return nil, err
	}
	sr := search.SimilarRequest{SRN: srn, Backend: m.Backend, Where: m.Where}
	if m.Limit != nil {
		if *m.Limit < 1 {
			return nil, s.search.InvalidLimit(int(*m.Limit))
		}
		sr.Limit = int(*m.Limit)
	}
	res, err := s.search.Similar(ctx, sr)
	if err != nil {
		return nil, err
	}
	hits, err := hitsOut(res)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.SimilarRecordsResponse{Hits: hits, Backend: res.Backends[0]}), nil
}

func (s *searchService) ListBackends(ctx context.Context, _ *connect.Request[osav1.ListBackendsRequest]) (*connect.Response[osav1.ListBackendsResponse], error) {
	bs, err := describeBackends(ctx, s.search, s.view, s.pool)
	if err != nil {
		return nil, err
	}
	out := &osav1.ListBackendsResponse{Backends: make([]*osav1.Backend, len(bs))}
	for i, b := range bs {
		out.Backends[i] = &osav1.Backend{Name: b.Name, Kind: b.Kind, Model: b.Model, Dims: int32(b.Dims),
			Indexed: b.Indexed, Pending: b.Pending, Failed: b.Failed, Empty: b.Empty, Healthy: b.Healthy, Queue: b.Queue,
			State: b.State, Generation: int32(b.Generation), BuildDone: b.BuildDone, BuildTotal: b.BuildTotal}
	}
	return connect.NewResponse(out), nil
}

func (s *searchService) GetSearchFields(_ context.Context, _ *connect.Request[osav1.GetSearchFieldsRequest]) (*connect.Response[osav1.GetSearchFieldsResponse], error) {
	fields := s.search.Fields()
	out := &osav1.GetSearchFieldsResponse{Fields: make([]*osav1.SearchField, len(fields))}
	for i, f := range fields {
		out.Fields[i] = &osav1.SearchField{Name: f.Name, Type: string(f.Type), Facet: f.Facet}
	}
	return connect.NewResponse(out), nil
}
