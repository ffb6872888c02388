package server_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/fakeprovider"
	"github.com/osa-archive/osa/sdk"
)

// metricValue returns the value of the first sample line of the exposition matching re.
func metricValue(t *testing.T, body string, re string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + re + ` ([0-9.e+-]+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestMetricsAfterIngest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	c := recordClient(b)
	var reqs []*osav1.PublishRecordRequest
	for i := range 20 {
		reqs = append(reqs, &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": "Record about hearts " + strconv.Itoa(i)})})
	}
	if _, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: reqs})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: "bad"})); err == nil {
		t.Fatal("a bad SRN was accepted")
	}

	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body = get(t, b.baseURL+"/metrics")
		if metricValue(t, body, `osa_index_freshness_seconds_count\{backend="vector"\}`) == 20 &&
			metricValue(t, body, `osa_index_freshness_seconds_count\{backend="keyword"\}`) == 20 &&
			metricValue(t, body, `osa_jobs_total\{kind="osa_index_record",outcome="completed",queue="index_vector"\}`) == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed 20 indexed records per backend:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{
		`osa_rpc_requests_total\{code="ok",procedure="/osa.v1.RecordService/PublishRecords"\}`,
		`osa_rpc_requests_total\{code="invalid_argument",procedure="/osa.v1.RecordService/GetRecord"\}`,
		`osa_rpc_duration_seconds_count\{procedure="/osa.v1.RecordService/PublishRecords"\}`,
		`osa_jobs_total\{kind="osa_fanout",outcome="completed",queue="fanout"\}`,
		`osa_batch_size_count\{backend="keyword"\}`,
		`osa_batch_flushes_total\{backend="vector",reason="[a-z]+"\}`,
		`osa_embed_duration_seconds_count\{provider="hash"\}`,
		`osa_queue_jobs\{queue="index_vector",state="available"\}`,
		`osa_queue_oldest_available_seconds\{queue="fanout"\}`,
		`osa_db_pool_connections\{state="acquired"\}`,
		`osa_db_pool_connections\{state="idle"\}`,
		`osa_db_pool_connections\{state="constructing"\}`,
	} {
		if metricValue(t, body, want) < 0 {
			t.Errorf("/metrics has no sample %s", want)
		}
	}
	if v := metricValue(t, body, `osa_embed_provider_outage_seconds\{backend="vector"\}`); v != 0 {
		t.Errorf("osa_embed_provider_outage_seconds{backend=\"vector\"} = %v with the provider up, want 0", v)
	}
	// The pool's gauges agree with the pool itself: its size limit, and connections open.
	if got, want := metricValue(t, body, `osa_db_pool_max_connections`), float64(b.cfg.Database.MaxConns); got != want {
		t.Errorf("osa_db_pool_max_connections = %v, want database.max_conns %v", got, want)
	}
	if open := metricValue(t, body, `osa_db_pool_connections\{state="acquired"\}`) + metricValue(t, body, `osa_db_pool_connections\{state="idle"\}`); open < 1 ||
		open > float64(b.cfg.Database.MaxConns) {
		t.Errorf("osa_db_pool_connections: %v acquired or idle, want 1..%d", open, b.cfg.Database.MaxConns)
	}
	if !strings.Contains(body, "# TYPE osa_index_freshness_seconds histogram") {
		t.Error("freshness is not a histogram")
	}
}

func TestMetricsOnWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Node.Role = config.RoleWorker })
	code, body := get(t, b.baseURL+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "osa_queue_jobs") {
		t.Fatalf("/metrics on a worker: %d\n%.300s", code, body)
	}
}

// A new version whose indexed text is unchanged (only a number changed) makes no embedding call:
// the vector backend moves its row to the new version, and /metrics counts the text saved.
func TestUnchangedTextMakesNoEmbeddingCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, nil)
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(samples int) {
		t.Helper()
		res, err := c.PublishMany(ctx, []sdk.PublishParams{{Source: "lab", SourceID: "s1",
			Metadata: map[string]any{"title": "Zebrafish heart regeneration", "sample_count": samples}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitIndexed(ctx, res[0].SRN); err != nil {
			t.Fatal(err)
		}
	}
	calls := func() float64 {
		_, body := get(t, b.baseURL+"/metrics")
		return metricValue(t, body, `osa_embed_duration_seconds_count\{provider="hash"\}`)
	}
	publish(3)
	before := calls()
	publish(4)
	if after := calls(); after != before || before < 1 {
		t.Fatalf("embedding calls: %v before the unchanged-text version, %v after; want one before and none more", before, after)
	}
	if _, err := c.Search(ctx, "zebrafish heart", &sdk.SearchOpts{Mode: sdk.SearchVector}); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, b.baseURL+"/metrics")
	if saved := metricValue(t, body, `osa_embed_inputs_saved_total\{backend="vector"\}`); saved != 1 {
		t.Fatalf("osa_embed_inputs_saved_total = %v, want 1", saved)
	}
	if inputs := metricValue(t, body, `osa_embed_inputs_total\{backend="vector"\}`); inputs != 1 {
		t.Fatalf("osa_embed_inputs_total = %v, want 1 (the first version's text; a search's query is not counted)", inputs)
	}
}

// TestMetricsProviderConcurrency indexes records with an embedder whose provider answers 429
// beyond two concurrent calls: /metrics shows the provider's adaptive concurrency limit, its
// calls and those answered 429, which the provider's own counts agree with.
func TestMetricsProviderConcurrency(t *testing.T) {
	t.Parallel()
	p := fakeprovider.Start(fakeprovider.Config{Concurrency: 2, Latency: 20 * time.Millisecond, Dims: 8})
	defer p.Close()
	b := setup(t, func(c *config.Config) {
		e := config.DefaultEmbedder(config.EmbedderKindOpenAI)
		e.BaseURL, e.Model, e.Dims, e.MaxInputs = p.URL(), "fake-metrics", 8, 4
		c.Backends = []config.Backend{config.DefaultBackend("vector", config.BackendKindPgvector)}
		c.Backends[0].Embedder = &e
		c.Backends[0].Batch.MaxSize = 4
	})
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	params := make([]sdk.PublishParams, 64)
	for i := range params {
		params[i] = sdk.PublishParams{Source: "lab", SourceID: fmt.Sprint("m", i), Metadata: map[string]any{"title": fmt.Sprint("Zebrafish heart ", i)}}
	}
	res, err := c.PublishMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if _, err := c.WaitIndexed(ctx, r.SRN); err != nil {
			t.Fatal(err)
		}
	}
	_, body := get(t, b.baseURL+"/metrics")
	host := strings.TrimPrefix(p.URL(), "http://")
	label := regexp.QuoteMeta(`{provider="` + host + `/v1/embeddings fake-metrics"}`)
	limit := metricValue(t, body, `osa_embed_provider_concurrency_limit`+label)
	calls := metricValue(t, body, `osa_embed_provider_calls_total`+label)
	limited := metricValue(t, body, `osa_embed_provider_rate_limited_total`+label)
	st := p.Stats()
	if limit < 1 || limit > 3 {
		t.Errorf("concurrency limit %v, want 1..3 (the provider takes 2)", limit)
	}
	if calls != float64(st.Calls) || limited != float64(st.RateLimited) {
		t.Errorf("metrics say %v calls, %v answered 429; the provider counted %d and %d", calls, limited, st.Calls, st.RateLimited)
	}
}
