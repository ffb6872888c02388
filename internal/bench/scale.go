package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgvec "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/indexstate"
)

// Defaults of the scale benchmark (issue 19's).
const (
	ScaleRecordsDefault      = 1000000
	ScaleRecordsSmokeDefault = 1000
	ScaleQueriesDefault      = 200
	ScaleQueriesSmokeDefault = 10
	// ScaleRecordsMin is the fewest records: the browse series walks to page 50 of 10.
	ScaleRecordsMin = 1000
	// ScaleHalfvecBackend is the name of the second vector backend, of hnsw.type halfvec, built
	// from the same records and vectors beside the vector one.
	ScaleHalfvecBackend = "vector_half"
	// scaleQuerySample is how many of the first records the queries are drawn from: a sample of
	// the corpus (its topics are drawn alike for every record) that need not be held whole.
	scaleQuerySample = 20000
)

// Targets of the scale benchmark at 1,000,000 records, at 1 client (issue 19's), beside recall
// ([TargetRecall]).
const (
	TargetScaleVectorP99 = 50 * time.Millisecond
	TargetScaleHybridP99 = 100 * time.Millisecond
	// TargetScaleRSS is the most osa's resident memory may reach.
	TargetScaleRSS = 1 << 30
)

// ScaleOpts configures [Scale].
type ScaleOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; the benchmark runs in a
	// scratch database there, dropped at the end.
	AdminURL string
	// Records is the corpus size. Defaults to 1,000,000.
	Records int
	// Queries is the number of distinct queries of recall and of every latency series.
	// Defaults to 200.
	Queries int
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// Check reports what makes the options unusable, naming the flag to change: [Scale] would fail
// on them after its set-up.
func (o ScaleOpts) Check() error {
	switch {
	case o.Records != 0 && o.Records < ScaleRecordsMin:
		return fmt.Errorf("--records %d is too few: send at least %d (the browse series walks to page %d)", o.Records, ScaleRecordsMin, browsePage)
	case o.Queries < 0:
		return fmt.Errorf("--queries %d is negative: send at least 1", o.Queries)
	}
	return nil
}

