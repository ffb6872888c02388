package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/server"
)

// Defaults and targets of the rebuild benchmark (issue 14's).
const (
	RebuildRecordsDefault      = 100000
	RebuildRecordsSmokeDefault = 2000
	// TargetRebuildOfCeiling is the least share of the bulk-path ceiling a rebuild reaches.
	TargetRebuildOfCeiling = 0.70
	// TargetRebuildSearchP99 is the most the search p99 during a rebuild may be, in multiples of
	// its idle p99.
	TargetRebuildSearchP99 = 2.0
	// rebuildSearchEvery paces the searches measured, idle and during the rebuild: a steady
	// stream of users, not a load test competing with the rebuild for the CPUs.
	rebuildSearchEvery = 50 * time.Millisecond
	// rebuildIdleSearches is the number of searches of the idle series.
	rebuildIdleSearches = 300
	// rebuildUpdateBatch is how many changed records one publish during the rebuild carries.
	rebuildUpdateBatch = 10
)

// RebuildOpts configures [Rebuild].
type RebuildOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; the benchmark runs in a
	// scratch database there, dropped at the end.
	AdminURL string
	// Records is the corpus size. Defaults to 100,000.
	Records int
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// RebuildReport is the outcome of [Rebuild].
type RebuildReport struct {
	Command string    `json:"command,omitempty"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	Records int       `json:"records"`
	// Change is the change applied, a new generation of the vector backend.
	Change      string  `json:"change"`
	LoadSeconds float64 `json:"load_seconds"`
	// RebuildSeconds is the rebuild's run, from the ApplyBackends that started it to the swap
	// (its reindexes row's started_at and finished_at).
	RebuildSeconds float64 `json:"rebuild_seconds"`
	// CeilingCopySeconds and CeilingIndexSeconds are the bulk path's: one COPY of the live
	// table's rows into a table of the same shape, then one HNSW build with the new settings.
	CeilingCopySeconds  float64 `json:"ceiling_copy_seconds"`
	CeilingIndexSeconds float64 `json:"ceiling_index_seconds"`
	// Updates is the number of records whose text changed during the rebuild (published
	// through the API while it ran); BaselineInputs the embedding inputs as many text changes
	// cost with no rebuild running (the live generation's own share), measured first.
	Updates        int   `json:"updates"`
	BaselineInputs int64 `json:"baseline_inputs"`
	// Inputs are the vector backend's embedding inputs from the change's apply until every
	// update is indexed (osa_embed_inputs_total); RebuildInputs is Inputs less the baseline and
	// less the one text ApplyBackends embeds to probe the embedder: the new generation's.
	Inputs        int64 `json:"inputs"`
	RebuildInputs int64 `json:"rebuild_inputs"`
	// Idle and During are the latencies of vector searches paced every 50 ms, before the
	// change and while the rebuild runs.
	Idle   Latency `json:"search_idle"`
	During Latency `json:"search_during"`
}

// RebuildPerSecond is the rebuild's records/s; CeilingPerSecond the bulk path's.
func (r *RebuildReport) RebuildPerSecond() float64 { return float64(r.Records) / r.RebuildSeconds }

// CeilingPerSecond is the bulk path's records/s: COPY plus one index build.
func (r *RebuildReport) CeilingPerSecond() float64 {
	return float64(r.Records) / (r.CeilingCopySeconds + r.CeilingIndexSeconds)
}

// Rebuild measures a change of the vector backend that needs a new generation (its HNSW
// ef_construction) on a corpus of opts.Records records, applied with ApplyBackends to a running
// server while searches and text changes go on: how long the new generation takes to build
// and swap in, beside the bulk path's ceiling in the same run; how many embedding inputs it
// costs beside the records whose text changed; the search p99 during it beside its idle p99.
func Rebuild(ctx context.Context, opts RebuildOpts) (*RebuildReport, error) {
	if opts.Records == 0 {
		opts.Records = RebuildRecordsDefault
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	rep := &RebuildReport{Date: time.Now().UTC(), Records: opts.Records, Updates: max(20, opts.Records/100)}
	if 2*rep.Updates > opts.Records {
		return nil, fmt.Errorf("rebuild benchmark: %d records are too few (at least 40)", opts.Records)
	}
	var err error
	if rep.Machine, err = machineInfo(ctx, opts.AdminURL); err != nil {
		return nil, err
	}
	cpu := newCPUMeter(ctx, opts.AdminURL)
	rep.Machine.LoadBefore = loadAvg()
	rep.Machine.CPUBefore = cpu.sample(ctx, time.Second)
	db, err := createScratchDB(ctx, opts.AdminURL)
	if err != nil {
		return nil, err
	}
	defer db.drop(ctx)

	cfg := config.Default()
	cfg.Database.URL = db.url
	cfg.Log.Level = "error"
	cfg.Catalog.PollInterval = 200 * time.Millisecond
	cfg.Catalog.RetireAfter = 0
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	defer func() { stop(); <-done }()
	base := "http://" + ln.Addr().String()
	pool := srv.Pool()

	start := time.Now()
	corpus := Corpus(opts.Records)
	if _, err := loadCorpus(ctx, pool, srv.Backends(), slices.Chunk(corpus, searchLoadBatch), len(corpus), progress); err != nil {
		return nil, err
	}
	for _, b := range srv.Backends() { // as the pipeline would have left them
		if err := indexstate.SyncFromTable(ctx, pool, b.Name(), b.Table()); err != nil {
			return nil, err
		}
	}
	rep.LoadSeconds = time.Since(start).Seconds()
	progress("rebuild: loaded %d records in %.1f s", opts.Records, rep.LoadSeconds)

	queries := searchQueries(corpus, 100)
	searches := osav1connect.NewSearchServiceClient(http.DefaultClient, base, connect.WithAcceptCompression("gzip", nil, nil))
	recordsAPI := osav1connect.NewRecordServiceClient(http.DefaultClient, base)
	admin := osav1connect.NewAdminServiceClient(http.DefaultClient, base)
	search := func(ctx context.Context, q string) (int, error) {
		res, err := searches.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: q, Mode: osav1.SearchMode_SEARCH_MODE_VECTOR, Limit: ptr(int32(searchK))}))
		if err != nil {
			return 0, err
		}
		return len(res.Msg.Hits), nil
	}

	rep.Idle = paced(ctx, search, queries, func(n int) bool { return n >= rebuildIdleSearches })
	progress("rebuild: idle vector search p50 %.2f ms, p99 %.2f ms", rep.Idle.P50Ms, rep.Idle.P99Ms)

	// The live generation's own cost of rep.Updates text changes, with no rebuild running.
	inputs0, err := embedInputs(ctx, base)
	if err != nil {
		return nil, err
	}
	if err := publishChanges(ctx, recordsAPI, corpus, 0, rep.Updates, false); err != nil {
		return nil, err
	}
	if err := waitChanged(ctx, pool, rep.Updates); err != nil {
		return nil, err
	}
	inputs1, err := embedInputs(ctx, base)
	if err != nil {
		return nil, err
	}
	rep.BaselineInputs = inputs1 - inputs0
	progress("rebuild: %d text changes with no rebuild cost %d embedding inputs", rep.Updates, rep.BaselineInputs)

	vec, doc, err := changedBackends(cfg)
	if err != nil {
		return nil, err
	}
	rep.Change = fmt.Sprintf("vector backend: hnsw.ef_construction %d → %d (a new generation: every row rebuilt into a table of its own, one index build, a swap)",
		cfg.Backends[vec].HNSW.EfConstruction, changedEfConstruction(cfg.Backends[vec]))
	if rep.CeilingCopySeconds, rep.CeilingIndexSeconds, err = bulkCeiling(ctx, pool, "vec_"+cfg.Backends[vec].Name,
		cfg.Backends[vec].HNSW.M, changedEfConstruction(cfg.Backends[vec])); err != nil {
		return nil, err
	}
	progress("rebuild: ceiling: COPY %.1f s, index build %.1f s", rep.CeilingCopySeconds, rep.CeilingIndexSeconds)

	applied, err := admin.ApplyBackends(ctx, connect.NewRequest(&osav1.ApplyBackendsRequest{Document: doc}))
	if err != nil {
		return nil, fmt.Errorf("applying the change: %w", err)
	}
	var reindexID int64
	for _, c := range applied.Msg.Changes {
		if c.NeedsRebuild {
			reindexID = c.ReindexId
		}
	}
	if reindexID == 0 {
		return nil, fmt.Errorf("applying the change started no rebuild: %v", applied.Msg.Changes)
	}
	progress("rebuild: applied; rebuild %d runs", reindexID)
	rebuilt := make(chan error, 1)
	go func() { rebuilt <- waitReindex(ctx, admin, reindexID) }()
	var (
		during  Latency
		updates = make(chan error, 1)
		wg      sync.WaitGroup
		over    = make(chan struct{})
	)
	wg.Go(func() {
		during = paced(ctx, search, queries, func(int) bool {
			select {
			case <-over:
				return true
			default:
				return false
			}
		})
	})
	go func() { updates <- publishChanges(ctx, recordsAPI, corpus, rep.Updates, rep.Updates, true) }()
	err = <-rebuilt
	close(over)
	wg.Wait()
	if uerr := <-updates; err == nil {
		err = uerr
	}
	if err != nil {
		return nil, err
	}
	rep.During = during
	if err := pool.QueryRow(ctx, `SELECT extract(epoch FROM finished_at - started_at)::float8 FROM reindexes WHERE id = $1`,
		reindexID).Scan(&rep.RebuildSeconds); err != nil {
		return nil, err
	}
	progress("rebuild: swapped in after %.1f s; search during it p50 %.2f ms, p99 %.2f ms", rep.RebuildSeconds, rep.During.P50Ms, rep.During.P99Ms)
	if err := waitChanged(ctx, pool, 2*rep.Updates); err != nil {
		return nil, err
	}
	inputs2, err := embedInputs(ctx, base)
	if err != nil {
		return nil, err
	}
	rep.Inputs = inputs2 - inputs1
	rep.RebuildInputs = rep.Inputs - rep.BaselineInputs - probeInputs
	progress("rebuild: %d embedding inputs during the rebuild, %d of them the new generation's, for %d text changes",
		rep.Inputs, rep.RebuildInputs, rep.Updates)
	rep.Machine.CPUAfter = cpu.sample(ctx, time.Second)
	return rep, nil
}

// probeInputs is the number of texts ApplyBackends embeds to check a changed embedder.
const probeInputs = 1

// paced runs one search every rebuildSearchEvery, cycling through queries, until enough says
// so (given the searches so far), and returns their latencies.
func paced(ctx context.Context, call func(context.Context, string) (int, error), queries []string, enough func(n int) bool) Latency {
	var (
		lat   []time.Duration
		l     Latency
		start = time.Now()
		tick  = time.NewTicker(rebuildSearchEvery)
	)
	defer tick.Stop()
	for i := 0; !enough(i) && ctx.Err() == nil; i++ {
		t0 := time.Now()
		n, err := call(ctx, queries[i%len(queries)])
		lat = append(lat, time.Since(t0))
		switch {
		case err != nil:
			l.Errors++
		case n == 0:
			l.EmptyCount++
		}
		<-tick.C
	}
	l.Requests, l.Clients, l.Mode = len(lat), 1, "vector"
	if len(lat) == 0 {
		return l
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	l.P50Ms, l.P95Ms, l.P99Ms = pct(0.50), pct(0.95), pct(0.99)
	l.QPS = float64(len(lat)) / time.Since(start).Seconds()
	return l
}

// publishChanges publishes new versions of the corpus's records from..from+n, each with its
// title changed, through the API (upserts by the corpus's source ids), rebuildUpdateBatch at a
// time; paced, one batch every 100 ms.
func publishChanges(ctx context.Context, c osav1connect.RecordServiceClient, corpus []map[string]any, from, n int, paced bool) error {
	for start := from; start < from+n; start += rebuildUpdateBatch {
		var req osav1.PublishRecordsRequest
		for i := start; i < min(from+n, start+rebuildUpdateBatch); i++ {
			m := maps.Clone(corpus[i])
			m["title"] = fmt.Sprintf("%s, revised", m["title"])
			s, err := structpb.NewStruct(m)
			if err != nil {
				return err
			}
			req.Records = append(req.Records, &osav1.PublishRecordRequest{Metadata: s, Source: CorpusSource, SourceId: strconv.Itoa(i)})
		}
		if _, err := c.PublishRecords(ctx, connect.NewRequest(&req)); err != nil {
			return fmt.Errorf("publishing changed records: %w", err)
		}
		if paced {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// waitChanged waits until the vector backend has indexed n records at a version after their
// first.
func waitChanged(ctx context.Context, pool *pgxpool.Pool, n int) error {
	for {
		var got int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM index_state WHERE backend = 'vector' AND state = 'indexed' AND indexed_version >= 2`).
			Scan(&got); err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReindex waits until rebuild id has ended, and returns an error unless it succeeded.
