package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/jobs"
	"github.com/osa-archive/osa/jobs/admin"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/records"
)

const testDomain = "test.example"

// fastRetry retries after a fixed short delay, so tests reach max attempts in seconds.
type fastRetry struct{ d time.Duration }

func (r fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(r.d) }

// writePath is the whole write path on a fresh database: store, River client, two backends.
type writePath struct {
	cfg    jobs.Config
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
	store  *records.Store
}

type pipelineOpts struct {
	embedder embed.Embedder // of the vector backend; nil = hash
	logger   *slog.Logger   // nil: to t.Log when verbose, else discarded
	mutate   func(*jobs.Config)
	noStart  bool // build the client but leave it stopped
	pool     *pgxpool.Pool
}

func newPipeline(t *testing.T, o pipelineOpts) *writePath {
	t.Helper()
	ctx := context.Background()
	pool := o.pool
	if pool == nil {
		pool = pgtest.New(t)
	}
	emb := o.embedder
	if emb == nil {
		emb = embed.NewHash(embed.HashConfig{})
	}
	vec, err := pgvector.New(pgvector.Config{Name: "vector", Embedder: emb})
	if err != nil {
		t.Fatal(err)
	}
	kw, err := keyword.New(keyword.Config{Name: "keyword"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobs.Config{
		Pipeline: pipeline.Config{
			Backends: []pipeline.BackendConfig{
				{Backend: vec, Weight: 2, MaxAttempts: 12, BatchSize: 128, BatchDelay: 50 * time.Millisecond, BatchTimeout: 30 * time.Second},
				{Backend: kw, Weight: 1, MaxAttempts: 12, BatchSize: 128, BatchDelay: 50 * time.Millisecond, BatchTimeout: 30 * time.Second},
			},
			Domain:        testDomain,
			FanOutWorkers: 64,
			TotalWorkers:  512,
		},
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
		JobTimeout:        time.Minute,
		RescueAfter:       2 * time.Minute,
		RetryPolicy:       fastRetry{d: 100 * time.Millisecond},
		Work:              true,
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	for _, b := range cfg.Pipeline.Backends {
		if err := b.Backend.Ensure(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	logger := o.logger
	switch {
	case logger != nil:
	case testing.Verbose():
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	default:
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	seedCatalog(t, pool, cfg.Pipeline.Backends)
	jc, err := jobs.NewClient(pool, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	client := jc.Client
	p := &writePath{cfg: cfg, client: client, pool: pool,
		store: records.NewStore(pool, pipeline.EnqueueFanOut(client), records.StoreConfig{Domain: testDomain})}
	if !o.noStart {
		p.start(t)
	}
	return p
}

func (p *writePath) start(t *testing.T) {
	t.Helper()
	if err := p.client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.client.StopAndCancel(ctx)
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// meta returns a record's metadata with a title and summary built from i.
func meta(i int, extra string) []byte {
	b, _ := json.Marshal(map[string]any{
		"title":   fmt.Sprintf("Dataset %d about gene expression in tissue %d %s", i, i%17, extra),
		"summary": fmt.Sprintf("Samples of organism %d sequenced with platform %d.", i%5, i%3),
	})
	return b
}

// publish publishes n new records in calls of at most 500.
func (p *writePath) publish(t *testing.T, n, priority int) []records.PublishResult {
	t.Helper()
	var out []records.PublishResult
	for start := 0; start < n; start += 500 {
		var params []records.PublishParams
		for i := start; i < min(n, start+500); i++ {
			params = append(params, records.PublishParams{Metadata: meta(i, "")})
		}
		res, err := p.store.Publish(context.Background(), params, priority)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res...)
	}
	return out
}

// countWhere returns SELECT count(*) FROM <from> WHERE <where>.
func (p *writePath) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := p.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSettled waits until every record is indexed (or deleted) at its current version in backend.
func (p *writePath) waitSettled(t *testing.T, backend string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "backend "+backend+" to settle", func() bool {
		return p.count(t, `SELECT count(*) FROM records r LEFT JOIN index_state s ON s.record_id = r.id AND s.backend = $1
			WHERE s.record_id IS NULL OR s.indexed_version IS DISTINCT FROM r.version
			   OR s.state <> CASE WHEN r.deleted_at IS NULL THEN 'indexed' ELSE 'deleted' END`, backend) == 0
	})
}

// checkBackendRows asserts the backend table holds exactly the live records at their versions.
func (p *writePath) checkBackendRows(t *testing.T, table string) {
	t.Helper()
	if n := p.count(t, `SELECT count(*) FROM records r FULL JOIN `+table+` b ON b.record_id = r.id
		WHERE (r.deleted_at IS NULL) IS DISTINCT FROM (b.record_id IS NOT NULL) OR b.version <> r.version`); n != 0 {
		t.Fatalf("%s: %d records missing, stale or left after delete", table, n)
	}
}

func TestPublishIndexesEveryBackend(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{})
	res := p.publish(t, 1000, records.PriorityInteractive)

	p.waitSettled(t, "vector", 60*time.Second)
	p.waitSettled(t, "keyword", 60*time.Second)
	p.checkBackendRows(t, "vec_vector")
	p.checkBackendRows(t, "kw_keyword")
	if n := p.count(t, `SELECT count(*) FROM vec_vector`); n != 1000 {
		t.Fatalf("vec_vector has %d rows, want 1000", n)
	}

	srn := p.store.SRN(res[42].Record)
	_, sts, err := p.store.IndexStatus(context.Background(), srn, []string{"vector", "keyword"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.State != indexstate.Indexed || st.IndexedVersion != 1 || st.IndexedAt == nil || st.LastError != "" {
			t.Fatalf("status %+v, want indexed at version 1", st)
		}
	}
	// Every job completed (River records completions a moment after Work returns), none retried.
	waitFor(t, 10*time.Second, "every job completed", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE state <> 'completed'`) == 0
	})
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_index_record' AND attempt > 1`); n != 0 {
		t.Fatalf("%d index jobs needed more than one attempt", n)
	}
}

func TestTransactionalEnqueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{noStart: true})
	params := []records.PublishParams{{Metadata: meta(1, "")}, {Metadata: meta(2, "")}}

	tx, err := p.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.store.PublishTx(ctx, tx, params, records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if r, j := p.count(t, `SELECT count(*) FROM records`), p.count(t, `SELECT count(*) FROM river_job`); r != 0 || j != 0 {
		t.Fatalf("after rollback: %d records, %d jobs; want none", r, j)
	}

	tx, err = p.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.store.PublishTx(ctx, tx, params, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// One fan-out job for the transaction, carrying every record's change.
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_fanout'`); n != 1 {
		t.Fatalf("%d fan-out jobs, want 1 for the transaction", n)
	}
	for _, r := range res {
		if n := p.count(t, `SELECT count(*) FROM river_job j, jsonb_array_elements(j.args->'changes') c
			WHERE j.kind = 'osa_fanout' AND j.queue = 'fanout' AND c->>'record_id' = $1 AND (c->>'version')::int = 1 AND j.priority = 1`,
			r.Record.ID.String()); n != 1 {
			t.Fatalf("record %s is in %d fan-out jobs, want 1", r.Record.ID, n)
		}
	}
	if n := p.count(t, `SELECT count(*) FROM records`); n != 2 {
		t.Fatalf("after commit: %d records, want 2", n)
	}
}

func TestUpsertUnchangedEnqueuesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{noStart: true})
	one := func(m []byte) records.PublishResult {
		res, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: m, Source: "geo", SourceID: "GSE1"}}, records.PriorityBulk)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	first := one([]byte(`{"title": "A", "n": 1}`))
	again := one([]byte(`{"n": 1, "title": "A"}`)) // same document, keys reordered
	changed := one([]byte(`{"title": "B", "n": 1}`))
	if first.Unchanged || !again.Unchanged || changed.Unchanged {
		t.Fatalf("unchanged flags %v %v %v, want false true false", first.Unchanged, again.Unchanged, changed.Unchanged)
	}
	if first.Record.ID != again.Record.ID || again.Record.Version != 1 || changed.Record.Version != 2 || changed.Record.ID != first.Record.ID {
		t.Fatalf("versions %d %d %d of ids %s %s %s", first.Record.Version, again.Record.Version, changed.Record.Version,
			first.Record.ID, again.Record.ID, changed.Record.ID)
	}
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_fanout'`); n != 2 {
		t.Fatalf("%d fan-out jobs, want 2 (the unchanged upsert enqueues none)", n)
	}
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE priority = 3`); n != 2 {
		t.Fatalf("%d bulk-priority jobs, want 2", n)
	}
	old, err := p.store.Get(ctx, p.store.SRN(first.Record))
	if err != nil || old.Version != 1 || string(old.Metadata) != `{"n": 1, "title": "A"}` {
		t.Fatalf("GetRecord @1 = %+v (metadata %s), %v", old, old.Metadata, err)
	}
}

func TestUpdateAndDeleteRaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{noStart: true})

	// Jobs for v1, v2 and v3 all queued before any worker runs.
	var ids []records.SRN
	for i := range 50 {
		var last records.PublishResult
		for v := range 3 {
			res, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(i, fmt.Sprint("rev", v)), Source: "s", SourceID: fmt.Sprint(i)}},
				records.PriorityInteractive)
			if err != nil {
				t.Fatal(err)
			}
			last = res[0]
		}
		ids = append(ids, p.store.SRN(last.Record))
	}
	// Delete every fifth after its updates were queued; undelete one of them again.
	for i := 0; i < 50; i += 5 {
		if err := p.store.Delete(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(0, "back"), Source: "s", SourceID: "0"}},
		records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	p.start(t)

	// And more changes while the workers run.
	for i := 1; i < 50; i += 7 {
		if _, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(i, "live"), Source: "s", SourceID: fmt.Sprint(i)}},
			records.PriorityInteractive); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := p.store.Delete(ctx, ids[i]); err != nil {
				t.Fatal(err)
			}
		}
	}

	p.waitSettled(t, "vector", 60*time.Second)
	p.waitSettled(t, "keyword", 60*time.Second)
	p.checkBackendRows(t, "vec_vector")
	p.checkBackendRows(t, "kw_keyword")
	if n := p.count(t, `SELECT count(*) FROM records WHERE deleted_at IS NOT NULL`); n < 9 {
		t.Fatalf("only %d deleted records; the test lost its deletes", n)
	}
	if n := p.count(t, `SELECT count(*) FROM records WHERE version >= 3`); n != 50 {
		t.Fatalf("%d records reached version 3, want 50", n)
	}
}

func TestStopAndCancelMidBatchLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	p := newPipeline(t, pipelineOpts{pool: pool})
	p.publish(t, 2000, records.PriorityBulk)

	waitFor(t, 60*time.Second, "some records indexed", func() bool {
		return p.count(t, `SELECT count(*) FROM vec_vector`) > 0
	})
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.client.StopAndCancel(stopCtx); err != nil {
		t.Fatal(err)
	}
	indexed := p.count(t, `SELECT count(*) FROM vec_vector`)
	if indexed >= 2000 {
		t.Fatalf("all 2000 indexed before the stop: the test did not stop mid-way")
	}
	t.Logf("stopped with %d of 2000 in vec_vector", indexed)

	// A new process on the same database finishes the work.
	q := newPipeline(t, pipelineOpts{pool: pool})
	q.waitSettled(t, "vector", 120*time.Second)
	q.waitSettled(t, "keyword", 60*time.Second)
	q.checkBackendRows(t, "vec_vector")
	q.checkBackendRows(t, "kw_keyword")
	waitFor(t, 10*time.Second, "every job completed", func() bool {
		return q.count(t, `SELECT count(*) FROM river_job WHERE state <> 'completed'`) == 0
	})
}

// brokenEmbedder fails every text for good while broken, as a misconfigured model does (its
// vectors have the wrong length): only an operator can fix it.
type brokenEmbedder struct {
	embed.Embedder
	broken chan struct{} // closed when fixed
}

func (f *brokenEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	select {
	case <-f.broken:
		return f.Embedder.Embed(ctx, texts)
	default:
	}
	errs := make([]error, len(texts))
	for i := range errs {
		errs[i] = indexerr.Permanentf("model returned 3 dims, want 384")
	}
	return make([][]float32, len(texts)), errs
}

// A backend whose embedder fails for good does not hold up the others; its records fail at once
// (no attempt can help), and RetryFailed redrives them once the embedder is fixed. A provider
// that is down is another matter: its jobs wait (see outage_test.go).
func TestFailingBackendIsIsolatedAndRedriven(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	emb := &brokenEmbedder{Embedder: embed.NewHash(embed.HashConfig{}), broken: make(chan struct{})}
	p := newPipeline(t, pipelineOpts{embedder: emb, mutate: func(c *jobs.Config) { c.Pipeline.Backends[0].MaxAttempts = 3 }})
	res := p.publish(t, 300, records.PriorityInteractive)

	// The keyword backend indexes everything while the vector backend fails.
	p.waitSettled(t, "keyword", 30*time.Second)
	waitFor(t, 60*time.Second, "vector records to fail", func() bool {
		return p.count(t, `SELECT count(*) FROM index_state WHERE backend = 'vector' AND state = 'failed'`) == 300
	})
	_, st, err := p.store.IndexStatus(ctx, p.store.SRN(res[0].Record), []string{"vector"})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != indexstate.Failed || st[0].Attempts != 1 || !strings.Contains(st[0].LastError, "3 dims") {
		t.Fatalf("vector status %+v, want failed at the first attempt with the error", st[0])
	}
	// River records the outcome a moment after the batch returns.
	waitFor(t, 10*time.Second, "300 cancelled vector jobs", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'cancelled'`) == 300
	})

	close(emb.broken) // the provider is fixed
	n, err := admin.RetryFailed(ctx, p.client, p.pool, "vector")
	if err != nil || n != 300 {
		t.Fatalf("RetryFailed = %d, %v; want 300", n, err)
	}
	p.waitSettled(t, "vector", 60*time.Second)
	p.checkBackendRows(t, "vec_vector")
}

