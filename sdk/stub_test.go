package sdk_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/sdk"
)

// The tests in this file run the client against stub services, to produce answers a real
// server gives only under faults: Unavailable, slowness, failed indexing and harvests.

// stub is a RecordService, SearchService and SourceService whose answers a test scripts.
type stub struct {
	osav1connect.UnimplementedAdminServiceHandler
	osav1connect.UnimplementedRecordServiceHandler
	osav1connect.UnimplementedSearchServiceHandler
	osav1connect.UnimplementedSourceServiceHandler

	calls      atomic.Int32
	failFirst  int32 // the first failFirst calls answer Unavailable
	mu         sync.Mutex
	headers    []http.Header
	indexState []osav1.IndexState   // GetIndexStatus answers these in turn, then the last
	harvest    []osav1.HarvestState // GetHarvest answers these in turn, then the last
	reindex    []osav1.ReindexState // GetReindex answers these in turn, then the last
	polled5    chan struct{}        // closed by the fifth call, when set
}

// serve mounts s on a test server and returns its URL.
func (s *stub) serve(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(osav1connect.NewAdminServiceHandler(s))
	mux.Handle(osav1connect.NewRecordServiceHandler(s))
	mux.Handle(osav1connect.NewSearchServiceHandler(s))
	mux.Handle(osav1connect.NewSourceServiceHandler(s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// header returns the headers of call i (from 0).
func (s *stub) header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[i]
}

// begin counts a call, records its headers and fails it while failFirst says so.
func (s *stub) begin(h http.Header) (int32, error) {
	n := s.calls.Add(1)
	if n == 5 && s.polled5 != nil {
		close(s.polled5)
	}
	s.mu.Lock()
	s.headers = append(s.headers, h.Clone())
	s.mu.Unlock()
	if n <= s.failFirst {
		return n, connect.NewError(connect.CodeUnavailable, errors.New("database unavailable, try again later"))
	}
	return n, nil
}

func (s *stub) ListBackends(_ context.Context, req *connect.Request[osav1.ListBackendsRequest]) (*connect.Response[osav1.ListBackendsResponse], error) {
	if _, err := s.begin(req.Header()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.ListBackendsResponse{Backends: []*osav1.Backend{{Name: "vector", Kind: "pgvector"}}}), nil
}

func (s *stub) PublishRecord(_ context.Context, req *connect.Request[osav1.PublishRecordRequest]) (*connect.Response[osav1.PublishRecordResponse], error) {
	if _, err := s.begin(req.Header()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.PublishRecordResponse{Record: &osav1.Record{Srn: "urn:osa:localhost:rec:x@1", Version: 1,
		Metadata: req.Msg.Metadata}}), nil
}

func (s *stub) Search(ctx context.Context, req *connect.Request[osav1.SearchRequest]) (*connect.Response[osav1.SearchResponse], error) {
	if _, err := s.begin(req.Header()); err != nil {
		return nil, err
	}
	<-ctx.Done() // never answers: the client must give up
	return nil, ctx.Err()
}

// GetRecord answers version 1 of any record, live; it is not counted as a call.
func (s *stub) GetRecord(_ context.Context, req *connect.Request[osav1.GetRecordRequest]) (*connect.Response[osav1.GetRecordResponse], error) {
	return connect.NewResponse(&osav1.GetRecordResponse{Record: &osav1.Record{Srn: req.Msg.Srn + "@1", Version: 1}}), nil
}

func (s *stub) GetIndexStatus(_ context.Context, req *connect.Request[osav1.GetIndexStatusRequest]) (*connect.Response[osav1.GetIndexStatusResponse], error) {
	n, err := s.begin(req.Header())
	if err != nil {
		return nil, err
	}
	st := s.indexState[min(int(n), len(s.indexState))-1]
	return connect.NewResponse(&osav1.GetIndexStatusResponse{Srn: req.Msg.Srn, Statuses: []*osav1.BackendIndexStatus{
		{Backend: "keyword", State: osav1.IndexState_INDEX_STATE_INDEXED, IndexedVersion: 1},
		{Backend: "vector", State: st, Attempts: n, LastError: "embedder: connection refused"},
	}}), nil
}

func (s *stub) GetHarvest(_ context.Context, req *connect.Request[osav1.GetHarvestRequest]) (*connect.Response[osav1.GetHarvestResponse], error) {
	n, err := s.begin(req.Header())
	if err != nil {
		return nil, err
	}
	h := &osav1.Harvest{Id: req.Msg.Id, Source: "geo", State: s.harvest[min(int(n), len(s.harvest))-1], Fetched: int64(n)}
	if h.State == osav1.HarvestState_HARVEST_STATE_FAILED {
		h.Error = "esearch: 503 Service Unavailable"
	}
	return connect.NewResponse(&osav1.GetHarvestResponse{Harvest: h}), nil
}

func (s *stub) GetReindex(_ context.Context, req *connect.Request[osav1.GetReindexRequest]) (*connect.Response[osav1.GetReindexResponse], error) {
	n, err := s.begin(req.Header())
	if err != nil {
		return nil, err
	}
	j := &osav1.ReindexJob{Id: req.Msg.Id, Backend: "vector", State: s.reindex[min(int(n), len(s.reindex))-1],
		Total: 10, Done: int64(n)}
	if j.State == osav1.ReindexState_REINDEX_STATE_FAILED {
		j.Error = "embedder: connection refused"
	}
	return connect.NewResponse(&osav1.GetReindexResponse{Reindex: j}), nil
}

func fastPolls() sdk.Option { return sdk.WithPollInterval(time.Millisecond, 5*time.Millisecond) }

func TestRetry(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)

	t.Run("ReadRetriedUntilItWorks", func(t *testing.T) {
		t.Parallel()
		s := &stub{failFirst: 2}
		c := newClient(t, s.serve(t), sdk.WithRetry(3, time.Millisecond))
		if _, err := c.Backends(ctx); err != nil {
			t.Fatalf("Backends after 2 Unavailable answers = %v", err)
		}
		if n := s.calls.Load(); n != 3 {
			t.Fatalf("%d calls, want 3", n)
		}
	})
	t.Run("ReadGivesUp", func(t *testing.T) {
		t.Parallel()
		s := &stub{failFirst: 100}
		c := newClient(t, s.serve(t), sdk.WithRetry(4, time.Millisecond))
		if _, err := c.Backends(ctx); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("Backends = %v, want unavailable", err)
		}
		if n := s.calls.Load(); n != 4 {
			t.Fatalf("%d calls, want 4", n)
		}
	})
	t.Run("NoRetries", func(t *testing.T) {
		t.Parallel()
		s := &stub{failFirst: 100}
		c := newClient(t, s.serve(t), sdk.WithRetry(1, time.Millisecond))
		if _, err := c.Backends(ctx); !errors.Is(err, sdk.ErrUnavailable) || s.calls.Load() != 1 {
			t.Fatalf("Backends = %v after %d calls, want unavailable after 1", err, s.calls.Load())
		}
	})
	t.Run("PublishNotRetried", func(t *testing.T) {
		t.Parallel()
		s := &stub{failFirst: 1}
		c := newClient(t, s.serve(t), sdk.WithRetry(3, time.Millisecond))
		if _, err := c.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"a": 1}}); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("Publish = %v, want unavailable", err)
		}
		if n := s.calls.Load(); n != 1 {
			t.Fatalf("a publish that may not be repeated was sent %d times", n)
		}
	})
	t.Run("UpsertRetried", func(t *testing.T) {
		t.Parallel()
		s := &stub{failFirst: 1}
		c := newClient(t, s.serve(t), sdk.WithRetry(3, time.Millisecond))
		rec, err := c.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"a": 1}, Source: "lab", SourceID: "1"})
		if err != nil || rec.Metadata["a"] != float64(1) || s.calls.Load() != 2 {
			t.Fatalf("upsert = %+v, %v after %d calls, want success after 2", rec, err, s.calls.Load())
		}
	})
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := &stub{}
	for _, opts := range [][]sdk.Option{
		{sdk.WithToken("osa_secret"), sdk.WithUserAgent("harvester/2.0")},
		{sdk.WithProtocol(sdk.ProtocolConnectJSON), sdk.WithHTTPClient(&http.Client{})},
		{sdk.WithProtocol(sdk.ProtocolGRPCWeb)},
	} {
		if _, err := newClient(t, s.serve(t), opts...).Backends(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if h := s.header(0); h.Get("Authorization") != "Bearer osa_secret" || h.Get("User-Agent") != "harvester/2.0 osa-sdk-go/"+sdk.Version {
		t.Fatalf("headers with token and user agent: %v", h)
	}
	if h := s.header(1); h.Get("Authorization") != "" || h.Get("User-Agent") != "osa-sdk-go/"+sdk.Version ||
		!strings.Contains(h.Get("Content-Type"), "json") {
		t.Fatalf("headers without token, Connect JSON: %v", h)
	}
	if h := s.header(2); !strings.HasPrefix(h.Get("Content-Type"), "application/grpc-web") || h.Get("X-User-Agent") != "osa-sdk-go/"+sdk.Version {
		t.Fatalf("headers of gRPC-Web: %v", h)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	s := &stub{}
	c := newClient(t, s.serve(t), sdk.WithTimeout(50*time.Millisecond))
	start := time.Now()
	_, err := c.Search(testContext(t), "x", nil)
	if !errors.Is(err, sdk.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Search of a server that never answers = %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("gave up after %s, want about 50ms", el)
	}
}

func TestWaitIndexedFailed(t *testing.T) {
	t.Parallel()
	s := &stub{indexState: []osav1.IndexState{osav1.IndexState_INDEX_STATE_PENDING, osav1.IndexState_INDEX_STATE_PENDING,
		osav1.IndexState_INDEX_STATE_FAILED}}
	c := newClient(t, s.serve(t), fastPolls())
	const srn = "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11@1"

	// Waiting for the keyword backend alone ends at once: it holds the record.
	if st, err := c.WaitIndexed(testContext(t), srn, "keyword"); err != nil || st.Backend("keyword").State != sdk.IndexIndexed {
		t.Fatalf("WaitIndexed(keyword) = %+v, %v", st, err)
	}
	st, err := c.WaitIndexed(testContext(t), srn)
	var fe *sdk.IndexFailedError
	if !errors.As(err, &fe) || !errors.Is(err, sdk.ErrIndexFailed) || fe.Backend != "vector" || fe.LastError != "embedder: connection refused" ||
		st.Backend("vector").State != sdk.IndexFailed {
		t.Fatalf("WaitIndexed = %+v, %v; want the vector backend's failure", st, err)
	}
	if n := s.calls.Load(); n != 3 {
		t.Fatalf("%d polls, want 3", n)
	}
}

func TestWaitIndexedContext(t *testing.T) {
	t.Parallel()
	s := &stub{indexState: []osav1.IndexState{osav1.IndexState_INDEX_STATE_PENDING}, polled5: make(chan struct{})}
	c := newClient(t, s.serve(t), fastPolls())
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		<-s.polled5
		cancel()
	}()
	st, err := c.WaitIndexed(ctx, "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitIndexed = %+v, %v; want context.Canceled", st, err)
	}
}

