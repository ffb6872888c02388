package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgvec "github.com/pgvector/pgvector-go"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/records"
)

// Defaults of the search benchmark.
const (
	SearchRecordsDefault = 100000
	SearchQueriesDefault = 200
	// searchLoadBatch is how many records a load step publishes and writes at once.
	searchLoadBatch = 1000
	// searchK is the k of recall@k and the limit of every measured query.
	searchK = 10
)

// Targets of the search benchmark, on 2 cores with the hash embedder: issue 4's, with keyword and
// hybrid p99 as issue 12 set them once keyword search became BM25 over any of the query's words.
const (
	TargetRecall         = 0.95
	TargetVectorP99      = 25 * time.Millisecond
	TargetKeywordP99     = 40 * time.Millisecond
	TargetHybridP99      = 60 * time.Millisecond
	TargetAPIOverheadP50 = 1.3
	// Issue 16's, at 1 client: a keyword query with a where of 3 conditions and 2 facets; a
	// browse's page 50 by keyset; what highlighting 10 hits adds to keyword's p50; similar
	// records.
	TargetFacetsP99       = 50 * time.Millisecond
	TargetBrowseP99       = 20 * time.Millisecond
	TargetHighlightP50Add = 3 * time.Millisecond
	TargetSimilarP99      = 25 * time.Millisecond
	// Issue 17's: the web interface's search page (facets, highlights) rendered by the server.
	TargetWebSearchP95 = 50 * time.Millisecond
)

// The requests of the search features' series (issue 16).
const (
	benchWhere      = `sample_count >= 10 AND pub_date >= 2015-01-01 AND entry_type = "GSE"`
	browsePage      = 50
	browseVariants  = 20
	similarRecords  = 200
	featuresClients = 1
)

// SearchOpts configures [Search].
type SearchOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; the benchmark runs in a
	// scratch database there, dropped at the end.
	AdminURL string
	// Records is the corpus size. Defaults to 100,000.
	Records int
	// Queries is the number of distinct queries. Defaults to 200.
	Queries int
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// Latency is the latency distribution of one measured series.
type Latency struct {
	Mode       string  `json:"mode"`
	Clients    int     `json:"clients"`
	Requests   int     `json:"requests"`
	P50Ms      float64 `json:"p50_ms"`
	P95Ms      float64 `json:"p95_ms"`
	P99Ms      float64 `json:"p99_ms"`
	QPS        float64 `json:"qps"`
	Errors     int     `json:"errors"`
	EmptyCount int     `json:"empty"`
}

// RecallAtEf is recall@10 at one hnsw.ef_search.
type RecallAtEf struct {
	EfSearch int     `json:"ef_search"`
	Recall   float64 `json:"recall_at_10"`
}