// slowEmbedder makes every call take d, to give a backlog weight.
type slowEmbedder struct {
	embed.Embedder
	d time.Duration
}

func (s slowEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	time.Sleep(s.d)
	return s.Embedder.Embed(ctx, texts)
}

func TestBulkFloodDoesNotDelayInteractive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{embedder: slowEmbedder{Embedder: embed.NewHash(embed.HashConfig{}), d: 100 * time.Millisecond},
		noStart: true})

	// 10,000 bulk records whose jobs are already fanned out to the vector queue only.
	if _, err := p.pool.Exec(ctx, `INSERT INTO records (id, version, metadata)
		SELECT gen_random_uuid(), 1, jsonb_build_object('title', 'bulk record ' || g) FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	rows, err := p.pool.Query(ctx, `SELECT id FROM records`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	if err != nil {
		t.Fatal(err)
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{
			Args:       pipeline.IndexRecordArgs{Backend: "vector", RecordID: id, Version: 1},
			InsertOpts: &river.InsertOpts{Queue: backends.Queue("vector"), Priority: records.PriorityBulk},
		}
	}
	if _, err := p.client.InsertManyFast(ctx, params); err != nil {
		t.Fatal(err)
	}
	p.start(t)
	waitFor(t, 30*time.Second, "the flood to start", func() bool { return p.count(t, `SELECT count(*) FROM vec_vector`) > 0 })

	res, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(1, "interactive")}}, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Record.ID
	start := time.Now()
	waitFor(t, 10*time.Second, "the interactive record in the keyword backend", func() bool {
		return p.count(t, `SELECT count(*) FROM kw_keyword WHERE record_id = $1`, id) == 1
	})
	keywordAfter := time.Since(start)
	bulkBefore := p.count(t, `SELECT count(*) FROM vec_vector`)
	waitFor(t, 30*time.Second, "the interactive record in the vector backend", func() bool {
		return p.count(t, `SELECT count(*) FROM vec_vector WHERE record_id = $1`, id) == 1
	})
	vectorAfter := time.Since(start)
	// Bulk rows written before the interactive one: those of batches whose transaction began no
	// later than its batch's (indexed_at is the transaction's start). Batches that began after
	// it, and committed before this count ran, were not ahead of it.
	bulkDuring := p.count(t, `SELECT count(*) FROM vec_vector WHERE record_id <> $1
		AND indexed_at <= (SELECT indexed_at FROM vec_vector WHERE record_id = $1)`, id) - bulkBefore
	t.Logf("interactive record indexed: keyword after %v, vector after %v; %d bulk rows written meanwhile", keywordAfter, vectorAfter, bulkDuring)

	// The keyword backend has no backlog at all: the flood must not touch it.
	if keywordAfter > 2*time.Second {
		t.Fatalf("keyword backend took %v for the interactive record", keywordAfter)
	}
	// On the flooded backend the interactive job may wait for the batches already writing
	// (MaxWorkers / batch size of them) and then goes first.
	slots := pipeline.QueueWorkers(p.cfg.Pipeline.TotalWorkers, p.cfg.Pipeline.Backends)[backends.Queue("vector")]
	if limit := slots + p.cfg.Pipeline.Backends[0].BatchSize; bulkDuring > limit {
		t.Fatalf("%d bulk rows were written before the interactive record, want at most %d (the batches in flight)", bulkDuring, limit)
	}
}

func TestQueueStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{noStart: true})
	p.publish(t, 10, records.PriorityInteractive)
	time.Sleep(20 * time.Millisecond)
	known := []string{pipeline.QueueFanOut, "index_vector", "index_keyword"}
	// Other queues (the events queue's periodic prune) may be listed too, so look them up by name.
	byName := func() (map[string]admin.QueueStats, error) {
		stats, err := admin.Stats(ctx, p.pool, known)
		m := map[string]admin.QueueStats{}
		for _, s := range stats {
			m[s.Name] = s
		}
		return m, err
	}
	stats, err := byName()
	if err != nil {
		t.Fatal(err)
	}
	// One fan-out job for the publish of 10 records.
	if fan, kw := stats["fanout"], stats["index_keyword"]; fan.Available != 1 || fan.OldestAvailableAge <= 0 || kw.Available != 0 {
		t.Fatalf("before the workers start: %+v", stats)
	}
	p.start(t)
	p.waitSettled(t, "vector", 30*time.Second)
	p.waitSettled(t, "keyword", 30*time.Second)
	// River records completions asynchronously (its completer), after the records settled; on a
	// loaded machine that took over 10 s once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		stats, err = byName()
		if err == nil && stats["fanout"].Completed == 1 && stats["index_keyword"].Completed == 10 && stats["index_vector"].Completed == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("completions not recorded after 30s: %+v, %v; want 1 fan-out and 10 index jobs per backend completed", stats, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fan := stats["fanout"]; stats["index_vector"].CompletedPerSecond <= 0 || fan.Available != 0 || fan.OldestAvailableAge != 0 {
		t.Fatalf("after indexing: %+v", stats)
	}
}

// GetIndexStatus must not report a record indexed while a newer version or its delete waits
// for the fan-out.
func TestIndexStatusFollowsChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{})
	pub := func(title string) records.PublishResult {
		res, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: []byte(`{"title": "` + title + `"}`), Source: "s", SourceID: "1"}},
			records.PriorityInteractive)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	srn := p.store.SRN(pub("first").Record).Latest()
	p.waitSettled(t, "keyword", 30*time.Second)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.client.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	status := func() (int, indexstate.Status) {
		v, sts, err := p.store.IndexStatus(ctx, srn, []string{"keyword"})
		if err != nil {
			t.Fatal(err)
		}
		return v, sts[0]
	}
	if v, st := status(); v != 1 || st.State != indexstate.Indexed || st.IndexedVersion != 1 {
		t.Fatalf("after indexing: version %d, %+v", v, st)
	}
	pub("second")
	if v, st := status(); v != 2 || st.State != indexstate.Pending || st.Version != 2 || st.IndexedVersion != 1 {
		t.Fatalf("version 2 not fanned out yet: version %d, %+v; want pending at 2 with 1 indexed", v, st)
	}
	if err := p.store.Delete(ctx, srn); err != nil {
		t.Fatal(err)
	}
	if _, st := status(); st.State != indexstate.Pending {
		t.Fatalf("delete not fanned out yet: %+v, want pending", st)
	}
}

// A backend's slow index write holds its records' index_state rows until it commits; the fan-out
// of a newer version of those records must not wait for it, or every other backend waits too.
// Here the vector backend "writes" a record for 8 s (a transaction holding its row, as an index
// batch does); its next version is indexed by the keyword backend meanwhile, and by the vector
// backend once the write ends, with both rows at the version.
func TestSlowBackendWriteDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{})
	res, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(1, "v1"), Source: "s", SourceID: "slow"}}, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Record.ID
	p.waitSettled(t, "vector", 30*time.Second)
	p.waitSettled(t, "keyword", 30*time.Second)

	write, err := p.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer write.Rollback(ctx)
	if err := indexstate.Lock(ctx, write, "vector", []uuid.UUID{id}); err != nil {
		t.Fatal(err)
	}
	held := time.Now()
	if _, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(1, "v2"), Source: "s", SourceID: "slow"}}, records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 6*time.Second, "the keyword backend to index version 2 while the vector backend writes version 1", func() bool {
		return p.count(t, `SELECT count(*) FROM kw_keyword WHERE record_id = $1 AND version = 2`, id) == 1
	})
	t.Logf("keyword indexed version 2 after %v of the vector write", time.Since(held).Round(time.Millisecond))
	if time.Since(held) > 6*time.Second {
		t.Fatal("the test held the vector write too briefly to prove anything")
	}
	time.Sleep(8*time.Second - time.Since(held))
	if err := write.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitSettled(t, "vector", 30*time.Second)
	p.waitSettled(t, "keyword", 30*time.Second)
	p.checkBackendRows(t, "vec_vector")
	p.checkBackendRows(t, "kw_keyword")
}
