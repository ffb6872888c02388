package pgvector

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/internal/pgtest"
)

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		b, err := New(Config{Name: "vector", Embedder: newTestEmbedder("m", 3)})
		if err != nil {
			t.Fatal(err)
		}
		if b.cfg.M != MDefault || b.cfg.EfConstruction != EfConstructionDefault || b.cfg.Text.MaxChars != backends.TextMaxCharsDefault {
			t.Fatalf("defaults not applied: %+v", b.cfg)
		}
		if b.Name() != "vector" || b.Kind() != backends.KindPgvector || b.Model() != "m" || b.Dims() != 3 || b.Table() != "vec_vector" {
			t.Fatalf("accessors: %s %s %s %d %s", b.Name(), b.Kind(), b.Model(), b.Dims(), b.Table())
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			cfg  Config
			want string
		}{
			{Config{Name: "Vector", Embedder: newTestEmbedder("m", 3)}, `name "Vector" is not valid`},
			{Config{Name: "1v", Embedder: newTestEmbedder("m", 3)}, `name "1v" is not valid`},
			{Config{Name: strings.Repeat("v", 41), Embedder: newTestEmbedder("m", 3)}, "is not valid"},
			{Config{Name: "v_shadow", Embedder: newTestEmbedder("m", 3)}, `name "v_shadow" is reserved`},
			{Config{Name: "v_shadow_pkey", Embedder: newTestEmbedder("m", 3)}, `name "v_shadow_pkey" is reserved`},
			{Config{Name: "v"}, "an embedder is required"},
			{Config{Name: "v", Embedder: newTestEmbedder("m", 2001)}, "dims 2001 is out of range"},
			{Config{Name: "v", Embedder: newTestEmbedder("", 3)}, "no model name"},
			{Config{Name: "v", Embedder: newTestEmbedder("m", 3), M: 1}, "hnsw.m 1"},
			{Config{Name: "v", Embedder: newTestEmbedder("m", 3), M: 80}, "hnsw.ef_construction 128"},
			{Config{Name: "v", Embedder: newTestEmbedder("m", 3), Text: backends.TextConfig{MaxChars: -1}}, "text.max_chars"},
		} {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%+v) = %v, want error containing %q", tt.cfg, err, tt.want)
			}
		}
	})
}

