package keyword

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/backendtest"
)

func TestShadow(t *testing.T) {
	t.Parallel()

	t.Run("Accessors", func(t *testing.T) {
		t.Parallel()
		b, err := New(Config{Name: "keyword", Language: "german"})
		if err != nil {
			t.Fatal(err)
		}
		sh, ok := b.Shadow().(*Backend)
		if !ok {
			t.Fatalf("Shadow() is %T", b.Shadow())
		}
		if sh.Name() != "keyword" || sh.Kind() != backends.KindKeyword || sh.Model() != "" || sh.Dims() != 0 ||
			sh.Language() != "german" || sh.Table() != "kw_keyword_shadow" || b.Table() != "kw_keyword" {
			t.Fatalf("accessors: %s %s %q %d %s %s", sh.Name(), sh.Kind(), sh.Model(), sh.Dims(), sh.Language(), sh.Table())
		}
		if sh.Shadow() != backends.Backend(sh) {
			t.Fatal("the shadow's shadow is not itself")
		}
	})

	t.Run("CreateShadowForeignTable", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		if _, err := bundle.pool.Exec(context.Background(), "CREATE TABLE kw_keyword_shadow (record_id uuid PRIMARY KEY, document text)"); err != nil {
			t.Fatal(err)
		}
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			return bundle.backend.CreateShadow(context.Background(), tx)
		})
		want := `backend "keyword": error creating shadow table kw_keyword_shadow: its document column is text, not tsvector: is it another program's table?`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
	})

	t.Run("CreateShadowIdempotent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(5, 1))
		bundle.createShadow(t) // a resumed rebuild
		if n := backendtest.Count(t, bundle.pool, "kw_keyword_shadow"); n != 5 {
			t.Fatalf("%d rows in the shadow after a second CreateShadow, want 5", n)
		}
		if got := backendtest.Indexes(t, bundle.pool, "kw_keyword_shadow"); strings.Join(got, ",") != "kw_keyword_shadow_pkey" {
			t.Fatalf("indexes of the shadow: %v, want the primary key only", got)
		}
		if exists, err := bundle.backend.ShadowExists(context.Background(), bundle.pool); err != nil || !exists {
			t.Fatalf("ShadowExists = %v, %v", exists, err)
		}
	})

	t.Run("DropShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
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
		if n := backendtest.Count(t, bundle.pool, "kw_keyword"); n != 3 {
			t.Fatalf("%d rows in the live table, want 3", n)
		}
	})

	t.Run("DualWritesDuringIndexBuild", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		ctx := context.Background()
		bundle.ensure(t)
		bundle.createShadow(t)
		sh := bundle.backend.Shadow()
		bundle.ingestInto(t, sh, backendtest.Publish(t, bundle.pool, testDocs(100, 1)))

		// The bulk load's last batch is still open: the build waits for it before it starts.
		early := backendtest.Publish(t, bundle.pool, titled(testDocs(10, 1), "early"))
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
		backendtest.WaitForIndexBuild(t, bundle.pool, "kw_keyword_shadow")

		// A dual write while the build runs: live table first, then the shadow.
		late := backendtest.Publish(t, bundle.pool, titled(testDocs(10, 1), "late"))
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
		if _, valid := backendtest.Index(t, bundle.pool, "kw_keyword_shadow_document_idx"); !valid {
			t.Fatal("the shadow's index is not valid")
		}
		for _, q := range []string{"early", "late"} {
			if n := len(bundle.search(t, bundle.pool, sh, q)); n != 10 {
				t.Fatalf("shadow search for %q: %d hits, want 10", q, n)
			}
		}
	})

	t.Run("EnsureOnShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		sh := bundle.backend.Shadow()
		if err := sh.Ensure(context.Background(), bundle.pool); err != nil {
			t.Fatal(err)
		}
		if err := sh.Health(context.Background(), bundle.pool); err != nil {
			t.Fatalf("Health of the shadow = %v", err)
		}
		if got := backendtest.Indexes(t, bundle.pool, "kw_keyword_shadow"); len(got) != 1 {
			t.Fatalf("indexes of the shadow: %v, want the primary key only", got)
		}
		if err := bundle.backend.Health(context.Background(), bundle.pool); err == nil {
			t.Fatal("the live table exists after Ensure on the shadow")
		}
	})

	t.Run("IndexShadowInvalidRebuilt", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), testDocs(20, 1))
		bundle.indexShadow(t)
		before, _ := backendtest.Index(t, bundle.pool, "kw_keyword_shadow_document_idx")
		// What an interrupted CREATE INDEX CONCURRENTLY leaves behind.
		backendtest.Invalidate(t, bundle.pool, "kw_keyword_shadow_document_idx")
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.SwapShadow(context.Background(), tx, 0)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "kw_keyword_shadow_document_idx of shadow table kw_keyword_shadow is invalid") {
			t.Fatalf("SwapShadow with an invalid index: %v", err)
		}
		bundle.indexShadow(t)
		after, valid := backendtest.Index(t, bundle.pool, "kw_keyword_shadow_document_idx")
		if after == before || !valid {
			t.Fatalf("index oid %d → %d, valid %v: want a new valid index", before, after, valid)
		}
	})

	t.Run("IndexShadowWithoutShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		err := bundle.backend.IndexShadow(context.Background(), bundle.pool)
		if err == nil || !strings.Contains(err.Error(), "shadow table kw_keyword_shadow does not exist") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("LongName", func(t *testing.T) {
		t.Parallel()
		// kw_<40 chars>_shadow_document_idx is 63 bytes, the most Postgres keeps.
		name := strings.Repeat("k", 40)
		bundle := setup(t, Config{})
		b, err := New(Config{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		bundle.backend = b
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.ingestInto(t, b.Shadow(), testDocs(5, 1))
		bundle.indexShadow(t)
		bundle.indexShadow(t)
		bundle.swap(t)
		oid, valid := backendtest.Index(t, bundle.pool, "kw_"+name+"_document_idx")
		bundle.ensure(t)
		if again, _ := backendtest.Index(t, bundle.pool, "kw_"+name+"_document_idx"); again != oid || !valid {
			t.Fatalf("index oid %d → %d after Ensure (valid %v)", oid, again, valid)
		}
	})

	t.Run("Rebuild", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		ctx := context.Background()
		bundle.ensure(t)
		// One connection: the searches after the swap reuse the statements prepared before it.
		searchPool := bundle.poolOf(t, 1)
		old := backendtest.Publish(t, bundle.pool, titled(testDocs(50, 1), "apple"))
		bundle.ingest(t, old)

		// The rebuild: the 50 records at version 2 with new text, and 450 more.
		docs := titled(testDocs(500, 2), "banana")
		for i := range 50 {
			docs[i].RecordID = old[i].RecordID
		}
		backendtest.Publish(t, bundle.pool, docs)
		bundle.createShadow(t)
		bundle.createShadow(t)
		sh := bundle.backend.Shadow()
		for start := 0; start < len(docs); start += 100 {
			err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
				if err := errors.Join(sh.IngestBatch(ctx, tx, docs[start:start+100])...); err != nil {
					return err
				}
				// Searches keep answering from the live table while the shadow is written.
				bundle.checkSearch(t, searchPool, "apple", 50)
				bundle.checkSearch(t, searchPool, "banana", 0)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := backendtest.Count(t, bundle.pool, "kw_keyword"); n != 50 {
			t.Fatalf("%d rows in the live table during the rebuild, want 50", n)
		}
		bundle.indexShadow(t)
		oid, valid := backendtest.Index(t, bundle.pool, "kw_keyword_shadow_document_idx")
		bundle.indexShadow(t)
		if again, _ := backendtest.Index(t, bundle.pool, "kw_keyword_shadow_document_idx"); again != oid || !valid {
			t.Fatalf("a second IndexShadow rebuilt the index (oid %d → %d, valid %v)", oid, again, valid)
		}
		// A record published during the rebuild: the indexer writes it to both tables.
		published := backendtest.Publish(t, bundle.pool, titled(testDocs(1, 1), "cherry"))
		err := pgx.BeginFunc(ctx, searchPool, func(tx pgx.Tx) error {
			return errors.Join(append(bundle.backend.IngestBatch(ctx, tx, published), sh.IngestBatch(ctx, tx, published)...)...)
		})
		if err != nil {
			t.Fatal(err)
		}

		bundle.swap(t)
		bundle.checkSearch(t, searchPool, "apple", 0)
		bundle.checkSearch(t, searchPool, "banana", 500)
		bundle.checkSearch(t, searchPool, "cherry", 1)
		// The indexer's statements prepared before the swap write the new table.
		afterwards := backendtest.Publish(t, bundle.pool, titled(testDocs(1, 1), "damson"))
		err = pgx.BeginFunc(ctx, searchPool, func(tx pgx.Tx) error {
			return errors.Join(bundle.backend.IngestBatch(ctx, tx, afterwards)...)
		})
		if err != nil {
			t.Fatal(err)
		}
		bundle.checkSearch(t, searchPool, "damson", 1)
		if got := bundle.versions(t); len(got) != 502 || got[old[7].RecordID] != 2 {
			t.Fatalf("%d rows after the swap, record %s at version %d; want 502, it at version 2", len(got), old[7].RecordID, got[old[7].RecordID])
		}
		if exists, err := bundle.backend.ShadowExists(ctx, bundle.pool); err != nil || exists {
			t.Fatalf("ShadowExists = %v, %v after the swap", exists, err)
		}
		if got := backendtest.Indexes(t, bundle.pool, "kw_keyword"); strings.Join(got, ",") != "kw_keyword_document_idx,kw_keyword_pkey" {
			t.Fatalf("indexes after the swap: %v", got)
		}
		if pkey := backendtest.PrimaryKey(t, bundle.pool, "kw_keyword"); pkey != "kw_keyword_pkey" {
			t.Fatalf("primary key %q after the swap", pkey)
		}
		if after, _ := backendtest.Index(t, bundle.pool, "kw_keyword_document_idx"); after != oid {
			t.Fatalf("the live index is oid %d, want the shadow's %d", after, oid)
		}
		bundle.ensure(t)
		if after, _ := backendtest.Index(t, bundle.pool, "kw_keyword_document_idx"); after != oid {
			t.Fatalf("Ensure after the swap recreated the index (oid %d → %d)", oid, after)
		}
		if n := len(backendtest.Indexes(t, bundle.pool, "kw_keyword")); n != 2 {
			t.Fatalf("%d indexes after Ensure, want 2", n)
		}
	})

	t.Run("RetireKeepsTheReplacedGeneration", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		bundle := setup(t, Config{})
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
		if err != nil || strings.Join(retired, ",") != "kw_keyword_retired_1,kws_keyword_retired_1" {
			t.Fatalf("SwapShadow(retireAs 1) = %v, %v; want kw_keyword_retired_1,kws_keyword_retired_1", retired, err)
		}
		if n, m := backendtest.Count(t, bundle.pool, "kw_keyword"), backendtest.Count(t, bundle.pool, "kw_keyword_retired_1"); n != 2 || m != 3 {
			t.Fatalf("rows: %d live, %d retired; want the shadow's 2 live and the old 3 retired", n, m)
		}
		if got := backendtest.Indexes(t, bundle.pool, "kw_keyword_retired_1"); strings.Join(got, ",") != "kw_keyword_retired_1_document_idx,kw_keyword_retired_1_pkey" {
			t.Fatalf("indexes of the retired table: %v", got)
		}
		if got := backendtest.Indexes(t, bundle.pool, "kw_keyword"); strings.Join(got, ",") != "kw_keyword_document_idx,kw_keyword_pkey" {
			t.Fatalf("indexes of the live table: %v", got)
		}
		// The backend removed: its tables step aside, and a backend of the same name starts afresh.
		err = pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			var err error
			retired, err = bundle.backend.Retire(ctx, tx, 2)
			return err
		})
		if err != nil || strings.Join(retired, ",") != "kw_keyword_retired_2,kws_keyword_retired_2" {
			t.Fatalf("Retire(2) = %v, %v; want kw_keyword_retired_2,kws_keyword_retired_2", retired, err)
		}
		bundle.ensure(t)
		if n, m := backendtest.Count(t, bundle.pool, "kw_keyword"), backendtest.Count(t, bundle.pool, "kw_keyword_retired_2"); n != 0 || m != 2 {
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
		bundle := setup(t, Config{})
		ctx := context.Background()
		bundle.ensure(t)
		bundle.createShadow(t)
		bundle.indexShadow(t)
		// A long transaction writes the shadow.
		writer, err := bundle.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Rollback(ctx)
		if err := errors.Join(bundle.backend.Shadow().IngestBatch(ctx, writer, testDocs(1, 1))...); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '200ms'"); err != nil {
				return err
			}
			_, err := bundle.backend.SwapShadow(ctx, tx, 0)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "locking kw_keyword_shadow: ERROR: canceling statement due to lock timeout") {
			t.Fatalf("SwapShadow = %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("SwapShadow waited %v, want about 200ms", took)
		}
		// The failed swap's lock on the live table went with its transaction.
		bundle.checkSearch(t, bundle.pool, "record", 0)
	})

	t.Run("SwapShadowWithoutIndex", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		bundle.createShadow(t)
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.SwapShadow(context.Background(), tx, 0)
			return err
		})
		want := `backend "keyword": error swapping kw_keyword_shadow for kw_keyword: shadow table kw_keyword_shadow has no search index kw_keyword_shadow_document_idx: build it first`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
	})

	t.Run("SwapShadowWithoutShadow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		bundle.ingest(t, testDocs(2, 1))
		err := pgx.BeginFunc(context.Background(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.backend.SwapShadow(context.Background(), tx, 0)
			return err
		})
		want := `backend "keyword": error swapping kw_keyword_shadow for kw_keyword: shadow table kw_keyword_shadow does not exist: there is no rebuild to swap in`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
		if n := backendtest.Count(t, bundle.pool, "kw_keyword"); n != 2 {
			t.Fatalf("%d rows in the live table, want 2", n)
		}
	})
}

// titled gives docs the titles "<prefix> record <i>" and returns them.
func titled(docs []backends.Document, prefix string) []backends.Document {
	for i := range docs {
		docs[i].Metadata["title"] = fmt.Sprintf("%s record %d", prefix, i)
	}
	return docs
}

// checkSearch searches the live table for query and fails t unless it has want hits.
func (tb *testBundle) checkSearch(t *testing.T, pool *pgxpool.Pool, query string, want int) {
	t.Helper()
	if n := len(tb.search(t, pool, tb.backend, query)); n != want {
		t.Fatalf("search for %q: %d hits, want %d", query, n, want)
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

// ingestInto writes docs with be in one transaction and fails t on any error.
func (tb *testBundle) ingestInto(t *testing.T, be backends.Backend, docs []backends.Document) {
	t.Helper()
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

// search searches be on pool for query, with a 5 s timeout (a search blocked by a lock fails).
func (tb *testBundle) search(t *testing.T, pool *pgxpool.Pool, be backends.Backend, query string) []backends.Hit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hits, err := be.Search(ctx, pool, backends.Query{Text: query, Limit: 1000})
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
