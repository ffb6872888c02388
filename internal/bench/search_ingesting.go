package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

// Search while ingesting (issue 19): the modes' latency at one client while both backends ingest
// a steady stream, beside their idle latency in the same run.
const (
	// IngestingRate is the records/s published while the searches run.
	IngestingRate = 500
	// TargetIngestingP99Ratio bounds each mode's p99 while ingesting over its idle p99.
	TargetIngestingP99Ratio = 2.0
	// ingestingWarmUp runs the ingest before the first search is timed: queues and batches
	// reach their steady state.
	ingestingWarmUp = 5 * time.Second
	// ingestingSource is the source of the ingested records (the corpus's is [CorpusSource]).
	ingestingSource = "bench_live"
	// ingestingSuffix names the series measured while ingesting: "<mode>" + ingestingSuffix.
	ingestingSuffix = "_ingesting"
)

// Ingesting is how the ingest beside the searches went.
type Ingesting struct {
	// Rate is the records/s asked for; Published those published while the searches ran.
	Rate      int     `json:"rate"`
	Published int     `json:"published"`
	Seconds   float64 `json:"seconds"`
	// Indexed is records/s indexed by each backend over the same window.
	Indexed map[string]float64 `json:"indexed_per_sec"`
}

// measureWhileIngesting times vector, keyword and hybrid search at one client while a worker
// (a second server of role worker on the same database) indexes records published at
// [IngestingRate] through the API: the series "<mode>_ingesting", beside the idle ones.
func measureWhileIngesting(ctx context.Context, rep *SearchReport, cfg *config.Config, base string, client osav1connect.SearchServiceClient,
	queries []string, corpus []map[string]any, progress func(string, ...any)) (err error) {
	wcfg := *cfg
	wcfg.Node.Role = config.RoleWorker
	_, wsrv, stopWorker, err := startServer(ctx, &wcfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer stopWorker()

	// Enough records for the longest the searches may take at the rate; the ingest stops when
	// they are done.
	reqs := make([]*osav1.PublishRecordRequest, IngestingRate*600)
	for i := range reqs {
		st, err := structpb.NewStruct(corpus[i%len(corpus)])
		if err != nil {
			return err
		}
		reqs[i] = &osav1.PublishRecordRequest{Metadata: st, Source: ingestingSource, SourceId: strconv.Itoa(i)}
	}
	pctx, stopPublish := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() {
		published <- publishPaced(pctx, osav1connect.NewRecordServiceClient(http.DefaultClient, base), reqs, IngestingRate, 100)
	}()
	select {
	case err := <-published:
		stopPublish()
		return fmt.Errorf("ingest beside the searches: %w", err)
	case <-time.After(ingestingWarmUp):
	}

	var from, to time.Time
	if err := wsrv.Pool().QueryRow(ctx, `SELECT now()`).Scan(&from); err != nil {
		stopPublish()
		return err
	}
	for _, mode := range []struct {
		name string
		mode osav1.SearchMode
	}{{"vector", osav1.SearchMode_SEARCH_MODE_VECTOR}, {"keyword", osav1.SearchMode_SEARCH_MODE_KEYWORD}, {"hybrid", osav1.SearchMode_SEARCH_MODE_HYBRID}} {
		l := measure(ctx, apiSearch(client, mode.mode), queries, 1)
		l.Mode = mode.name + ingestingSuffix
		rep.Series = append(rep.Series, l)
		progress("search: %-17s 1 client: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, %.0f q/s", l.Mode, l.P50Ms, l.P95Ms, l.P99Ms, l.QPS)
	}
	if err := wsrv.Pool().QueryRow(ctx, `SELECT now()`).Scan(&to); err != nil {
		stopPublish()
		return err
	}
	stopPublish()
	if err := <-published; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("ingest beside the searches: %w", err)
	}

	ing := &Ingesting{Rate: IngestingRate, Seconds: to.Sub(from).Seconds(), Indexed: map[string]float64{}}
	if err := wsrv.Pool().QueryRow(ctx, `SELECT count(*) FROM records WHERE source = $1 AND created_at BETWEEN $2 AND $3`,
		ingestingSource, from, to).Scan(&ing.Published); err != nil {
		return err
	}
	rows, err := wsrv.Pool().Query(ctx, `SELECT backend, count(*) FROM index_state WHERE state = 'indexed' AND indexed_at BETWEEN $1 AND $2 GROUP BY backend`, from, to)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			rows.Close()
			return err
		}
		ing.Indexed[name] = float64(n) / ing.Seconds
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rep.Ingesting = ing
	progress("search: while ingesting %d records/s: %d published in %.0f s, indexed/s %v", IngestingRate, ing.Published, ing.Seconds, ing.Indexed)
	return nil
}

// apiSearch is a call of [measure]: a search in mode through client.
func apiSearch(client osav1connect.SearchServiceClient, mode osav1.SearchMode) func(ctx context.Context, q string) (int, error) {
	return apiSearchOn(client, mode, "")
}

// apiSearchOn is [apiSearch] on backend ("" for the default ones).
func apiSearchOn(client osav1connect.SearchServiceClient, mode osav1.SearchMode, backend string) func(ctx context.Context, q string) (int, error) {
	return func(ctx context.Context, q string) (int, error) {
		res, err := client.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: q, Mode: mode, Backend: backend, Limit: ptr(int32(searchK))}))
		if err != nil {
			return 0, err
		}
		return len(res.Msg.Hits), nil
	}
}