func TestWaitHarvestFailed(t *testing.T) {
	t.Parallel()
	s := &stub{harvest: []osav1.HarvestState{osav1.HarvestState_HARVEST_STATE_RUNNING, osav1.HarvestState_HARVEST_STATE_FAILED}}
	c := newClient(t, s.serve(t), fastPolls())
	var seen []sdk.HarvestState
	h, err := c.WaitHarvest(testContext(t), 7, func(h *sdk.Harvest) { seen = append(seen, h.State) })
	var he *sdk.HarvestFailedError
	if !errors.As(err, &he) || !errors.Is(err, sdk.ErrHarvestFailed) || he.Harvest.ID != 7 || h.Error != "esearch: 503 Service Unavailable" ||
		!strings.Contains(err.Error(), "harvest 7 of geo failed") {
		t.Fatalf("WaitHarvest = %+v, %v", h, err)
	}
	if len(seen) != 2 || seen[0] != sdk.HarvestRunning || seen[1] != sdk.HarvestFailed {
		t.Fatalf("progress saw %v", seen)
	}
}

func TestWaitReindexFailed(t *testing.T) {
	t.Parallel()
	s := &stub{reindex: []osav1.ReindexState{osav1.ReindexState_REINDEX_STATE_RUNNING, osav1.ReindexState_REINDEX_STATE_RUNNING,
		osav1.ReindexState_REINDEX_STATE_FAILED}}
	c := newClient(t, s.serve(t), fastPolls())
	var done []int64
	j, err := c.WaitReindex(testContext(t), 3, func(j *sdk.ReindexJob) { done = append(done, j.Done) })
	var re *sdk.ReindexFailedError
	if !errors.As(err, &re) || !errors.Is(err, sdk.ErrReindexFailed) || re.Job.ID != 3 || j.Error != "embedder: connection refused" ||
		!j.Ended() || !strings.Contains(err.Error(), "reindex 3 of vector failed") {
		t.Fatalf("WaitReindex = %+v, %v", j, err)
	}
	if len(done) != 3 || done[2] != 3 {
		t.Fatalf("progress saw %v", done)
	}
}

func TestMetadataConversion(t *testing.T) {
	t.Parallel()
	s := &stub{}
	c := newClient(t, s.serve(t))
	type sample struct {
		Tissue string `json:"tissue"`
	}
	// Types structpb does not take go through encoding/json.
	rec, err := c.Publish(testContext(t), sdk.PublishParams{Metadata: map[string]any{
		"tags": []string{"a", "b"}, "sample": sample{Tissue: "heart"}, "n": int64(3),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := structpb.NewValue(rec.Metadata); err != nil || rec.Metadata["sample"].(map[string]any)["tissue"] != "heart" ||
		len(rec.Metadata["tags"].([]any)) != 2 || rec.Metadata["n"] != float64(3) {
		t.Fatalf("metadata came back as %#v (%v)", rec.Metadata, v)
	}
	_, err = c.Publish(testContext(t), sdk.PublishParams{Metadata: map[string]any{"f": func() {}}})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != sdk.CodeInvalidArgument || e.Field != "metadata" {
		t.Fatalf("unencodable metadata = %v, want invalid_argument on metadata", err)
	}
}
