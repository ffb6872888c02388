package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/server"
)

// relevanceServer is an in-process server serving its API on a loopback port, with the clients
// [Relevance] calls it through.
type relevanceServer struct {
	records osav1connect.RecordServiceClient
	search  osav1connect.SearchServiceClient
	// stop stops the server and waits until it has; it returns the error that stopped it.
	stop func() error
}

// startRelevanceServer starts a server with cfg (its http.addr a loopback address) and waits
// until it is ready. Stop it with [relevanceServer.stop].
func startRelevanceServer(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*relevanceServer, error) {
	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("error starting the server: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("error listening: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Run(runCtx, ln) }()
	transport := &http.Transport{DisableCompression: true}
	s := &relevanceServer{stop: func() error {
		cancel()
		err := <-stopped
		srv.Close()
		transport.CloseIdleConnections()
		return err
	}}
	baseURL := "http://" + ln.Addr().String()
	httpClient := &http.Client{Transport: transport}
	if err := waitReady(ctx, httpClient, baseURL); err != nil {
		_ = s.stop()
		return nil, err
	}
	s.records = osav1connect.NewRecordServiceClient(httpClient, baseURL)
	// As in the search benchmark: on loopback, compressed responses only cost CPU on both ends.
	s.search = osav1connect.NewSearchServiceClient(httpClient, baseURL, connect.WithAcceptCompression("gzip", nil, nil))
	return s, nil
}

// publish publishes every document as a record {"title": title, "summary": text, "bench":
// {"doc_id": id}}, [relevancePublishBatch] per PublishRecords call. The id is nested so that it
// is not indexed as text: the backends index every top-level string field.
func (s *relevanceServer) publish(ctx context.Context, docs []datasetDoc, progressf func(string, ...any)) error {
	for start := 0; start < len(docs); start += relevancePublishBatch {
		chunk := docs[start:min(len(docs), start+relevancePublishBatch)]
		reqs := make([]*osav1.PublishRecordRequest, len(chunk))
		for i, d := range chunk {
			meta, err := structpb.NewStruct(map[string]any{"title": d.title, "summary": d.text, "bench": map[string]any{"doc_id": d.id}})
			if err != nil {
				return fmt.Errorf("document %q: %w", d.id, err)
			}
			reqs[i] = &osav1.PublishRecordRequest{Metadata: meta}
		}
		resp, err := s.records.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: reqs}))
		if err != nil {
			return fmt.Errorf("error publishing documents %d-%d: %w", start+1, start+len(chunk), err)
		}
		if len(resp.Msg.Records) != len(chunk) {
			return fmt.Errorf("published %d documents, got %d records back", len(chunk), len(resp.Msg.Records))
		}
		progressf("published %d/%d documents", start+len(chunk), len(docs))
	}
	return nil
}

// waitIndexed polls ListBackends until every backend has indexed n records; a failed record, or
// timeout passing first, is an error.
func (s *relevanceServer) waitIndexed(ctx context.Context, n int, timeout time.Duration, progressf func(string, ...any)) error {
	start := time.Now()
	lastProgress := start
	for {
		res, err := s.search.ListBackends(ctx, connect.NewRequest(&osav1.ListBackendsRequest{}))
		if err != nil {
			return fmt.Errorf("error listing backends: %w", err)
		}
		done := true
		var parts []string
		for _, b := range res.Msg.Backends {
			if b.Failed > 0 {
				return fmt.Errorf("backend %s: %d records failed to index (osa status shows their errors)", b.Name, b.Failed)
			}
			done = done && b.Indexed >= int64(n)
			parts = append(parts, fmt.Sprintf("%s %d/%d", b.Name, b.Indexed, n))
		}
		switch {
		case done:
			return nil
		case time.Since(start) > timeout:
			return fmt.Errorf("not every backend had indexed the %d records after %s: %s", n, timeout, strings.Join(parts, ", "))
		case time.Since(lastProgress) >= progressEvery:
			lastProgress = time.Now()
			progressf("indexing, %.0f s: %s", time.Since(start).Seconds(), strings.Join(parts, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(PollIntervalDefault):
		}
	}
}

// measure sends every query of ds, as written, to Search in mode with limit [RelevanceLimit], one
// call at a time, and scores the hits against the judgements.
func (s *relevanceServer) measure(ctx context.Context, ds *dataset, variant, name string, mode osav1.SearchMode) (RelevanceRow, error) {
	scores := make([]queryScores, len(ds.queries))
	latencies := make([]time.Duration, len(ds.queries))
	var relevant, others []float64 // the scores of judged-relevant hits and of the rest
	for i, q := range ds.queries {
		t0 := time.Now()
		res, err := s.search.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: q.text, Mode: mode, Limit: ptr(int32(RelevanceLimit))}))
		latencies[i] = time.Since(t0)
		if err != nil {
			return RelevanceRow{}, fmt.Errorf("%s search for query %q: %w", name, q.id, err)
		}
		ranked, err := hitDocIDs(res.Msg.Hits)
		if err != nil {
			return RelevanceRow{}, fmt.Errorf("%s search for query %q: %w", name, q.id, err)
		}
		scores[i] = scoreQuery(ranked, ds.qrels[q.id])
		for j, h := range res.Msg.Hits {
			if ds.qrels[q.id][ranked[j]] > 0 {
				relevant = append(relevant, h.GetScore())
			} else {
				others = append(others, h.GetScore())
			}
		}
	}
	row := relevanceRow(variant, name, ds.queries, scores, latencies)
	row.Scores = &ScoreSpread{Relevant: spreadOf(relevant), Others: spreadOf(others)}
	return row, nil
}

// hitDocIDs maps hits back to the documents they were published from, by metadata.bench.doc_id.
func hitDocIDs(hits []*osav1.SearchHit) ([]string, error) {
	ids := make([]string, len(hits))
	for i, h := range hits {
		id := h.GetMetadata().GetFields()["bench"].GetStructValue().GetFields()["doc_id"].GetStringValue()
		if id == "" {
			return nil, fmt.Errorf("hit %s has no metadata.bench.doc_id", h.Srn)
		}
		ids[i] = id
	}
	return ids, nil
}
