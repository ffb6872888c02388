package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/fakeprovider"
	"github.com/osa-archive/osa/sdk"
	"github.com/osa-archive/osa/server"
)

// Targets of the provider benchmark (issue 19's).
const (
	// TargetProviderShare is the least share of the provider's physical limit vector ingest
	// reaches.
	TargetProviderShare = 0.90
	// TargetProvider429 is the most share of calls answered 429.
	TargetProvider429 = 0.02
	// providerDims keeps the table writes far from being the bound.
	providerDims = 8
	// providerPublishBatch is the records of one PublishRecords call.
	providerPublishBatch = 500
)

// ProviderShape is one hosted-API shape the benchmark runs against ([fakeprovider.Config]),
// with the batch size its backend uses.
type ProviderShape struct {
	Name        string        `json:"name"`
	Concurrency int           `json:"concurrency"`
	Latency     time.Duration `json:"latency_ns"`
	PerInput    time.Duration `json:"per_input_ns"`
	ErrorRate   float64       `json:"error_rate"`
	// Batch is the backend's batch.max_size and embedder.max_inputs: the inputs of a full call.
	Batch int `json:"batch"`
	// Records is how many records the shape ingests.
	Records int `json:"records"`
}

// ProviderShapes are the shapes of [Provider]: the two, each long enough for about 100
// calls or more to the provider (C 4: 1,250 calls in about 50 s on 2 cores; C 1: 94 calls,
// about 110 s), so that the adaptive limit's slow start and the run's first and last partial
// calls weigh little beside its steady state. The smoke runs take about 2 and 4 s.
func ProviderShapes(smoke bool) []ProviderShape {
	scale := 1.0
	if smoke {
		scale = 0.03
	}
	return []ProviderShape{
		{Name: "C4 40ms+0.3ms", Concurrency: 4, Latency: 40 * time.Millisecond, PerInput: 300 * time.Microsecond,
			ErrorRate: 0.01, Batch: 32, Records: int(40000 * scale)},
		{Name: "C1 500ms+5ms", Concurrency: 1, Latency: 500 * time.Millisecond, PerInput: 5 * time.Millisecond,
			ErrorRate: 0.01, Batch: 128, Records: int(12000 * scale)},
	}
}

// limit is the shape's physical limit in records/s: Concurrency calls of Batch inputs at once.
func (s ProviderShape) limit() float64 {
	call := s.Latency + time.Duration(s.Batch)*s.PerInput
	return float64(s.Concurrency*s.Batch) / call.Seconds()
}

// ProviderOpts configures [Provider].
type ProviderOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; each shape runs in a
	// scratch database there, dropped at the end.
	AdminURL string
	// Shapes are the provider shapes. Defaults to ProviderShapes(false).
	Shapes []ProviderShape
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// ProviderResult is one shape's outcome.
type ProviderResult struct {
	Shape ProviderShape `json:"shape"`
	// Limit is the shape's physical limit, records/s; PerSecond the vector ingest's, from the
	// first publish until every record is indexed.
	Limit     float64 `json:"limit_per_sec"`
	PerSecond float64 `json:"per_sec"`
	Seconds   float64 `json:"seconds"`
	// Calls, RateLimited, Failed (500s) and Rejected (400s) are the provider's own counts;
	// InputsPerCall the mean inputs of an answered call.
	Calls         int64   `json:"calls"`
	RateLimited   int64   `json:"rate_limited"`
	Failed        int64   `json:"failed_500"`
	Rejected      int64   `json:"rejected_400"`
	InputsPerCall float64 `json:"inputs_per_call"`
	// LimitLearned is the process's adaptive concurrency limit at the end.
	LimitLearned int `json:"limit_learned"`
	// RecordsFailed are records whose index_state ended failed.
	RecordsFailed int `json:"records_failed"`
	// Ceiling is the records/s of the same ingest, in the same run, against an instant provider
	// (no latency, no concurrency cap, no errors): what the machine's pipeline reaches when the
	// provider is not the bound. A limit above it cannot be reached here.
	Ceiling float64 `json:"ceiling_per_sec"`
}

