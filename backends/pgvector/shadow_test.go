package pgvector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/backendtest"
)

func TestShadow(t *testing.T) {
	t.Parallel()

	t.Run("Accessors", func(t *testing.T) {
		t.Parallel()
		b := mustNew(t, Config{Name: "vector", Embedder: newTestEmbedder("test-v1", 3)})
		sh, ok := b.Shadow().(*Backend)
		if !ok {
			t.Fatalf("Shadow() is %T", b.Shadow())
		}
		if sh.Name() != "vector" || sh.Kind() != backends.KindPgvector || sh.Model() != "test-v1" || sh.Dims() != 3 ||
			sh.Table() != "vec_vector_shadow" || b.Table() != "vec_vector" {
			t.Fatalf("accessors: %s %s %s %d %s", sh.Name(), sh.Kind(), sh.Model(), sh.Dims(), sh.Table())
		}
		if sh.Shadow() != backends.Backend(sh) || sh.Embedder() != b.Embedder() {
			t.Fatal("the shadow's shadow is not itself, or the shadow has another embedder")
		}
	})

	t.Run("CreateShadowIdempotent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(5, 1))
		bundle.createShadow(t) // a resumed rebuild
		if n := backendtest.Count(t, bundle.pool, "vec_vector_shadow"); n != 5 {
			t.Fatalf("%d rows in the shadow after a second CreateShadow, want 5", n)
		}
		if got := backendtest.Indexes(t, bundle.pool, "vec_vector_shadow"); strings.Join(got, ",") != "vec_vector_shadow_pkey" {
			t.Fatalf("indexes of the shadow: %v, want the primary key only", got)
		}
		if exists, err := bundle.backend.ShadowExists(context.Background(), bundle.pool); err != nil || !exists {
			t.Fatalf("ShadowExists = %v, %v", exists, err)
		}
	})

	t.Run("CreateShadowMismatch", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(1, 1))
		other := mustNew(t, Config{Name: "vector", Embedder: newTestEmbedder("test-v2", 4)})
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			return other.CreateShadow(context.Background(), tx)
		})
		want := `backend "vector": shadow table vec_vector_shadow holds vector(3) from model "test-v1" but the config says 4 dims, ` +
			`model "test-v2": it is left from a rebuild with other settings; drop it (abandon that rebuild) and start the rebuild again`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
	})

	t.Run("DropShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.ingest(t, testDocs(3, 1))
		bundle.createShadow(t)
		for range 2 { // the second time there is nothing to drop
			err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
				return bundle.backend.DropShadow(context.Background(), tx)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if exists, err := bundle.backend.ShadowExists(context.Background(), bundle.pool); err != nil || exists {
			t.Fatalf("ShadowExists = %v, %v after DropShadow", exists, err)
		}
		if n := backendtest.Count(t, bundle.pool, "vec_vector"); n != 3 {
			t.Fatalf("%d rows in the live table, want 3", n)
		}
	})

	t.Run("DualWritesDuringIndexBuild", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 16)
		ctx := context.Background()
		bundle.ensure(t)
		bundle.createShadow(t)
		sh := bundle.backend.Shadow()
		bundle.ingestInto(t, sh, backendtest.Publish(t, bundle.pool, testDocs(100, 1)))

		// The bulk load's last batch is still open: the build waits for it before it starts.
		early := backendtest.Publish(t, bundle.pool, titled(testDocs(10, 1), "early"))
		bundle.prepare(t, sh, early)
		open, err := bundle.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer open.Rollback(ctx)
		if err := errors.Join(sh.IngestBatch(ctx, open, early)...); err != nil {
			t.Fatal(err)
		}
		built := make(chan error, 1)
		go func() { built <- bundle.backend.IndexShadow(ctx, bundle.pool) }()
		backendtest.WaitForIndexBuild(t, bundle.pool, "vec_vector_shadow")

		// A dual write while the build runs: live table first, then the shadow.
		late := backendtest.Publish(t, bundle.pool, titled(testDocs(10, 1), "late"))
		bundle.prepare(t, bundle.backend, late)
		err = pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
				return err
			}
			return errors.Join(append(bundle.backend.IngestBatch(ctx, tx, late), sh.IngestBatch(ctx, tx, late)...)...)
		})
		if err != nil {
			t.Fatalf("dual write during the index build: %v", err)
		}
		select {
		case err := <-built:
			t.Fatalf("IndexShadow returned (%v) before the open batch committed", err)
		default:
		}
		if err := open.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-built:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("IndexShadow did not return")
		}
		if _, valid := backendtest.Index(t, bundle.pool, "vec_vector_shadow_embedding_idx"); !valid {
			t.Fatal("the shadow's index is not valid")
		}
		for _, d := range []backends.Document{early[3], late[7]} {
			if hits := bundle.search(t, sh, d); len(hits) == 0 || hits[0].RecordID != d.RecordID {
				t.Fatalf("shadow search for %s: %+v", d.RecordID, hits)
			}
		}
	})

	t.Run("EnsureOnShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		sh := bundle.backend.Shadow()
		if err := sh.Ensure(context.Background(), bundle.pool); err != nil {
			t.Fatal(err)
		}
		if err := sh.Health(context.Background(), bundle.pool); err != nil {
			t.Fatalf("Health of the shadow = %v", err)
		}
		if got := backendtest.Indexes(t, bundle.pool, "vec_vector_shadow"); len(got) != 1 {
			t.Fatalf("indexes of the shadow: %v, want the primary key only", got)
		}
		if err := bundle.backend.Health(context.Background(), bundle.pool); err == nil {
			t.Fatal("the live table exists after Ensure on the shadow")
		}
	})

	t.Run("IndexShadowInvalidRebuilt", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(20, 1))
		bundle.indexShadow(t)
		before, _ := backendtest.Index(t, bundle.pool, "vec_vector_shadow_embedding_idx")
		// What an interrupted CREATE INDEX CONCURRENTLY leaves behind.
		backendtest.Invalidate(t, bundle.pool, "vec_vector_shadow_embedding_idx")
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.SwapShadow(context.Background(), tx, 0)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "vec_vector_shadow_embedding_idx of shadow table vec_vector_shadow is invalid") {
			t.Fatalf("SwapShadow with an invalid index: %v", err)
		}
		bundle.indexShadow(t)
		after, valid := backendtest.Index(t, bundle.pool, "vec_vector_shadow_embedding_idx")
		if after == before || !valid {
			t.Fatalf("index oid %d → %d, valid %v: want a new valid index", before, after, valid)
		}
	})

	t.Run("IndexShadowWithoutShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		err := bundle.backend.IndexShadow(context.Background(), bundle.pool)
		if err == nil || !strings.Contains(err.Error(), "shadow table vec_vector_shadow does not exist") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("LongName", func(t *testing.T) {
		t.Parallel()
		// vec_<40 chars>_shadow_embedding_idx is 65 bytes: Postgres keeps 63.
		name := strings.Repeat("v", 40)
		bundle := setupNamed(t, name, 3)
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(5, 1))
		bundle.indexShadow(t)
		bundle.indexShadow(t)
		bundle.swap(t)
		oid, valid := backendtest.Index(t, bundle.pool, "vec_"+name+"_embedding_idx")
		bundle.ensure(t)
		if again, _ := backendtest.Index(t, bundle.pool, "vec_"+name+"_embedding_idx"); again != oid || !valid {
			t.Fatalf("index oid %d → %d after Ensure (valid %v)", oid, again, valid)
		}
	})

	t.Run("Rebuild", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 16)
		ctx := context.Background()
		bundle.ensure(t)
		// One connection: the searches after the swap reuse the statements prepared before it.
		searchPool := bundle.poolOf(t, 1)
		old := backendtest.Publish(t, bundle.pool, testDocs(50, 1))
		bundle.ingest(t, old)

		// The rebuild: the 50 records at version 2 with new text, and 450 more.
		docs := testDocs(500, 2)
		titled(docs[:50], "revised")
		for i := range 50 {
			docs[i].RecordID = old[i].RecordID
		}
		backendtest.Publish(t, bundle.pool, docs)
		bundle.createShadow(t)
		bundle.createShadow(t)
		sh := bundle.backend.Shadow()
		bundle.prepare(t, sh, docs)
		for start := 0; start < len(docs); start += 100 {
			err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
				if err := errors.Join(sh.IngestBatch(ctx, tx, docs[start:start+100])...); err != nil {
					return err
				}
				// Searches keep answering from the live table while the shadow is written.
				bundle.checkSearch(t, searchPool, old[start/10], true)
				bundle.checkSearch(t, searchPool, docs[start+60], false)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := backendtest.Count(t, bundle.pool, "vec_vector"); n != 50 {
			t.Fatalf("%d rows in the live table during the rebuild, want 50", n)
		}
		bundle.indexShadow(t)
		oid, valid := backendtest.Index(t, bundle.pool, "vec_vector_shadow_embedding_idx")
		bundle.indexShadow(t)
		if again, _ := backendtest.Index(t, bundle.pool, "vec_vector_shadow_embedding_idx"); again != oid || !valid {
			t.Fatalf("a second IndexShadow rebuilt the index (oid %d → %d, valid %v)", oid, again, valid)
		}
		bundle.checkSearch(t, searchPool, old[7], true)
		// A record published during the rebuild: the indexer writes it to both tables.
		published := backendtest.Publish(t, bundle.pool, titled(testDocs(1, 1), "published"))
		bundle.prepare(t, bundle.backend, published)
		err := pgx.BeginFunc(ctx, searchPool, func(tx pgx.Tx) error {
			return errors.Join(append(bundle.backend.IngestBatch(ctx, tx, published), sh.IngestBatch(ctx, tx, published)...)...)
		})
		if err != nil {
			t.Fatal(err)
		}

		bundle.swap(t)
		bundle.checkSearch(t, searchPool, published[0], true)
		// The indexer's statements prepared before the swap write the new table.
		afterwards := backendtest.Publish(t, bundle.pool, titled(testDocs(1, 1), "afterwards"))
		bundle.prepare(t, bundle.backend, afterwards)
		err = pgx.BeginFunc(ctx, searchPool, func(tx pgx.Tx) error {
			return errors.Join(bundle.backend.IngestBatch(ctx, tx, afterwards)...)
		})
		if err != nil {
			t.Fatal(err)
		}
		bundle.checkSearch(t, searchPool, afterwards[0], true)
		bundle.checkSearch(t, searchPool, docs[7], true)   // revised
		bundle.checkSearch(t, searchPool, docs[321], true) // new
		bundle.checkSearch(t, searchPool, old[7], false)   // version 1's text is gone
		got := bundle.versions(t)
		if len(got) != 502 || got[old[7].RecordID] != 2 {
			t.Fatalf("%d rows after the swap, record %s at version %d; want 502, it at version 2", len(got), old[7].RecordID, got[old[7].RecordID])
		}
		if exists, err := bundle.backend.ShadowExists(ctx, bundle.pool); err != nil || exists {
			t.Fatalf("ShadowExists = %v, %v after the swap", exists, err)
		}
		if got := backendtest.Indexes(t, bundle.pool, "vec_vector"); strings.Join(got, ",") != "vec_vector_embedding_idx,vec_vector_pkey" {
			t.Fatalf("indexes after the swap: %v", got)
		}
		if pkey := backendtest.PrimaryKey(t, bundle.pool, "vec_vector"); pkey != "vec_vector_pkey" {
			t.Fatalf("primary key %q after the swap", pkey)
		}
		if after, _ := backendtest.Index(t, bundle.pool, "vec_vector_embedding_idx"); after != oid {
			t.Fatalf("the live index is oid %d, want the shadow's %d", after, oid)
		}
		bundle.ensure(t)
		if after, _ := backendtest.Index(t, bundle.pool, "vec_vector_embedding_idx"); after != oid {
			t.Fatalf("Ensure after the swap recreated the index (oid %d → %d)", oid, after)
		}
		if n := len(backendtest.Indexes(t, bundle.pool, "vec_vector")); n != 2 {
			t.Fatalf("%d indexes after Ensure, want 2", n)
		}
	})

	t.Run("RetireKeepsTheReplacedGeneration", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.ingest(t, testDocs(3, 1))
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(2, 1))
		bundle.indexShadow(t)
		var retired []string
		err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			var err error
			retired, err = bundle.backend.SwapShadow(ctx, tx, 1)
			return err
		})
		if err != nil || strings.Join(retired, ",") != "vec_vector_retired_1" {
			t.Fatalf("SwapShadow(retireAs 1) = %v, %v; want vec_vector_retired_1", retired, err)
		}
		if n, m := backendtest.Count(t, bundle.pool, "vec_vector"), backendtest.Count(t, bundle.pool, "vec_vector_retired_1"); n != 2 || m != 3 {
			t.Fatalf("rows: %d live, %d retired; want the shadow's 2 live and the old 3 retired", n, m)
		}
		if got := backendtest.Indexes(t, bundle.pool, "vec_vector_retired_1"); strings.Join(got, ",") != "vec_vector_retired_1_embedding_idx,vec_vector_retired_1_pkey" {
			t.Fatalf("indexes of the retired table: %v", got)
		}
		if got := backendtest.Indexes(t, bundle.pool, "vec_vector"); strings.Join(got, ",") != "vec_vector_embedding_idx,vec_vector_pkey" {
			t.Fatalf("indexes of the live table: %v", got)
		}
		// The backend removed: its tables step aside, and a backend of the same name starts afresh.
		err = pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			var err error
			retired, err = bundle.backend.Retire(ctx, tx, 2)
			return err
		})
		if err != nil || strings.Join(retired, ",") != "vec_vector_retired_2" {
			t.Fatalf("Retire(2) = %v, %v; want vec_vector_retired_2", retired, err)
		}
		bundle.ensure(t)
		if n, m := backendtest.Count(t, bundle.pool, "vec_vector"), backendtest.Count(t, bundle.pool, "vec_vector_retired_2"); n != 0 || m != 2 {
			t.Fatalf("rows after Retire and Ensure: %d live, %d retired; want 0 and 2", n, m)
		}
		if err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.Retire(ctx, tx, 2)
			return err
		}); err == nil {
			t.Fatal("Retire to a retired table's name succeeded; want an error (it would overwrite it)")
		}
	})

	t.Run("SwapShadowLockTimeout", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		ctx := context.Background()
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.indexShadow(t)
		// A long transaction reads the live table.
		reader, err := bundle.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Rollback(ctx)
		if _, err := reader.Exec(ctx, "SELECT count(*) FROM vec_vector"); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			setting string
			wait    time.Duration
		}{{"0", 2 * time.Second}, {"200ms", 200 * time.Millisecond}, {"1h", 2 * time.Second}} {
			start := time.Now()
			err = pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+tt.setting+"'"); err != nil {
					return err
				}
				_, err := bundle.backend.SwapShadow(ctx, tx, 0)
				return err
			})
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), "locking vec_vector: ERROR: canceling statement due to lock timeout") {
				t.Fatalf("lock_timeout %s: SwapShadow = %v", tt.setting, err)
			}
			if took < tt.wait || took > tt.wait+time.Second {
				t.Fatalf("lock_timeout %s: SwapShadow waited %v, want about %v", tt.setting, took, tt.wait)
			}
		}
		if exists, err := bundle.backend.ShadowExists(ctx, bundle.pool); err != nil || !exists {
			t.Fatalf("ShadowExists = %v, %v after failed swaps", exists, err)
		}
	})

	t.Run("SwapShadowRestoresLockTimeout", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		ctx := context.Background()
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.indexShadow(t)
		err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1h'"); err != nil {
				return err
			}
			if _, err := bundle.backend.SwapShadow(ctx, tx, 0); err != nil {
				return err
			}
			var setting string
			if err := tx.QueryRow(ctx, "SHOW lock_timeout").Scan(&setting); err != nil || setting != "1h" {
				return fmt.Errorf("lock_timeout %q after SwapShadow, want 1h (%v)", setting, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SwapShadowWithoutIndex", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.createShadow(t)
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.SwapShadow(context.Background(), tx, 0)
			return err
		})
		want := `backend "vector": error swapping vec_vector_shadow for vec_vector: shadow table vec_vector_shadow has no search index vec_vector_shadow_embedding_idx: build it first`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
		if n := len(backendtest.Indexes(t, bundle.pool, "vec_vector")); n != 2 {
			t.Fatal("the live table was changed by a failed swap")
		}
	})

	t.Run("SwapShadowWithoutShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.ingest(t, testDocs(2, 1))
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.SwapShadow(context.Background(), tx, 0)
			return err
		})
		want := `backend "vector": error swapping vec_vector_shadow for vec_vector: shadow table vec_vector_shadow does not exist: there is no rebuild to swap in`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
		if n := backendtest.Count(t, bundle.pool, "vec_vector"); n != 2 {
			t.Fatalf("%d rows in the live table, want 2", n)
		}
	})
}