func waitReindex(ctx context.Context, admin osav1connect.AdminServiceClient, id int64) error {
	for {
		res, err := admin.GetReindex(ctx, connect.NewRequest(&osav1.GetReindexRequest{Id: id}))
		if err != nil {
			return err
		}
		switch res.Msg.Reindex.GetState() {
		case osav1.ReindexState_REINDEX_STATE_SUCCEEDED:
			return nil
		case osav1.ReindexState_REINDEX_STATE_FAILED:
			return fmt.Errorf("rebuild %d failed: %s", id, res.Msg.Reindex.GetError())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// embedInputs reads the vector backend's embedding inputs from the server's /metrics.
func embedInputs(ctx context.Context, base string) (int64, error) {
	return embedInputsOf(ctx, base, "vector")
}

// embedInputsOf reads backend's embedding inputs (osa_embed_inputs_total) from the server's
// /metrics.
func embedInputsOf(ctx context.Context, base, backend string) (int64, error) {
	body, err := get(ctx, base+"/metrics")
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^osa_embed_inputs_total\{backend="` + regexp.QuoteMeta(backend) + `"\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, nil // no input yet
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return int64(v), err
}

// changedEfConstruction is the ef_construction the benchmark's change gives backend b.
func changedEfConstruction(b config.Backend) int { return b.HNSW.EfConstruction + 32 }

// changedBackends returns the index of cfg's vector backend and the backends file of cfg's
// backends with that one's ef_construction changed (JSON, which the backends file parser reads).
func changedBackends(cfg *config.Config) (int, string, error) {
	vec := slices.IndexFunc(cfg.Backends, func(b config.Backend) bool { return b.Kind == config.BackendKindPgvector })
	if vec < 0 {
		return 0, "", fmt.Errorf("the default configuration has no pgvector backend")
	}
	items := make([]json.RawMessage, len(cfg.Backends))
	for i, b := range cfg.Backends {
		if i == vec {
			h := *b.HNSW
			h.EfConstruction = changedEfConstruction(b)
			b.HNSW = &h
		}
		var err error
		if items[i], err = config.EncodeBackend(b); err != nil {
			return 0, "", err
		}
	}
	doc, err := json.Marshal(map[string]any{"backends": items})
	return vec, string(doc), err
}

// bulkCeiling measures the bulk path on the rows of table: one COPY (binary, from memory, read
// beforehand) into a table of the same columns and primary key, then one HNSW build with m and
// ef, the new generation's settings. The table is dropped afterwards.
func bulkCeiling(ctx context.Context, pool *pgxpool.Pool, table string, m, ef int) (copySeconds, indexSeconds float64, err error) {
	return tableCeiling(ctx, pool, table, "record_id, version, model, embedding, text_hash", "record_id",
		fmt.Sprintf("USING hnsw (embedding vector_cosine_ops) WITH (m = %d, ef_construction = %d)", m, ef))
}

// Markdown renders the report with its targets.
func (r *RebuildReport) Markdown() string {
	var b strings.Builder
	r.Machine.writeHeader(&b, "Rebuild benchmark", r.Command, r.Date, "maintenance_work_mem "+r.Machine.Postgres.MaintenanceWorkMem)
	fmt.Fprintf(&b, "Corpus: %d generated records (`hash` embedder, 384 dims), loaded in %.0f s. Change: %s, applied with "+
		"ApplyBackends to a running server (all roles, one process) while a vector search ran every %v and %d records "+
		"had their text changed through the API, %d per publish every 100 ms.\n\n",
		r.Records, r.LoadSeconds, r.Change, rebuildSearchEvery, r.Updates, rebuildUpdateBatch)
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	share := r.RebuildPerSecond() / r.CeilingPerSecond()
	ratio := r.During.P99Ms / r.Idle.P99Ms
	b.WriteString("## Targets\n\n| target | measured | goal | met |\n|---|---:|---:|:-:|\n")
	fmt.Fprintf(&b, "| rebuild records/s, share of the bulk path (COPY + one index build) | %.0f of %.0f/s: %.0f %% | ≥ %.0f %% | %s |\n",
		r.RebuildPerSecond(), r.CeilingPerSecond(), 100*share, 100*TargetRebuildOfCeiling, yes(share >= TargetRebuildOfCeiling))
	fmt.Fprintf(&b, "| the new generation's embedding inputs, beside the records whose text changed | %d for %d | ≤ %d | %s |\n",
		r.RebuildInputs, r.Updates, r.Updates, yes(r.RebuildInputs <= int64(r.Updates)))
	fmt.Fprintf(&b, "| vector search p99 during the rebuild, beside idle | %.1f ms vs %.1f ms: %.1f× | ≤ %.0f× | %s |\n",
		r.During.P99Ms, r.Idle.P99Ms, ratio, TargetRebuildSearchP99, yes(ratio <= TargetRebuildSearchP99))
	fmt.Fprintf(&b, "| searches during the rebuild that failed or came back empty | %d of %d | 0 | %s |\n",
		r.During.Errors+r.During.EmptyCount, r.During.Requests, yes(r.During.Errors+r.During.EmptyCount == 0))

	b.WriteString("\n## Figures\n\n| | seconds | records/s |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| rebuild: apply → swap (chunks copied with each unchanged row's vector, one index build, the swap) | %.1f | %.0f |\n",
		r.RebuildSeconds, r.RebuildPerSecond())
	fmt.Fprintf(&b, "| ceiling: COPY of the rows | %.1f | |\n| ceiling: one index build, the new settings | %.1f | |\n| ceiling: both | %.1f | %.0f |\n",
		r.CeilingCopySeconds, r.CeilingIndexSeconds, r.CeilingCopySeconds+r.CeilingIndexSeconds, r.CeilingPerSecond())
	fmt.Fprintf(&b, "\nEmbedding inputs (`osa_embed_inputs_total{backend=\"vector\"}`): %d text changes with no rebuild cost %d "+
		"(the live generation's share); from the apply until every change was indexed, %d, of which %d is ApplyBackends' "+
		"probe of the embedder, so the new generation's are %d. "+
		"Every unchanged row's vector was copied from the live table, not embedded again.\n\n",
		r.Updates, r.BaselineInputs, r.Inputs, probeInputs, r.RebuildInputs)
	b.WriteString("| vector search, one every 50 ms | requests | p50 ms | p95 ms | p99 ms | errors | empty |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range []struct {
		name string
		l    Latency
	}{{"idle", r.Idle}, {"during the rebuild", r.During}} {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %d | %d |\n", s.name, s.l.Requests, s.l.P50Ms, s.l.P95Ms, s.l.P99Ms, s.l.Errors, s.l.EmptyCount)
	}
	fmt.Fprintf(&b, "\nAfter the run: %s.\n", r.Machine.CPUAfter)
	return b.String()
}