// Share is PerSecond over Limit.
func (r ProviderResult) Share() float64 { return r.PerSecond / r.Limit }

// RateLimitedShare is the share of calls answered 429.
func (r ProviderResult) RateLimitedShare() float64 {
	return float64(r.RateLimited) / float64(max(r.Calls, 1))
}

// ProviderReport is the outcome of [Provider].
type ProviderReport struct {
	Command string           `json:"command,omitempty"`
	Date    time.Time        `json:"date"`
	Machine Machine          `json:"machine"`
	Results []ProviderResult `json:"results"`
}

// Provider measures vector ingest against embedding providers shaped like hosted APIs
// (internal/fakeprovider): for each shape, a server with one vector backend whose embedder
// calls the provider ingests the shape's records, published as fast as the API takes them;
// the records/s from the first publish to the last record indexed are set beside the
// provider's physical limit, with the share of calls the provider answered 429.
func Provider(ctx context.Context, opts ProviderOpts) (*ProviderReport, error) {
	if opts.Shapes == nil {
		opts.Shapes = ProviderShapes(false)
	}
	rep := &ProviderReport{Date: time.Now().UTC()}
	var err error
	if rep.Machine, _, err = machineBefore(ctx, opts.AdminURL); err != nil {
		return nil, err
	}
	for _, sh := range opts.Shapes {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "provider %s: %d records, batch %d, limit %.0f records/s\n", sh.Name, sh.Records, sh.Batch, sh.limit())
		}
		res, err := runProviderShape(ctx, opts.AdminURL, sh)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", sh.Name, err)
		}
		instant := sh
		instant.Name, instant.Concurrency, instant.Latency, instant.PerInput, instant.ErrorRate =
			sh.Name+" instant", 1<<16, time.Nanosecond, time.Nanosecond, 0
		ceiling, err := runProviderShape(ctx, opts.AdminURL, instant)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", instant.Name, err)
		}
		res.Ceiling = ceiling.PerSecond
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "provider %s: %.0f records/s (%.0f %% of the limit; %.0f records/s with an instant provider), %.2f %% of calls 429\n",
				sh.Name, res.PerSecond, 100*res.Share(), res.Ceiling, 100*res.RateLimitedShare())
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func runProviderShape(ctx context.Context, adminURL string, sh ProviderShape) (res ProviderResult, err error) {
	res = ProviderResult{Shape: sh, Limit: sh.limit()}
	p := fakeprovider.Start(fakeprovider.Config{Concurrency: sh.Concurrency, Latency: sh.Latency, PerInput: sh.PerInput,
		ErrorRate: sh.ErrorRate, Dims: providerDims})
	defer p.Close()
	db, err := createScratchDB(ctx, adminURL)
	if err != nil {
		return res, err
	}
	defer func() {
		if dropErr := db.drop(ctx); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	cfg := config.Default()
	cfg.Database.URL = db.url
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout, cfg.Worker.ShutdownTimeout = shutdownTimeout, shutdownTimeout
	model := "fake-" + strings.ReplaceAll(sh.Name, " ", "-")
	e := config.DefaultEmbedder(config.EmbedderKindOpenAI)
	e.BaseURL, e.Model, e.Dims, e.MaxInputs = p.URL(), model, providerDims, sh.Batch
	b := config.DefaultBackend("vector", config.BackendKindPgvector)
	b.Embedder, b.Batch.MaxSize = &e, sh.Batch
	cfg.Backends = []config.Backend{b}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return res, err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		srv.Close()
		return res, err
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Run(runCtx, ln) }()
	defer func() {
		stop()
		<-stopped
		srv.Close()
	}()
	client, err := sdk.New("http://" + ln.Addr().String())
	if err != nil {
		return res, err
	}
	pool, err := pgxpool.New(ctx, db.url)
	if err != nil {
		return res, err
	}
	defer pool.Close()

	corpus := Corpus(sh.Records)
	start := time.Now()
	for i := 0; i < len(corpus); i += providerPublishBatch {
		params := make([]sdk.PublishParams, 0, providerPublishBatch)
		for j, md := range corpus[i:min(i+providerPublishBatch, len(corpus))] {
			params = append(params, sdk.PublishParams{Source: "bench", SourceID: fmt.Sprint("p", i+j), Metadata: md})
		}
		if _, err := client.PublishMany(ctx, params); err != nil {
			return res, err
		}
	}
	// A record whose batch met a 500 waits for its job's retry; 5 minutes bounds the tail.
	deadline := time.Now().Add(time.Duration(float64(sh.Records)/res.Limit*float64(time.Second))*3 + 5*time.Minute)
	for {
		var settled, failed int
		if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state IN ('indexed', 'failed')), count(*) FILTER (WHERE state = 'failed')
			FROM index_state WHERE backend = 'vector'`).Scan(&settled, &failed); err != nil {
			return res, err
		}
		if settled == sh.Records {
			res.RecordsFailed = failed
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d of %d records settled by the deadline", settled, sh.Records)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(sh.Records) / res.Seconds
	st := p.Stats()
	res.Calls, res.RateLimited, res.Failed, res.Rejected = st.Calls, st.RateLimited, st.Failed, st.Rejected
	res.InputsPerCall = float64(st.Inputs) / float64(max(st.OK, 1))
	for _, ps := range embed.Providers() {
		if strings.HasSuffix(ps.Provider, " "+model) {
			res.LimitLearned = ps.Limit
		}
	}
	return res, nil
}

// Markdown renders the report.
func (r *ProviderReport) Markdown() string {
	var b strings.Builder
	r.Machine.writeHeader(&b, "Vector ingest against hosted-API-shaped embedding providers", r.Command, r.Date)
	b.WriteString("Each shape: a fake provider on httptest (internal/fakeprovider) answering a call after its latency plus a cost per\n" +
		"input, at most C calls at once (beyond them a 429 with Retry-After), 1 % of calls a 500; a server with one vector\n" +
		"backend (8 dims) calling it; records published as fast as the API takes them. The limit is C × batch ÷ call time.\n" +
		"The ceiling is the same ingest against an instant provider (no latency, no cap, no errors), in the same run: what\n" +
		"this machine's pipeline reaches when the provider is not the bound.\n\n")
	b.WriteString("| shape | records | batch | limit (records/s) | measured (records/s) | share | ceiling (records/s) | share of min(limit, ceiling) | calls | 429 | 500 | inputs/call | limit learned | records failed |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.0f | %.1f %% | %.0f | %.1f %% | %d | %d (%.2f %%) | %d | %.1f | %d | %d |\n",
			x.Shape.Name, x.Shape.Records, x.Shape.Batch, x.Limit, x.PerSecond, 100*x.Share(), x.Ceiling,
			100*x.PerSecond/min(x.Limit, x.Ceiling), x.Calls,
			x.RateLimited, 100*x.RateLimitedShare(), x.Failed, x.InputsPerCall, x.LimitLearned, x.RecordsFailed)
	}
	b.WriteString("\nTargets (issue 19): vector ingest ≥ 90 % of the limit, 0 records failed, ≤ 2 % of calls answered 429.\n\n")
	for _, x := range r.Results {
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "**missed**"
		}
		fmt.Fprintf(&b, "- %s: share %.1f %% %s; 429 %.2f %% %s; records failed %d %s.", x.Shape.Name,
			100*x.Share(), verdict(x.Share() >= TargetProviderShare), 100*x.RateLimitedShare(),
			verdict(x.RateLimitedShare() <= TargetProvider429), x.RecordsFailed, verdict(x.RecordsFailed == 0))
		if x.Ceiling < x.Limit {
			fmt.Fprintf(&b, " The limit is above this machine's ceiling (%.0f records/s with an instant provider): the pipeline, not the provider, is the bound; the ingest reached %.1f %% of that ceiling.",
				x.Ceiling, 100*x.PerSecond/x.Ceiling)
		}
		b.WriteString("\n")
	}
	return b.String()
}