// SearchReport is the outcome of [Search].
type SearchReport struct {
	Command string    `json:"command,omitempty"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	Records int       `json:"records"`
	Queries int       `json:"queries"`
	// LoadSeconds is the time to publish the corpus and build both backends.
	LoadSeconds float64 `json:"load_seconds"`
	// RecallAt10 is the mean recall@10 of the API's vector search against exact search, a hit
	// counting when it is as near as the exact 10th (hash embeddings tie).
	RecallAt10 float64 `json:"recall_at_10"`
	// RecallStrict counts only the exact top 10's own ids.
	RecallStrict float64 `json:"recall_strict"`
	// RecallByEf is recall@10 at several hnsw.ef_search values.
	RecallByEf []RecallAtEf `json:"recall_by_ef_search"`
	// EfSearch is the hnsw.ef_search of the measured vector queries; HNSWM and
	// HNSWEfConstruction are the vector backend's index settings.
	EfSearch           int `json:"ef_search"`
	HNSWM              int `json:"hnsw_m"`
	HNSWEfConstruction int `json:"hnsw_ef_construction"`
	// Series are the API's latencies per mode and client count, and "raw_sql" for the same kNN
	// query sent straight to Postgres; "<mode>_ingesting" while both backends ingest.
	Series []Latency `json:"series"`
	// Ingesting is how the ingest beside the "_ingesting" series went.
	Ingesting *Ingesting `json:"ingesting,omitempty"`
}

// Series returns the series of mode at clients, or nil.
func (r *SearchReport) series(mode string, clients int) *Latency {
	for i := range r.Series {
		if r.Series[i].Mode == mode && r.Series[i].Clients == clients {
			return &r.Series[i]
		}
	}
	return nil
}

// Search measures search on a generated corpus: recall@10 of vector search against exact search,
// and the latency and throughput of every mode at 1 and 8 clients through the API, beside the
// same kNN query as raw SQL.
func Search(ctx context.Context, opts SearchOpts) (*SearchReport, error) {
	if opts.Records == 0 {
		opts.Records = SearchRecordsDefault
	}
	if opts.Queries == 0 {
		opts.Queries = SearchQueriesDefault
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	rep := &SearchReport{Date: time.Now().UTC(), Records: opts.Records, Queries: opts.Queries}
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
	cfg.Node.Role = config.RoleAPI // the corpus is loaded directly; no workers compete for the CPUs
	cfg.Log.Level = "error"
	base, srv, stop, err := startServer(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer stop()

	start := time.Now()
	corpus := Corpus(opts.Records)
	if _, err := loadCorpus(ctx, srv.Pool(), srv.Backends(), slices.Chunk(corpus, searchLoadBatch), len(corpus), progress); err != nil {
		return nil, err
	}
	rep.LoadSeconds = time.Since(start).Seconds()
	progress("search: loaded %d records in %.1f s", opts.Records, rep.LoadSeconds)

	queries := searchQueries(corpus, opts.Queries)
	// The client does not ask for gzip: on loopback, compression only costs CPU on both ends.
	// The series vector_gzip measures a client that does.
	client := osav1connect.NewSearchServiceClient(http.DefaultClient, base,
		connect.WithAcceptCompression("gzip", nil, nil))
	gzipClient := osav1connect.NewSearchServiceClient(http.DefaultClient, base)
	var vec backends.Backend
	for _, b := range srv.Backends() {
		if b.Kind() == backends.KindPgvector {
			vec = b
		}
	}
	rep.EfSearch = max(cfg.Search.EfSearch, 2*searchK)
	for _, b := range cfg.Backends {
		if b.HNSW != nil {
			rep.HNSWM, rep.HNSWEfConstruction = b.HNSW.M, b.HNSW.EfConstruction
		}
	}

	// Recall: the API's vector hits against an exact scan, and how it grows with
	// hnsw.ef_search (search.ef_search), straight from the backend.
	exacts, err := exactHits(ctx, srv.Pool(), vec, queries)
	if err != nil {
		return nil, err
	}
	if rep.RecallAt10, rep.RecallStrict, err = apiRecall(ctx, client, "", queries, exacts, nil); err != nil {
		return nil, err
	}
	progress("search: recall@10 %.3f (ids alone %.3f) over %d queries", rep.RecallAt10, rep.RecallStrict, len(queries))
	rep.RecallByEf, err = recallByEf(ctx, srv.Pool(), vec, queries, exacts, nil, func(e RecallAtEf) {
		progress("search: ef_search %d: recall@10 %.3f", e.EfSearch, e.Recall)
	})
	if err != nil {
		return nil, err
	}

	// Raw SQL: the same kNN statement the vector backend runs, minus the API (embedding
	// included); its rows are read but not decoded.
	emb := embed.NewHash(embed.HashConfig{})
	stmt := vec.(*pgvector.Backend).SearchStatement()
	raw := func(ctx context.Context, q string) (int, error) {
		vecs, errs := emb.Embed(ctx, []string{q})
		if errs[0] != nil {
			return 0, errs[0]
		}
		n := 0
		err := pgx.BeginTxFunc(ctx, srv.Pool(), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL hnsw.ef_search = %d", rep.EfSearch)); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, stmt, pgvec.NewVector(vecs[0]), searchK)
			if err != nil {
				return err
			}
			for rows.Next() {
				n++
			}
			return rows.Err()
		})
		return n, err
	}
	for _, clients := range []int{1, 8} {
		for _, s := range []struct {
			name string
			call func(context.Context, string) (int, error)
		}{
			{"raw_sql", raw},
			{"vector", apiSearch(client, osav1.SearchMode_SEARCH_MODE_VECTOR)},
			{"vector_gzip", apiSearch(gzipClient, osav1.SearchMode_SEARCH_MODE_VECTOR)},
			{"keyword", apiSearch(client, osav1.SearchMode_SEARCH_MODE_KEYWORD)},
			{"hybrid", apiSearch(client, osav1.SearchMode_SEARCH_MODE_HYBRID)},
		} {
			if s.name == "vector_gzip" && clients > 1 {
				continue
			}
			l := measure(ctx, s.call, queries, clients)
			l.Mode = s.name
			rep.Series = append(rep.Series, l)
			progress("search: %-11s %d clients: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, %.0f q/s", s.name, clients, l.P50Ms, l.P95Ms, l.P99Ms, l.QPS)
		}
	}
	features, err := measureFeatures(ctx, client, base, queries, progress, searchFeatureSizes)
	if err != nil {
		return nil, err
	}
	rep.Series = append(rep.Series, features...)
	// Last: the ingest adds records to the corpus the other series search.
	if err := measureWhileIngesting(ctx, rep, cfg, base, client, queries, corpus, progress); err != nil {
		return nil, err
	}
	rep.Machine.CPUAfter = cpu.sample(ctx, time.Second)
	return rep, nil
}

// measureFeatures returns the series of issue 16's search features at one client, each to be
// read beside the series it adds to: keyword_where_facets (a where of 3 conditions, facets
// organism and platform) and keyword_highlight beside keyword; browse_page1 and browse_page50
// (sorted by pub_date, keyset tokens walked beforehand); similar (on the default vector
// backend) beside vector, and similar_<name> on each of the vector backends size.alsoSimilar;
// and web_search_page, the web interface's search page for the query (hybrid, its facets,
// highlights), beside hybrid.
func measureFeatures(ctx context.Context, client osav1connect.SearchServiceClient, base string, queries []string,
	progress func(string, ...any), size featureSizes) ([]Latency, error) {
	limit := ptr(int32(searchK))
	keyword := func(edit func(*osav1.SearchRequest)) func(context.Context, string) (int, error) {
		return func(ctx context.Context, q string) (int, error) {
			req := &osav1.SearchRequest{Query: q, Mode: osav1.SearchMode_SEARCH_MODE_KEYWORD, Limit: limit}
			edit(req)
			res, err := client.Search(ctx, connect.NewRequest(req))
			if err != nil {
				return 0, err
			}
			return len(res.Msg.Hits), nil
		}
	}
	browse := func(min int, token string) *osav1.SearchRequest {
		return &osav1.SearchRequest{Where: fmt.Sprintf("sample_count >= %d", min), Sort: []string{"pub_date:desc"}, Limit: limit, PageToken: token}
	}
	// Each variant's token of page browsePage, walked to; the series' "queries" are "min token".
	var page1, page50 []string
	for v := range size.browseVariants {
		min, token := 2+v, ""
		page1 = append(page1, fmt.Sprintf("%d ", min))
		for range browsePage - 1 {
			res, err := client.Search(ctx, connect.NewRequest(browse(min, token)))
			if err != nil {
				return nil, fmt.Errorf("browsing to page %d: %w", browsePage, err)
			}
			if token = res.Msg.NextPageToken; token == "" {
				return nil, fmt.Errorf("browsing sample_count >= %d ended before page %d", min, browsePage)
			}
		}
		page50 = append(page50, fmt.Sprintf("%d %s", min, token))
	}
	browseCall := func(ctx context.Context, q string) (int, error) {
		minText, token, _ := strings.Cut(q, " ")
		min, _ := strconv.Atoi(minText)
		res, err := client.Search(ctx, connect.NewRequest(browse(min, token)))
		if err != nil {
			return 0, err
		}
		return len(res.Msg.Hits), nil
	}
	// Similar records of the first records of a browse, 100 a page.
	var (
		srns  []string
		token string
	)
	for len(srns) < size.similar {
		res, err := client.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Where: `entry_type = "GSE"`, Limit: ptr(int32(100)), PageToken: token}))
		if err != nil {
			return nil, err
		}
		for _, h := range res.Msg.Hits {
			srns = append(srns, h.Srn)
		}
		if token = res.Msg.NextPageToken; token == "" {
			break
		}
	}
	srns = srns[:min(len(srns), size.similar)]
	similarOn := func(backend string) func(ctx context.Context, srn string) (int, error) {
		return func(ctx context.Context, srn string) (int, error) {
			res, err := client.SimilarRecords(ctx, connect.NewRequest(&osav1.SimilarRecordsRequest{Srn: srn, Limit: limit, Backend: backend}))
			if err != nil {
				return 0, err
			}
			return len(res.Msg.Hits), nil
		}
	}
	webPage := func(ctx context.Context, q string) (int, error) {
		body, err := get(ctx, base+"/?q="+url.QueryEscape(q))
		return strings.Count(string(body), `<li class="hit">`), err
	}
	type series struct {
		name    string
		call    func(context.Context, string) (int, error)
		queries []string
	}
	var out []Latency
	all := []series{
		{"web_search_page", webPage, queries},
		{"keyword_where_facets", keyword(func(r *osav1.SearchRequest) { r.Where, r.Facets = benchWhere, []string{"organism", "platform"} }), queries},
		{"keyword_highlight", keyword(func(r *osav1.SearchRequest) { r.Highlight = true }), queries},
		{"browse_page1", browseCall, page1},
		{"browse_page50", browseCall, page50},
		{"similar", similarOn(""), srns},
	}
	for _, name := range size.alsoSimilar {
		all = append(all, series{"similar_" + name, similarOn(name), srns})
	}
	for _, s := range all {
		l := measure(ctx, s.call, s.queries, featuresClients)
		l.Mode = s.name
		out = append(out, l)
		progress("search: %-20s %d client: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms", s.name, featuresClients, l.P50Ms, l.P95Ms, l.P99Ms)
	}
	return out, nil
}

// featureSizes sizes the series of [measureFeatures].
type featureSizes struct {
	// browseVariants is the number of browses (each with its own sample_count floor) walked to
	// page 50, the "queries" of the browse series.
	browseVariants int
	// similar is the number of records whose similar records are asked for.
	similar int
	// alsoSimilar are vector backends whose similar records are measured besides the default's.
	alsoSimilar []string
}

// searchFeatureSizes are the sizes of the search benchmark's feature series.
var searchFeatureSizes = featureSizes{browseVariants: browseVariants, similar: similarRecords}

func ptr[T any](v T) *T { return &v }

// measure runs every query once per client round (3 rounds after one warm-up round), with
// clients goroutines sharing the work, and returns the latency distribution.
func measure(ctx context.Context, call func(context.Context, string) (int, error), queries []string, clients int) Latency {
	for _, q := range queries { // warm-up: caches and connections
		_, _ = call(ctx, q)
	}
	const rounds = 3
	work := make(chan string)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		empty     int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for q := range work {
				t0 := time.Now()
				n, err := call(ctx, q)
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil {
					errs++
				} else if n == 0 {
					empty++
				}
				mu.Unlock()
			}
		})
	}
	for range rounds {
		for _, q := range queries {
			work <- q
		}
	}
	close(work)
	wg.Wait()
	wall := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		i := min(len(latencies)-1, int(p*float64(len(latencies))))
		return float64(latencies[i].Microseconds()) / 1000
	}
	return Latency{Clients: clients, Requests: len(latencies), P50Ms: pct(0.50), P95Ms: pct(0.95), P99Ms: pct(0.99),
		QPS: float64(len(latencies)) / wall.Seconds(), Errors: errs, EmptyCount: empty}
}

// searchQueries draws n queries of 2–4 distinct content words (no glue words such as "of")
// from the corpus's titles and summaries (fixed seed): queries that look like the records, as
// users' do.
func searchQueries(corpus []map[string]any, n int) []string {
	r := rand.New(rand.NewPCG(CorpusSeed+1, 7))
	out := make([]string, n)
	for i := range out {
		m := corpus[r.IntN(len(corpus))]
		ws := strings.FieldsFunc(strings.ToLower(m["title"].(string)+" "+m["summary"].(string)), func(c rune) bool {
			return c == ' ' || c == '.' || c == ','
		})
		ws = slices.DeleteFunc(ws, isGlue)
		k := queryWordsMin + r.IntN(queryWordsMax-queryWordsMin+1)
		var q []string
		for try := 0; len(q) < k && try < queryWordsTries; try++ {
			if w := ws[r.IntN(len(ws))]; !slices.Contains(q, w) {
				q = append(q, w)
			}
		}
		out[i] = strings.Join(q, " ")
	}
	return out
}

// LoadPhases are the times of the phases of a bulk load, in seconds, each summed over the
// load's chunks of 1,000 records.
type LoadPhases struct {
	// Generate is drawing the records in the harness: no OSA work.
	Generate float64 `json:"generate_seconds"`
	// Records is publishing them through the record store: the rows and their events, 1,000 a
	// transaction.
	Records float64 `json:"records_seconds"`
	// Backends are each backend's phases, in the order of the backends.
	Backends []BackendLoad `json:"backends"`
	// Analyze is the ANALYZE of records at the end.
	Analyze float64 `json:"analyze_seconds"`
}

// BackendLoad are one backend's phases of a bulk load.
type BackendLoad struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Prepare is the shadow backend's Prepare: embedding for pgvector (the text hashes only when
	// another pgvector backend of the same model embedded the chunk first), nothing much for
	// keyword.
	Prepare float64 `json:"prepare_seconds"`
	// Write is the writes into the shadow table, which has no search index yet: one IngestBatch
	// statement per chunk.
	Write float64 `json:"write_seconds"`
	// Index is the one build of the search index on the whole shadow table (HNSW, GIN), and its
	// ANALYZE.
	Index float64 `json:"index_seconds"`
	// Swap is swapping the shadow table in.
	Swap float64 `json:"swap_seconds"`
	// Embedded is the number of texts the backend sent to its embedder
	// (osa_embed_inputs_total), when the caller read it.
	Embedded int64 `json:"embedded,omitempty"`
}

// loadCorpus publishes the records of chunks, total in all (source [CorpusSource], each record's
// index its source id; without fan-out: the benchmark fills the backends itself), and builds
// every backend the way a rebuild does: bulk writes into shadow tables without their search
// index, one index build, a swap. A pgvector backend is offered the vectors the previous one of
// the same model made of the chunk, so the corpus is embedded once. Only one chunk is held at a
// time. It returns the time of each phase.
func loadCorpus(ctx context.Context, pool *pgxpool.Pool, bs []backends.Backend, chunks iter.Seq[[]map[string]any], total int,
	progress func(string, ...any)) (*LoadPhases, error) {
	store := records.NewStore(pool, func(context.Context, pgx.Tx, []records.Change, int) error { return nil }, records.StoreConfig{})
	phases := &LoadPhases{Backends: make([]BackendLoad, len(bs))}
	for i, b := range bs {
		phases.Backends[i] = BackendLoad{Name: b.Name(), Kind: b.Kind()}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return b.CreateShadow(ctx, tx) }); err != nil {
			return nil, err
		}
	}
	every := max(20, total/searchLoadBatch/20) // about 20 progress lines
	start, n, t0 := time.Now(), 0, time.Now()
	for part := range chunks {
		phases.Generate += time.Since(t0).Seconds()
		t0 = time.Now()
		params := make([]records.PublishParams, len(part))
		for i, m := range part {
			b, _ := json.Marshal(m)
			params[i] = records.PublishParams{Metadata: b, Source: CorpusSource, SourceID: strconv.Itoa(n + i)}
		}
		res, err := store.Publish(ctx, params, records.PriorityBulk)
		if err != nil {
			return nil, err
		}
		phases.Records += time.Since(t0).Seconds()
		var embedded []backends.Document // the last pgvector backend's prepared chunk
		for bi, b := range bs {
			ph := &phases.Backends[bi]
			docs := make([]backends.Document, len(part))
			for i, r := range res {
				docs[i] = backends.Document{RecordID: r.Record.ID, Version: r.Record.Version, Metadata: part[i]}
				if b.Kind() == backends.KindPgvector && embedded != nil {
					docs[i].Embedding, docs[i].Model, docs[i].TextHash = embedded[i].Embedding, embedded[i].Model, embedded[i].TextHash
				}
			}
			shadow := b.Shadow()
			t0 = time.Now()
			for i, err := range shadow.Prepare(ctx, docs) {
				if err != nil {
					return nil, fmt.Errorf("record %d: %w", n+i, err)
				}
			}
			ph.Prepare += time.Since(t0).Seconds()
			if b.Kind() == backends.KindPgvector {
				embedded = docs
			}
			t0 = time.Now()
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				for _, err := range shadow.IngestBatch(ctx, tx, docs) {
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			ph.Write += time.Since(t0).Seconds()
		}
		n += len(part)
		if (n/searchLoadBatch)%every == 0 {
			progress("load: %d of %d records (%.0f/s)", n, total, float64(n)/time.Since(start).Seconds())
		}
		t0 = time.Now()
	}
	for i, b := range bs {
		ph := &phases.Backends[i]
		t0 := time.Now()
		if err := b.IndexShadow(ctx, pool); err != nil {
			return nil, err
		}
		ph.Index = time.Since(t0).Seconds()
		t0 = time.Now()
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := b.SwapShadow(ctx, tx, 0); return err }); err != nil {
			return nil, err
		}
		ph.Swap = time.Since(t0).Seconds()
		progress("load: built the %s index in %.1f s", b.Name(), ph.Index)
	}
	// The planner's statistics of the records, as autovacuum would have gathered them on a
	// server that has run for a while (the backends' tables are analyzed by their rebuild).
	t0 = time.Now()
	if _, err := pool.Exec(ctx, "ANALYZE records"); err != nil {
		return nil, err
	}
	phases.Analyze = time.Since(t0).Seconds()
	return phases, nil
}

// Markdown renders the report as a table with the targets.
func (r *SearchReport) Markdown() string {
	var b strings.Builder
	r.Machine.writeHeader(&b, "Search benchmark", r.Command, r.Date)
	fmt.Fprintf(&b, "Corpus: %d generated records (fixed seed; Zipfian domain words, gene symbols, 160 topics), `hash` "+
		"embedder, 384 dims, HNSW m %d, ef_construction %d; loaded and indexed in %.0f s. %d queries of 2–4 content words "+
		"drawn from the corpus; every series runs them 3 times after a warm-up round; limit %d; hnsw.ef_search %d.\n\n",
		r.Records, r.HNSWM, r.HNSWEfConstruction, r.LoadSeconds, r.Queries, searchK, r.EfSearch)

	b.WriteString("## Targets\n\n| target | measured | goal | met |\n|---|---:|---:|:-:|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(&b, "| recall@10 of vector search vs exact search (ties at the 10th count; ids alone %.3f) | %.3f | ≥ %.2f | %s |\n",
		r.RecallStrict, r.RecallAt10, TargetRecall, yes(r.RecallAt10 >= TargetRecall))
	for _, t := range []struct {
		mode string
		goal time.Duration
	}{{"vector", TargetVectorP99}, {"keyword", TargetKeywordP99}, {"hybrid", TargetHybridP99}} {
		for _, c := range []int{1, 8} {
			if s := r.series(t.mode, c); s != nil {
				fmt.Fprintf(&b, "| %s p99, %d client(s) | %.1f ms | ≤ %d ms | %s |\n", t.mode, c, s.P99Ms, t.goal.Milliseconds(),
					yes(s.P99Ms <= float64(t.goal.Milliseconds())))
			}
		}
	}
	for _, c := range []int{1, 8} {
		api, raw := r.series("vector", c), r.series("raw_sql", c)
		if api != nil && raw != nil && raw.P50Ms > 0 {
			ratio := api.P50Ms / raw.P50Ms
			fmt.Fprintf(&b, "| API overhead (vector p50 / raw SQL p50), %d client(s) | %.2f× | ≤ %.1f× | %s |\n", c, ratio,
				TargetAPIOverheadP50, yes(ratio <= TargetAPIOverheadP50))
		}
	}
	for _, t := range []struct {
		label, mode, beside string
		goal                time.Duration
	}{
		{"keyword, where of 3 conditions, 2 facets: p99", "keyword_where_facets", "keyword", TargetFacetsP99},
		{"browse, page 50 by keyset: p99", "browse_page50", "browse_page1", TargetBrowseP99},
		{"similar records: p99", "similar", "vector", TargetSimilarP99},
	} {
		if s, base := r.series(t.mode, featuresClients), r.series(t.beside, featuresClients); s != nil && base != nil {
			fmt.Fprintf(&b, "| %s (beside %s: %.1f ms) | %.1f ms | ≤ %d ms | %s |\n", t.label, t.beside, base.P99Ms, s.P99Ms,
				t.goal.Milliseconds(), yes(s.P99Ms <= float64(t.goal.Milliseconds())))
		}
	}
	if w, h := r.series("web_search_page", featuresClients), r.series("hybrid", featuresClients); w != nil && h != nil {
		fmt.Fprintf(&b, "| web search page (hybrid, facets, highlights), rendered: p95 (beside the hybrid API call: %.1f ms) | %.1f ms | ≤ %d ms | %s |\n",
			h.P95Ms, w.P95Ms, TargetWebSearchP95.Milliseconds(), yes(w.P95Ms <= float64(TargetWebSearchP95.Milliseconds())))
	}
	if h, k := r.series("keyword_highlight", featuresClients), r.series("keyword", featuresClients); h != nil && k != nil {
		add := h.P50Ms - k.P50Ms
		fmt.Fprintf(&b, "| highlighting 10 hits: keyword p50 added (%.2f → %.2f ms) | %.2f ms | ≤ %d ms | %s |\n", k.P50Ms, h.P50Ms, add,
			TargetHighlightP50Add.Milliseconds(), yes(add <= float64(TargetHighlightP50Add.Milliseconds())))
	}
	if in := r.Ingesting; in != nil {
		for _, mode := range []string{"vector", "keyword", "hybrid"} {
			if s, idle := r.series(mode+ingestingSuffix, 1), r.series(mode, 1); s != nil && idle != nil && idle.P99Ms > 0 {
				ratio := s.P99Ms / idle.P99Ms
				fmt.Fprintf(&b, "| %s p99 at 1 client while both backends ingest %d records/s (idle: %.1f ms) | %.1f ms (%.2f×) | ≤ %.0f× idle | %s |\n",
					mode, in.Rate, idle.P99Ms, s.P99Ms, ratio, TargetIngestingP99Ratio, yes(ratio <= TargetIngestingP99Ratio))
			}
		}
	}
	for _, c := range []int{1, 8} {
		if raw := r.series("raw_sql", c); raw != nil && raw.P99Ms > float64(TargetVectorP99.Milliseconds()) {
			fmt.Fprintf(&b, "\nAt %d client(s) the raw statement alone has p99 %.1f ms, beyond the %v target before any API is "+
				"involved: the machine's %d CPUs, not the API, set the latency there; compare the API with raw_sql.\n",
				c, raw.P99Ms, TargetVectorP99, r.Machine.NumCPU)
		}
	}
	b.WriteString("\n## Recall and hnsw.ef_search\n\n| ef_search | recall@10 |\n|---:|---:|\n")
	for _, e := range r.RecallByEf {
		fmt.Fprintf(&b, "| %d | %.3f |\n", e.EfSearch, e.Recall)
	}
	b.WriteString("\n## Latency and throughput\n\n`raw_sql` is the vector backend's own kNN statement (the HNSW walk joined to the records, with their metadata; same ef_search, in the same read-only transaction, the query embedded in the client) sent straight to PostgreSQL; the others go through the API (Connect, binary protobuf, HTTP/1.1 on loopback) from a client that does not ask for gzip, except `vector_gzip`, whose client does (the Connect default; the server compresses responses from `http.compress_min_bytes`, 1 KiB).\n\n")
	b.WriteString("| mode | clients | requests | p50 ms | p95 ms | p99 ms | queries/s | errors | empty |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Series {
		fmt.Fprintf(&b, "| %s | %d | %d | %.2f | %.2f | %.2f | %.0f | %d | %d |\n", s.Mode, s.Clients, s.Requests, s.P50Ms, s.P95Ms, s.P99Ms, s.QPS, s.Errors, s.EmptyCount)
	}
	if in := r.Ingesting; in != nil {
		fmt.Fprintf(&b, "\nThe `_ingesting` series ran while a worker (a second server, role worker, on the same database) indexed records "+
			"published through the API at %d records/s in calls every %v: %d published in the %.0f s the series took; indexed per second:",
			in.Rate, FreshnessTick, in.Published, in.Seconds)
		for _, name := range slices.Sorted(maps.Keys(in.Indexed)) {
			fmt.Fprintf(&b, " %s %.0f", name, in.Indexed[name])
		}
		b.WriteString(".\n")
	}
	fmt.Fprintf(&b, "\nAfter the run: %s.\n", r.Machine.CPUAfter)
	return b.String()
}