// ScaleReport is the outcome of [Scale].
type ScaleReport struct {
	Command string    `json:"command,omitempty"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	Records int       `json:"records"`
	Queries int       `json:"queries"`
	// LoadSeconds is the bulk load's wall time, from the first record drawn to the last index
	// swapped in; Load its phases.
	LoadSeconds float64     `json:"load_seconds"`
	Load        *LoadPhases `json:"load"`
	// IndexStateSeconds is the time to write the index_state rows of every record and backend,
	// as the pipeline would have left them (indexstate.SyncFromTable).
	IndexStateSeconds float64 `json:"index_state_seconds"`
	// Notices are PostgreSQL's notices during the load, once each: pgvector's "hnsw graph no
	// longer fits into maintenance_work_mem after N tuples" says an HNSW build outgrew
	// maintenance_work_mem and went on many times slower.
	Notices []string `json:"notices,omitempty"`
	// EfSearch is search.ef_search, the hnsw.ef_search of the API's vector searches; HNSWM and
	// HNSWEfConstruction the index settings of both vector backends.
	EfSearch           int `json:"ef_search"`
	HNSWM              int `json:"hnsw_m"`
	HNSWEfConstruction int `json:"hnsw_ef_construction"`
	// ExactSeconds is the time to find the exact top 10 of every query, recall's yardstick: one
	// pass over the vector table, then the backend's exact search over each query's nearest.
	ExactSeconds float64 `json:"exact_seconds"`
	// Vectors are the figures of each vector backend: vector, then halfvec.
	Vectors []ScaleVector `json:"vectors"`
	// Series are the latencies at 1 client of the searches that do not depend on the vector
	// type: keyword, and the search features of issue 16 (similar on the vector backend).
	Series []Latency `json:"series"`
	// Relations are the sizes of the tables holding more than 64 KiB, largest first.
	Relations []RelationSize `json:"relations"`
	// PeakRSSBytes is this process's peak resident memory (VmHWM): the in-process server and
	// the harness, an upper bound of osa's; RSSBytes is its resident memory at the end (VmRSS).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	RSSBytes     int64 `json:"rss_bytes"`
	// Seconds is the whole run, set-up and clean-up included.
	Seconds float64 `json:"seconds"`
}

// ScaleVector is the figures of one vector backend of the scale benchmark.
type ScaleVector struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// RecallAt10 is the mean recall@10 of the API's vector search on this backend against the
	// exact search of the vector backend (full precision), a hit counting when its
	// full-precision similarity is as near as the exact 10th; RecallStrict counts the exact top
	// 10's own ids only.
	RecallAt10   float64      `json:"recall_at_10"`
	RecallStrict float64      `json:"recall_strict"`
	RecallByEf   []RecallAtEf `json:"recall_by_ef_search"`
	// Vector, Hybrid and Similar are the API's vector search, hybrid search and similar records
	// on this backend, at 1 client.
	Vector  Latency `json:"vector"`
	Hybrid  Latency `json:"hybrid"`
	Similar Latency `json:"similar"`
	// TableBytes is its table's size (pg_table_size: heap and TOAST), IndexBytes its HNSW
	// index's.
	TableBytes int64 `json:"table_bytes"`
	IndexBytes int64 `json:"index_bytes"`
}

// RelationSize is the size of a table and its indexes.
type RelationSize struct {
	Table string `json:"table"`
	// Rows is the planner's estimate after ANALYZE.
	Rows int64 `json:"rows"`
	// TableBytes is pg_table_size (heap, TOAST, free space and visibility maps); TotalBytes
	// pg_total_relation_size (with the indexes).
	TableBytes int64       `json:"table_bytes"`
	TotalBytes int64       `json:"total_bytes"`
	Indexes    []IndexSize `json:"indexes"`
}

// IndexSize is the size of one index (pg_relation_size).
type IndexSize struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// Scale loads opts.Records generated records through the bulk path (the records, then every
// backend's shadow table, one index build each, a swap), with a second vector backend of
// hnsw.type halfvec built from the same records and vectors beside the vector one, and reports
// the time of each phase, the size per record of every table and index, recall@10 of both
// vector backends against full-precision exact search at several ef_search values and the
// configured one, the latency at 1 client of vector, keyword and hybrid search and of the
// search features, and the process's peak resident memory. The records are drawn and loaded
// 1,000 at a time: memory stays flat whatever the corpus size.
func Scale(ctx context.Context, opts ScaleOpts) (*ScaleReport, error) {
	began := time.Now()
	if opts.Records == 0 {
		opts.Records = ScaleRecordsDefault
	}
	if opts.Queries == 0 {
		opts.Queries = ScaleQueriesDefault
	}
	if err := opts.Check(); err != nil {
		return nil, err
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "scale: "+format+"\n", args...)
		}
	}
	rep := &ScaleReport{Date: time.Now().UTC(), Records: opts.Records, Queries: opts.Queries}
	var err error
	if rep.Machine, err = machineInfo(ctx, opts.AdminURL); err != nil {
		return nil, err
	}
	cpu := newCPUMeter(ctx, opts.AdminURL)
	rep.Machine.LoadBefore = loadAvg()
	rep.Machine.CPUBefore = cpu.sample(ctx, time.Second)
	progress("%d records; maintenance_work_mem %s, max_parallel_maintenance_workers %s, shared_buffers %s",
		opts.Records, rep.Machine.Postgres.MaintenanceWorkMem, rep.Machine.Postgres.MaxParallelMaintenanceWorkers, rep.Machine.Postgres.SharedBuffers)
	db, err := createScratchDB(ctx, opts.AdminURL)
	if err != nil {
		return nil, err
	}
	defer db.drop(ctx)

	cfg := config.Default()
	cfg.Database.URL = db.url
	cfg.Node.Role = config.RoleAPI // the corpus is loaded directly; no workers compete for the CPUs
	cfg.Log.Level = "error"
	half := config.DefaultBackend(ScaleHalfvecBackend, config.BackendKindPgvector)
	half.HNSW.Type = config.HNSWTypeHalfvec
	cfg.Backends = append(cfg.Backends, half)
	base, srv, stop, err := startServer(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer stop()
	pool := srv.Pool()

	// The load, on a pool of its own that keeps PostgreSQL's notices.
	notices := &noticeLog{}
	loadPool, err := scaleLoadPool(ctx, cfg.Database, db.url, notices)
	if err != nil {
		return nil, err
	}
	defer loadPool.Close()
	start := time.Now()
	if rep.Load, err = loadCorpus(ctx, loadPool, srv.Backends(), corpusChunks(opts.Records, searchLoadBatch), opts.Records, progress); err != nil {
		return nil, err
	}
	rep.LoadSeconds = time.Since(start).Seconds()
	rep.Notices = notices.list()
	progress("loaded %d records in %.1f s", opts.Records, rep.LoadSeconds)
	for _, n := range rep.Notices {
		progress("PostgreSQL said: %s", n)
	}
	for i := range rep.Load.Backends {
		ph := &rep.Load.Backends[i]
		if ph.Kind == backends.KindPgvector {
			if ph.Embedded, err = embedInputsOf(ctx, base, ph.Name); err != nil {
				return nil, err
			}
		}
	}
	start = time.Now()
	for _, b := range srv.Backends() { // as the pipeline would have left them
		if err := indexstate.SyncFromTable(ctx, pool, b.Name(), b.Table()); err != nil {
			return nil, err
		}
	}
	rep.IndexStateSeconds = time.Since(start).Seconds()
	progress("index_state of every record and backend written in %.1f s", rep.IndexStateSeconds)
	if rep.Relations, err = relationSizes(ctx, pool); err != nil {
		return nil, err
	}

	var vecs []*pgvector.Backend
	for _, b := range srv.Backends() {
		if v, ok := b.(*pgvector.Backend); ok {
			vecs = append(vecs, v)
		}
	}
	if len(vecs) != 2 || vecs[0].Type() != pgvector.TypeVector || vecs[1].Type() != pgvector.TypeHalfvec {
		return nil, fmt.Errorf("scale benchmark: want a vector and a halfvec backend, got %d vector backends", len(vecs))
	}
	rep.EfSearch = max(cfg.Search.EfSearch, 2*searchK)
	rep.HNSWM, rep.HNSWEfConstruction = half.HNSW.M, half.HNSW.EfConstruction

	queries := searchQueries(Corpus(min(opts.Records, scaleQuerySample)), opts.Queries)
	client := osav1connect.NewSearchServiceClient(http.DefaultClient, base, connect.WithAcceptCompression("gzip", nil, nil))
	start = time.Now()
	exacts, err := exactHitsByScan(ctx, pool, vecs[0], queries)
	if err != nil {
		return nil, err
	}
	rep.ExactSeconds = time.Since(start).Seconds()
	progress("exact top 10 of %d queries in %.1f s", len(queries), rep.ExactSeconds)
	for i, v := range vecs {
		sv := ScaleVector{Name: v.Name(), Type: v.Type()}
		// The default backend is searched without naming it, as users do.
		name := v.Name()
		if i == 0 {
			name = ""
		}
		var rescore rescorer
		if v.Type() != pgvector.TypeVector {
			rescore = fullPrecision(pool, vecs[0])
		}
		if sv.RecallAt10, sv.RecallStrict, err = apiRecall(ctx, client, name, queries, exacts, rescore); err != nil {
			return nil, err
		}
		progress("%s: recall@10 %.3f (ids alone %.3f) at ef_search %d", v.Name(), sv.RecallAt10, sv.RecallStrict, rep.EfSearch)
		sv.RecallByEf, err = recallByEf(ctx, pool, v, queries, exacts, rescore, func(e RecallAtEf) {
			progress("%s: ef_search %d: recall@10 %.3f", v.Name(), e.EfSearch, e.Recall)
		})
		if err != nil {
			return nil, err
		}
		sv.Vector = measure(ctx, apiSearchOn(client, osav1.SearchMode_SEARCH_MODE_VECTOR, name), queries, 1)
		sv.Vector.Mode = "vector"
		sv.Hybrid = measure(ctx, apiSearchOn(client, osav1.SearchMode_SEARCH_MODE_HYBRID, name), queries, 1)
		sv.Hybrid.Mode = "hybrid"
		progress("%s: vector p50 %.2f ms, p99 %.2f ms; hybrid p50 %.2f ms, p99 %.2f ms", v.Name(),
			sv.Vector.P50Ms, sv.Vector.P99Ms, sv.Hybrid.P50Ms, sv.Hybrid.P99Ms)
		if r := relation(rep.Relations, v.Table()); r != nil {
			sv.TableBytes = r.TableBytes
			for _, ix := range r.Indexes {
				if strings.HasSuffix(ix.Name, "_embedding_idx") {
					sv.IndexBytes = ix.Bytes
				}
			}
		}
		rep.Vectors = append(rep.Vectors, sv)
	}
	keyword := measure(ctx, apiSearch(client, osav1.SearchMode_SEARCH_MODE_KEYWORD), queries, 1)
	keyword.Mode = "keyword"
	progress("keyword: p50 %.2f ms, p99 %.2f ms", keyword.P50Ms, keyword.P99Ms)
	rep.Series = append(rep.Series, keyword)
	// As the search benchmark's at the default number of queries, smaller with fewer.
	size := featureSizes{browseVariants: max(2, min(browseVariants, opts.Queries/10)), similar: min(similarRecords, opts.Queries),
		alsoSimilar: []string{ScaleHalfvecBackend}}
	features, err := measureFeatures(ctx, client, base, queries, func(format string, args ...any) {
		progress(strings.TrimPrefix(format, "search: "), args...)
	}, size)
	if err != nil {
		return nil, err
	}
	for _, l := range features {
		switch l.Mode {
		case "similar":
			rep.Vectors[0].Similar = l
		case "similar_" + ScaleHalfvecBackend:
			rep.Vectors[1].Similar = l
		default:
			rep.Series = append(rep.Series, l)
		}
	}
	rep.PeakRSSBytes, rep.RSSBytes = procBytes("VmHWM"), procBytes("VmRSS")
	progress("peak RSS %.0f MiB", float64(rep.PeakRSSBytes)/(1<<20))
	rep.Machine.CPUAfter = cpu.sample(ctx, time.Second)
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// scaleLoadPool returns a pool on url like the server's (db's settings, pgvector's types
// registered) whose connections add PostgreSQL's notices to notices.
func scaleLoadPool(ctx context.Context, db config.Database, url string, notices *noticeLog) (*pgxpool.Pool, error) {
	pc, err := db.PoolConfig(url)
	if err != nil {
		return nil, err
	}
	pc.AfterConnect = pgxvec.RegisterTypes
	pc.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices.add(n) }
	return pgxpool.NewWithConfig(ctx, pc)
}

// noticeLog keeps PostgreSQL's notices, once each. It is safe for concurrent use.
type noticeLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *noticeLog) add(n *pgconn.Notice) {
	text := n.Severity + ": " + n.Message
	if n.Detail != "" {
		text += " (" + n.Detail + ")"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.seen, text) {
		l.seen = append(l.seen, text)
	}
}

func (l *noticeLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

// fullPrecision returns a [rescorer] that reads hits' similarity to the query from the table of
// ref, a backend of type vector holding the same records' vectors.
func fullPrecision(pool *pgxpool.Pool, ref *pgvector.Backend) rescorer {
	sql := "SELECT record_id, 1 - (embedding <=> $1::vector) FROM " + pgx.Identifier{ref.Table()}.Sanitize() +
		" WHERE record_id = ANY($2)"
	return func(ctx context.Context, query string, ids []uuid.UUID) (map[uuid.UUID]float64, error) {
		vecs, errs := ref.Embedder().Embed(ctx, []string{query})
		if errs[0] != nil {
			return nil, errs[0]
		}
		rows, err := pool.Query(ctx, sql, pgvec.NewVector(vecs[0]), ids)
		if err != nil {
			return nil, err
		}
		out := map[uuid.UUID]float64{}
		var (
			id    uuid.UUID
			score float64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &score}, func() error { out[id] = score; return nil })
		return out, err
	}
}

// relationSizesSQL lists the tables of the current schema of more than 64 KiB with their
// indexes, largest first.
const relationSizesSQL = `
SELECT c.relname::text, greatest(c.reltuples, 0)::bigint, pg_table_size(c.oid), pg_total_relation_size(c.oid),
       coalesce(array_agg(i.relname::text ORDER BY i.relname) FILTER (WHERE i.oid IS NOT NULL), '{}'),
       coalesce(array_agg(pg_relation_size(i.oid) ORDER BY i.relname) FILTER (WHERE i.oid IS NOT NULL), '{}')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index x ON x.indrelid = c.oid
LEFT JOIN pg_class i ON i.oid = x.indexrelid
WHERE n.nspname = current_schema() AND c.relkind = 'r' AND pg_total_relation_size(c.oid) > 65536
GROUP BY c.oid, c.relname, c.reltuples
ORDER BY pg_total_relation_size(c.oid) DESC`

// relationSizes analyzes the database (row estimates) and returns its tables' sizes.
func relationSizes(ctx context.Context, pool *pgxpool.Pool) ([]RelationSize, error) {
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, relationSizesSQL)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RelationSize, error) {
		var (
			r     RelationSize
			names []string
			sizes []int64
		)
		if err := row.Scan(&r.Table, &r.Rows, &r.TableBytes, &r.TotalBytes, &names, &sizes); err != nil {
			return r, err
		}
		for i := range names {
			r.Indexes = append(r.Indexes, IndexSize{Name: names[i], Bytes: sizes[i]})
		}
		return r, nil
	})
}

// relation returns the size of table in rs, or nil.
func relation(rs []RelationSize, table string) *RelationSize {
	for i := range rs {
		if rs[i].Table == table {
			return &rs[i]
		}
	}
	return nil
}

// procBytes returns a size field of /proc/self/status (VmRSS, VmHWM) in bytes, 0 without it.
func procBytes(field string) int64 {
	var kb int64
	if _, err := fmt.Sscanf(procField("/proc/self/status", field), "%d kB", &kb); err != nil {
		return 0
	}
	return kb << 10
}