// BenchmarkRebuild compares the two ways to fill an index of 20,000 records with 384-dim
// clustered vectors: Bulk writes them into the shadow table without an index in batches of
// 1,000 and then builds the HNSW index once (IndexShadow, which includes an ANALYZE); Incremental
// writes them into the HNSW-indexed table in batches of 128 (the index queue's path). Each batch
// is its own transaction. Run with -benchtime=1x: one iteration takes a minute.
func BenchmarkRebuild(b *testing.B) {
	const rows, dims = 20_000, 384
	docs := clusteredDocs(rows, dims)
	for _, mode := range []struct {
		name  string
		batch int
		bulk  bool
	}{{"Bulk", 1000, true}, {"Incremental", 128, false}} {
		b.Run(mode.name, func(b *testing.B) {
			pool := newPool(b, true)
			backend := mustNew(b, Config{Name: "bench", Embedder: newTestEmbedder("test-v1", dims)})
			ctx := context.Background()
			target := backends.Backend(backend)
			if mode.bulk {
				target = backend.Shadow()
			}
			for b.Loop() {
				b.StopTimer()
				if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS vec_bench, vec_bench_shadow"); err != nil {
					b.Fatal(err)
				}
				if err := target.Ensure(ctx, pool); err != nil { // the shadow: without its index
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				for i := 0; i < rows; i += mode.batch {
					err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						return errors.Join(target.IngestBatch(ctx, tx, docs[i:min(i+mode.batch, rows)])...)
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				loaded := time.Since(start)
				if mode.bulk {
					if err := backend.IndexShadow(ctx, pool); err != nil {
						b.Fatal(err)
					}
				}
				b.Logf("%s: %d rows written in %v, index built in %v, %.0f rows/s in all",
					mode.name, rows, loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond),
					rows/time.Since(start).Seconds())
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// clusteredDocs returns n documents with vectors around 32 random centres, as
// BenchmarkIngestBatch writes.
func clusteredDocs(n, dims int) []backends.Document {
	rng := rand.New(rand.NewPCG(1, 2))
	centers := make([][]float32, 32)
	for i := range centers {
		centers[i] = randomVector(rng, dims, nil, 1)
	}
	docs := make([]backends.Document, n)
	for i := range docs {
		c := centers[rng.IntN(len(centers))]
		docs[i] = backends.Document{RecordID: uuid.Must(uuid.NewV7()), Version: 1, Embedding: randomVector(rng, dims, c, 0.3)}
	}
	return docs
}

// titled gives docs the titles "<prefix> record <i>" and returns them.
func titled(docs []backends.Document, prefix string) []backends.Document {
	for i := range docs {
		docs[i].Metadata["title"] = fmt.Sprintf("%s record %d", prefix, i)
	}
	return docs
}

// setupNamed is [setup] for a backend of another name.
func setupNamed(t *testing.T, name string, dims int) *testBundle {
	t.Helper()
	bundle := setup(t, dims)
	bundle.backend = mustNew(t, Config{Name: name, Embedder: bundle.embedder})
	return bundle
}

// checkSearch searches the live table for d's text and fails t unless the best hit is d's
// record at distance 0 (found) or no hit is at distance 0 (not found).
func (tb *testBundle) checkSearch(t *testing.T, pool *pgxpool.Pool, d backends.Document, found bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hits, err := tb.backend.Search(ctx, pool, backends.Query{Text: backends.Text(d.Metadata, backends.TextConfig{}), Limit: 3, EfSearch: 200})
	if err != nil {
		t.Fatal(err)
	}
	exact := len(hits) > 0 && hits[0].Score > 0.9999
	if exact != found || found && hits[0].RecordID != d.RecordID {
		t.Fatalf("search for %q: %+v; want found=%v", backends.Text(d.Metadata, backends.TextConfig{}), hits, found)
	}
}

func (tb *testBundle) createShadow(t *testing.T) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), tb.pool, func(tx pgx.Tx) error {
		return tb.backend.CreateShadow(context.Background(), tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (tb *testBundle) indexShadow(t *testing.T) {
	t.Helper()
	if err := tb.backend.IndexShadow(context.Background(), tb.pool); err != nil {
		t.Fatal(err)
	}
}

// ingestInto prepares docs with be, fails t on any error, and writes them in one transaction.
func (tb *testBundle) ingestInto(t *testing.T, be backends.Backend, docs []backends.Document) {
	t.Helper()
	tb.prepare(t, be, docs)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		return errors.Join(be.IngestBatch(ctx, tx, docs)...)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// poolOf returns another pool on the bundle's database, of at most maxConns connections.
func (tb *testBundle) poolOf(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg := tb.pool.Config()
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func (tb *testBundle) prepare(t *testing.T, be backends.Backend, docs []backends.Document) {
	t.Helper()
	if err := errors.Join(be.Prepare(context.Background(), docs)...); err != nil {
		t.Fatal(err)
	}
}

// search searches be for d's text, with an ef_search large enough to find an exact match among
// the test's random vectors.
func (tb *testBundle) search(t *testing.T, be backends.Backend, d backends.Document) []backends.Hit {
	t.Helper()
	hits, err := be.Search(context.Background(), tb.pool, backends.Query{Text: backends.Text(d.Metadata, backends.TextConfig{}), Limit: 3, EfSearch: 200})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func (tb *testBundle) swap(t *testing.T) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), tb.pool, func(tx pgx.Tx) error {
		_, err := tb.backend.SwapShadow(context.Background(), tx, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