func TestEnsure(t *testing.T) {
	t.Parallel()

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				b, err := New(Config{Name: "vector", Embedder: newTestEmbedder("test-v1", 3)})
				if err == nil {
					err = b.Ensure(context.Background(), bundle.pool)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("CreatesHNSWIndex", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		var def string
		err := bundle.pool.QueryRow(context.Background(),
			`SELECT indexdef FROM pg_indexes WHERE tablename = 'vec_vector' AND indexname = 'vec_vector_embedding_idx'`).Scan(&def)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"hnsw", "vector_cosine_ops", "m='16'", "ef_construction='128'"} {
			if !strings.Contains(def, want) {
				t.Errorf("index %q lacks %q", def, want)
			}
		}
	})

	t.Run("DimsMismatch", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.ingest(t, testDocs(1, 1))
		other := mustNew(t, Config{Name: "vector", Embedder: newTestEmbedder("hash-v1", 4)})
		err := other.Ensure(context.Background(), bundle.pool)
		want := `backend "vector": table vec_vector holds vector(3) from model "test-v1" but the config says 4 dims, model "hash-v1": ` +
			`restore the old embedder and hnsw.type settings, then change them with osa backends apply ` +
			`(which builds a new generation from the records beside the live one and swaps it in)`
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
	})

	t.Run("DimsMismatchEmptyTable", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		other := mustNew(t, Config{Name: "vector", Embedder: newTestEmbedder("test-v1", 4)})
		err := other.Ensure(context.Background(), bundle.pool)
		if err == nil || !strings.Contains(err.Error(), "holds vector(3) (no rows yet) but the config says 4 dims") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.ingest(t, testDocs(5, 1))
		bundle.ensure(t)
		if n := len(bundle.versions(t)); n != 5 {
			t.Fatalf("%d rows after a second Ensure, want 5", n)
		}
	})

	t.Run("ModelMismatch", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		bundle.ingest(t, testDocs(1, 1))
		other := mustNew(t, Config{Name: "vector", Embedder: newTestEmbedder("other-model", 3)})
		err := other.Ensure(context.Background(), bundle.pool)
		if err == nil || !strings.Contains(err.Error(), `holds vector(3) from model "test-v1" but the config says 3 dims, model "other-model"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()

	bundle := setup(t, 3)
	if err := bundle.backend.Health(context.Background(), bundle.pool); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Health before Ensure = %v", err)
	}
	bundle.ensure(t)
	if err := bundle.backend.Health(context.Background(), bundle.pool); err != nil {
		t.Fatalf("Health = %v", err)
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()

	t.Run("EmbedderErrorForOneDoc", func(t *testing.T) {
		t.Parallel()
		bundle := setupNoDB(t, 3)
		docs := testDocs(5, 1)
		docs[2].Metadata["title"] = "please FAIL"
		errs := bundle.backend.Prepare(context.Background(), docs)
		for i, err := range errs {
			if (err != nil) != (i == 2) {
				t.Fatalf("errs[%d] = %v", i, err)
			}
		}
		if !strings.Contains(errs[2].Error(), "test embedder refuses") || indexerr.IsPermanent(errs[2]) == false {
			t.Fatalf("errs[2] = %v, want the embedder's (permanent) error", errs[2])
		}
		if docs[2].Embedding != nil || len(docs[0].Embedding) != 3 {
			t.Fatalf("embeddings: %v, %v", docs[2].Embedding, docs[0].Embedding)
		}
		if n := bundle.embedder.callCount(); n != 1 {
			t.Fatalf("%d Embed calls, want 1", n)
		}
	})

	t.Run("EmptyText", func(t *testing.T) {
		t.Parallel()
		bundle := setupNoDB(t, 3)
		docs := testDocs(3, 1)
		docs[1].Metadata = map[string]any{"count": 3, "nested": map[string]any{"title": "x"}}
		errs := bundle.backend.Prepare(context.Background(), docs)
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("errs = %v", errs)
		}
		if !indexerr.IsNoText(errs[1]) || !strings.Contains(errs[1].Error(), "record has no text to embed in fields title, summary") {
			t.Fatalf("errs[1] = %v", errs[1])
		}
		if texts := bundle.embedder.lastCall(); len(texts) != 2 {
			t.Fatalf("embedder got %d texts, want 2 (not the empty one)", len(texts))
		}
	})

	t.Run("InvalidVectors", func(t *testing.T) {
		t.Parallel()
		bundle := setupNoDB(t, 3)
		docs := testDocs(3, 1)
		docs[0].Metadata["title"] = "ZERO"
		docs[1].Metadata["title"] = "NAN"
		errs := bundle.backend.Prepare(context.Background(), docs)
		if !indexerr.IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), "zero vector") {
			t.Fatalf("errs[0] = %v", errs[0])
		}
		if !indexerr.IsPermanent(errs[1]) || !strings.Contains(errs[1].Error(), "NaN") {
			t.Fatalf("errs[1] = %v", errs[1])
		}
		if errs[2] != nil {
			t.Fatalf("errs[2] = %v", errs[2])
		}
	})
}

func TestIngestBatch(t *testing.T) {
	t.Parallel()

	t.Run("Batch200", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		docs := testDocs(200, 1)
		for i := range docs {
			docs[i].Version = i%3 + 1
		}
		bundle.ingest(t, docs)
		got := bundle.versions(t)
		if len(got) != 200 {
			t.Fatalf("%d rows, want 200", len(got))
		}
		for _, d := range docs {
			if got[d.RecordID] != d.Version {
				t.Fatalf("record %s at version %d, want %d", d.RecordID, got[d.RecordID], d.Version)
			}
		}
		var model string
		var match bool
		err := bundle.pool.QueryRow(context.Background(),
			`SELECT model, embedding = $2::text::vector FROM vec_vector WHERE record_id = $1`,
			docs[7].RecordID, vectorLiteral(docs[7].Embedding)).Scan(&model, &match)
		if err != nil || model != "test-v1" || !match {
			t.Fatalf("row of docs[7]: model %q, embedding matches %v, err %v", model, match, err)
		}
	})

	t.Run("DuplicateRecordInBatch", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		docs := testDocs(3, 2)
		dup := docs[0]
		dup.Version = 1
		dup.Metadata = map[string]any{"title": "old title"}
		same := docs[1]
		docs = append([]backends.Document{dup}, append(docs, same)...)
		errs := bundle.ingest(t, docs)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("errs[%d] = %v", i, err)
			}
		}
		got := bundle.versions(t)
		if len(got) != 3 || got[dup.RecordID] != 2 {
			t.Fatalf("rows = %v, want 3 rows and %s at version 2", got, dup.RecordID)
		}
	})

	t.Run("MissingEmbedding", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		docs := testDocs(2, 1)
		bundle.backend.Prepare(context.Background(), docs)
		docs[1].Embedding = nil
		errs := bundle.ingestPrepared(t, docs)
		if errs[0] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "no embedding") {
			t.Fatalf("errs = %v", errs)
		}
		if n := len(bundle.versions(t)); n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}
	})

	t.Run("SameVersionRewrittenOnlyWhenChanged", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		docs := testDocs(1, 1)
		bundle.ingest(t, docs)
		before := bundle.xmin(t, docs[0].RecordID)
		bundle.ingest(t, docs)
		if after := bundle.xmin(t, docs[0].RecordID); after != before {
			t.Fatal("an identical row of the same version was rewritten")
		}
		docs[0].Metadata["title"] = "changed"
		bundle.ingest(t, docs)
		if after := bundle.xmin(t, docs[0].RecordID); after == before {
			t.Fatal("a changed vector of the same version was not written")
		}
	})

	t.Run("TextEncodingWithoutRegisteredTypes", func(t *testing.T) {
		t.Parallel()
		bundle := setupNoDB(t, 3)
		bundle.pool = newPool(t, false) // no pgvector types: vectors go as text
		bundle.ensure(t)
		for _, p := range []struct {
			pool *pgxpool.Pool
			want bool
		}{{bundle.pool, false}, {newPool(t, true), true}} {
			err := pgx.BeginFunc(context.Background(), p.pool, func(tx pgx.Tx) error {
				if got := hasVectorType(tx); got != p.want {
					t.Errorf("hasVectorType = %v, want %v", got, p.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		docs := testDocs(20, 1)
		bundle.ingest(t, docs)
		if n := len(bundle.versions(t)); n != 20 {
			t.Fatalf("%d rows, want 20", n)
		}
	})

	t.Run("TableMissing", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3) // not ensured
		docs := testDocs(2, 1)
		bundle.backend.Prepare(context.Background(), docs)
		ctx := context.Background()
		tx, err := bundle.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		// The statement cannot be prepared: that happens before the savepoint, so tx is aborted.
		errs := bundle.backend.IngestBatch(ctx, tx, docs)
		for i, err := range errs {
			if err == nil || indexerr.IsPermanent(err) || !strings.Contains(err.Error(), `relation "vec_vector" does not exist`) {
				t.Errorf("errs[%d] = %v, want a transient error naming the table", i, err)
			}
		}
	})

	t.Run("TxUsableAfterFailedWrite", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		docs := testDocs(2, 1)
		bundle.ingest(t, docs)
		ctx := context.Background()
		// Another transaction holds docs[1]'s row: the write times out waiting for it.
		locker, err := bundle.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Rollback(ctx)
		if _, err := locker.Exec(ctx, "SELECT 1 FROM vec_vector WHERE record_id = $1 FOR UPDATE", docs[1].RecordID); err != nil {
			t.Fatal(err)
		}
		docs[0].Version, docs[1].Version = 2, 2
		err = pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '100ms'"); err != nil {
				return err
			}
			errs := bundle.backend.IngestBatch(ctx, tx, docs)
			for i, err := range errs {
				if err == nil || indexerr.IsPermanent(err) || !strings.Contains(err.Error(), "lock timeout") {
					t.Errorf("errs[%d] = %v, want a transient lock timeout", i, err)
				}
			}
			_, err := tx.Exec(ctx, "SELECT 1")
			return err
		})
		if err != nil {
			t.Fatalf("transaction after a failed write: %v", err)
		}
	})

	t.Run("VersionGuardNewerKept", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		v2 := testDocs(1, 2)
		bundle.ingest(t, v2)
		v1 := []backends.Document{{RecordID: v2[0].RecordID, Version: 1, Metadata: map[string]any{"title": "older"}}}
		if errs := bundle.ingest(t, v1); errs[0] != nil {
			t.Fatalf("an older version is not an error, got %v", errs[0])
		}
		if got := bundle.versions(t)[v2[0].RecordID]; got != 2 {
			t.Fatalf("version %d, want 2", got)
		}
		if !bundle.embeddingIs(t, v2[0]) {
			t.Fatal("the embedding of version 1 replaced version 2's")
		}
	})

	t.Run("VersionGuardOlderReplaced", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, 3)
		bundle.ensure(t)
		v1 := testDocs(1, 1)
		bundle.ingest(t, v1)
		v2 := []backends.Document{{RecordID: v1[0].RecordID, Version: 2, Metadata: map[string]any{"title": "newer"}}}
		bundle.ingest(t, v2)
		if got := bundle.versions(t)[v1[0].RecordID]; got != 2 {
			t.Fatalf("version %d, want 2", got)
		}
		if !bundle.embeddingIs(t, v2[0]) {
			t.Fatal("the embedding is not version 2's")
		}
	})
}

func TestDeleteBatch(t *testing.T) {
	t.Parallel()

	bundle := setup(t, 3)
	bundle.ensure(t)
	docs := testDocs(5, 1)
	bundle.ingest(t, docs)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
		return bundle.backend.DeleteBatch(ctx, tx, []uuid.UUID{docs[0].RecordID, docs[3].RecordID, uuid.New()})
	})
	if err != nil {
		t.Fatal(err)
	}
	got := bundle.versions(t)
	if _, ok := got[docs[0].RecordID]; ok || len(got) != 3 {
		t.Fatalf("rows after delete: %v", got)
	}
}

// BenchmarkIngestBatch writes batches of 128 records with 384-dim vectors into the HNSW-indexed
// table, each batch in its own transaction, and reports rows/s.
func BenchmarkIngestBatch(b *testing.B) {
	for _, mode := range []struct {
		name     string
		register bool
	}{{"Binary", true}, {"Text", false}} {
		b.Run(mode.name, func(b *testing.B) {
			const batchSize, dims = 128, 384
			pool := newPool(b, mode.register)
			backend := mustNew(b, Config{Name: "bench", Embedder: newTestEmbedder("test-v1", dims)})
			ctx := context.Background()
			if err := backend.Ensure(ctx, pool); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			centers := make([][]float32, 32)
			for i := range centers {
				centers[i] = randomVector(rng, dims, nil, 1)
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				docs := make([]backends.Document, batchSize)
				for i := range docs {
					c := centers[rng.IntN(len(centers))]
					docs[i] = backends.Document{RecordID: uuid.Must(uuid.NewV7()), Version: 1, Embedding: randomVector(rng, dims, c, 0.3)}
				}
				b.StartTimer()
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					return errors.Join(backend.IngestBatch(ctx, tx, docs)...)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

type testBundle struct {
	backend  *Backend
	embedder *testEmbedder
	pool     *pgxpool.Pool
}

// setup returns a backend "vector" with a test embedder of dims and model "test-v1", and a pool
// on a fresh database with pgvector's types registered. The table is not ensured.
func setup(t *testing.T, dims int) *testBundle {
	t.Helper()
	bundle := setupNoDB(t, dims)
	bundle.pool = newPool(t, true)
	return bundle
}

func setupNoDB(t *testing.T, dims int) *testBundle {
	t.Helper()
	e := newTestEmbedder("test-v1", dims)
	return &testBundle{backend: mustNew(t, Config{Name: "vector", Embedder: e}), embedder: e}
}

func (tb *testBundle) ensure(t *testing.T) {
	t.Helper()
	if err := tb.backend.Ensure(context.Background(), tb.pool); err != nil {
		t.Fatal(err)
	}
}

// ingest prepares docs, fails t on any Prepare error, and writes them in one transaction.
func (tb *testBundle) ingest(t *testing.T, docs []backends.Document) []error {
	t.Helper()
	if err := errors.Join(tb.backend.Prepare(context.Background(), docs)...); err != nil {
		t.Fatal(err)
	}
	return tb.ingestPrepared(t, docs)
}

func (tb *testBundle) ingestPrepared(t *testing.T, docs []backends.Document) []error {
	t.Helper()
	ctx := context.Background()
	var errs []error
	err := pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		errs = tb.backend.IngestBatch(ctx, tx, docs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

// versions returns the stored version of every row.
func (tb *testBundle) versions(t *testing.T) map[uuid.UUID]int {
	t.Helper()
	rows, err := tb.pool.Query(context.Background(), "SELECT record_id, version FROM "+tb.backend.Table())
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]int{}
	var id uuid.UUID
	var v int
	if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { got[id] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// embeddingIs reports whether the stored vector of d's record is the test embedding of d's text.
func (tb *testBundle) embeddingIs(t *testing.T, d backends.Document) bool {
	t.Helper()
	want := tb.embedder.vector(backends.Text(d.Metadata, backends.TextConfig{}))
	var match bool
	err := tb.pool.QueryRow(context.Background(),
		"SELECT embedding = $2::text::vector FROM "+tb.backend.Table()+" WHERE record_id = $1",
		d.RecordID, vectorLiteral(want)).Scan(&match)
	if err != nil {
		t.Fatal(err)
	}
	return match
}

// xmin returns the id of the transaction that last wrote the row of id.
func (tb *testBundle) xmin(t *testing.T, id uuid.UUID) string {
	t.Helper()
	var xmin string
	if err := tb.pool.QueryRow(context.Background(), "SELECT xmin::text FROM "+tb.backend.Table()+" WHERE record_id = $1", id).Scan(&xmin); err != nil {
		t.Fatal(err)
	}
	return xmin
}

func mustNew(t testing.TB, cfg Config) *Backend {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newPool returns a pool on a fresh migrated database, with pgvector's types registered when
// register is set (as the server's pool has).
func newPool(t testing.TB, register bool) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 10
	if register {
		cfg.AfterConnect = pgxvec.RegisterTypes
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testDocs returns n documents of distinct new records at version.
func testDocs(n, version int) []backends.Document {
	docs := make([]backends.Document, n)
	for i := range docs {
		docs[i] = backends.Document{
			RecordID: uuid.Must(uuid.NewV7()),
			Version:  version,
			Metadata: map[string]any{"title": fmt.Sprintf("record %d", i), "summary": "a test record"},
		}
	}
	return docs
}

// testEmbedder is a deterministic embedder: a text's vector is seeded by its hash. A text
// containing "FAIL" gets a permanent error, "ZERO" the zero vector and "NAN" a NaN.
type testEmbedder struct {
	model string
	dims  int

	mu    sync.Mutex
	calls [][]string
}

func newTestEmbedder(model string, dims int) *testEmbedder {
	return &testEmbedder{model: model, dims: dims}
}

func (e *testEmbedder) Model() string { return e.model }
func (e *testEmbedder) Dims() int     { return e.dims }

func (e *testEmbedder) Embed(_ context.Context, texts []string) ([][]float32, []error) {
	e.mu.Lock()
	e.calls = append(e.calls, texts)
	e.mu.Unlock()
	vecs := make([][]float32, len(texts))
	errs := make([]error, len(texts))
	for i, text := range texts {
		switch {
		case strings.Contains(text, "FAIL"):
			errs[i] = indexerr.Permanentf("test embedder refuses %q", text)
		case strings.Contains(text, "ZERO"):
			vecs[i] = make([]float32, e.dims)
		case strings.Contains(text, "NAN"):
			vecs[i] = e.vector(text)
			vecs[i][0] = float32(math.NaN())
		default:
			vecs[i] = e.vector(text)
		}
	}
	return vecs, errs
}

func (e *testEmbedder) vector(text string) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	return randomVector(rand.New(rand.NewPCG(h.Sum64(), 0)), e.dims, nil, 1)
}

func (e *testEmbedder) callCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

// textCount returns the number of texts embedded so far.
func (e *testEmbedder) textCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		n += len(c)
	}
	return n
}

func (e *testEmbedder) lastCall() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[len(e.calls)-1]
}

// randomVector returns center plus Gaussian noise of the given spread (center nil: noise only).
func randomVector(rng *rand.Rand, dims int, center []float32, spread float64) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * spread)
		if center != nil {
			v[i] += center[i]
		}
	}
	return v
}

func vectorLiteral(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
