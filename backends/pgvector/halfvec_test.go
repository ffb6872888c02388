package pgvector

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/backendtest"
)

// A halfvec backend stores 2-byte floats under an HNSW index of halfvec_cosine_ops, searches it
// (filtered, similar records) with recall against its own exact search, survives a rebuild, and
// a table of the other type is a mismatch. A change of type between generations copies the live
// generation's vectors only when nothing is lost: vector → halfvec copies them, halfvec → vector
// embeds again.
func TestHalfvec(t *testing.T) {
	t.Parallel()

	t.Run("EnsureAndMismatch", func(t *testing.T) {
		t.Parallel()
		bundle := setupHalfvec(t, 16)
		bundle.ensure(t)
		if got := columnType(t, bundle, "vec_vector"); got != "halfvec(16)" {
			t.Fatalf("embedding column %s, want halfvec(16)", got)
		}
		var def string
		err := bundle.pool.QueryRow(context.Background(),
			`SELECT indexdef FROM pg_indexes WHERE tablename = 'vec_vector' AND indexname = 'vec_vector_embedding_idx'`).Scan(&def)
		if err != nil || !strings.Contains(def, "hnsw (embedding halfvec_cosine_ops)") {
			t.Fatalf("index %q (%v), want hnsw on halfvec_cosine_ops", def, err)
		}
		bundle.ensure(t) // again: the table checks out
		vector := mustNew(t, Config{Name: "vector", Embedder: bundle.embedder})
		err = vector.Ensure(context.Background(), bundle.pool)
		if err == nil || !strings.Contains(err.Error(), `table vec_vector holds halfvec(16) (no rows yet) but the config says hnsw.type vector, 16 dims`) {
			t.Fatalf("Ensure of a vector backend on a halfvec table: %v", err)
		}
	})

	t.Run("InvalidType", func(t *testing.T) {
		t.Parallel()
		_, err := New(Config{Name: "v", Embedder: newTestEmbedder("m", 3), Type: "float8"})
		if err == nil || !strings.Contains(err.Error(), `hnsw.type "float8" is not vector or halfvec`) {
			t.Fatalf("New with type float8: %v", err)
		}
		if _, err := New(Config{Name: "v", Embedder: newTestEmbedder("m", 3072), Type: TypeHalfvec}); err != nil {
			t.Fatalf("New, halfvec of 3072 dims: %v", err)
		}
		if _, err := New(Config{Name: "v", Embedder: newTestEmbedder("m", 4001), Type: TypeHalfvec}); err == nil ||
			!strings.Contains(err.Error(), "dims 4001 is out of range (1..4000, the most an HNSW index on halfvec holds)") {
			t.Fatalf("New, halfvec of 4001 dims: %v", err)
		}
	})

	t.Run("SearchRecall", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		bundle := setupHalfvec(t, 32)
		bundle.ensure(t)
		docs := testDocs(2000, 1)
		for i := range docs {
			docs[i].Metadata["group"] = fmt.Sprint(i % 4)
		}
		docs = backendtest.Publish(t, bundle.pool, docs)
		bundle.ingest(t, docs)
		const queries, k = 40, 10
		var found, total int
		for q := range queries {
			query := backends.Query{Text: fmt.Sprintf("query %d", q), Limit: k, EfSearch: 100}
			approx, err := bundle.backend.Search(ctx, bundle.pool, query)
			if err != nil {
				t.Fatal(err)
			}
			query.Exact = true
			exact, err := bundle.backend.Search(ctx, bundle.pool, query)
			if err != nil {
				t.Fatal(err)
			}
			if len(exact) != k || len(approx) != k {
				t.Fatalf("%q: %d exact and %d approximate hits, want %d", query.Text, len(exact), len(approx), k)
			}
			want := map[uuid.UUID]bool{}
			for _, h := range exact {
				want[h.RecordID] = true
			}
			for _, h := range approx {
				if want[h.RecordID] {
					found++
				}
			}
			total += k
		}
		if recall := float64(found) / float64(total); recall < 0.9 {
			t.Fatalf("recall@%d of the HNSW index against exact search: %.3f, want at least 0.9", k, recall)
		}
		// A record's own text finds it, at a similarity that only rounding keeps below 1.
		bundle.checkSearch(t, bundle.pool, docs[123], true)
		// Filtered, and similar records: the same statement with other conditions.
		hits, err := bundle.backend.Search(ctx, bundle.pool, backends.Query{Text: "query 1", Limit: k, EfSearch: 100,
			Filter: json.RawMessage(`{"group": "2"}`)})
		if err != nil || len(hits) != k {
			t.Fatalf("filtered search: %d hits, %v", len(hits), err)
		}
		for _, h := range hits {
			if !strings.Contains(string(h.Metadata), `"group": "2"`) {
				t.Fatalf("filtered search: hit %s", h.Metadata)
			}
		}
		similar, err := bundle.backend.Similar(ctx, bundle.pool, docs[5].RecordID, backends.Query{Limit: k, EfSearch: 100})
		if err != nil || len(similar) != k || similar[0].RecordID == docs[5].RecordID {
			t.Fatalf("similar records: %+v, %v", similar, err)
		}
	})

	t.Run("Rebuild", func(t *testing.T) {
		t.Parallel()
		bundle := setupHalfvec(t, 16)
		bundle.ensure(t)
		old := backendtest.Publish(t, bundle.pool, testDocs(50, 1))
		bundle.ingest(t, old)
		docs := titled(backendtest.Publish(t, bundle.pool, testDocs(200, 1)), "rebuilt")
		bundle.createShadow(t)
		bundle.ingestInto(t, bundle.backend.Shadow(), docs)
		bundle.indexShadow(t)
		bundle.swap(t)
		if got := columnType(t, bundle, "vec_vector"); got != "halfvec(16)" {
			t.Fatalf("embedding column after the swap: %s", got)
		}
		bundle.checkSearch(t, bundle.pool, docs[77], true)
		bundle.checkSearch(t, bundle.pool, old[7], false)
		if n := backendtest.Count(t, bundle.pool, "vec_vector"); n != 200 {
			t.Fatalf("%d rows after the swap, want 200", n)
		}
	})

	t.Run("TypeChange", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		bundle := setup(t, 16)
		gen := func(typ string) *Backend {
			return mustNew(t, Config{Name: "vector", Embedder: bundle.embedder, Type: typ, Reuse: bundle.pool})
		}
		// Generation 1, vector.
		bundle.backend = gen(TypeVector)
		bundle.ensure(t)
		docs := backendtest.Publish(t, bundle.pool, testDocs(30, 1))
		bundle.ingest(t, docs)

		// rebuild builds the next generation of type typ from docs, as a rebuild does, swaps it
		// in and returns the texts it sent to the embedder.
		rebuild := func(typ string, generation int) int {
			t.Helper()
			next := gen(typ)
			before := bundle.embedder.textCount()
			if err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error { return next.CreateShadow(ctx, tx) }); err != nil {
				t.Fatal(err)
			}
			again := make([]backends.Document, len(docs))
			for i, d := range docs {
				again[i] = backends.Document{RecordID: d.RecordID, Version: d.Version, Metadata: d.Metadata}
			}
			bundle.ingestInto(t, next.Shadow(), again)
			embedded := bundle.embedder.textCount() - before
			if err := next.IndexShadow(ctx, bundle.pool); err != nil {
				t.Fatal(err)
			}
			err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
				_, err := next.SwapShadow(ctx, tx, generation-1)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			bundle.backend = next
			if got, want := columnType(t, bundle, "vec_vector"), fmt.Sprintf("%s(16)", typ); got != want {
				t.Fatalf("generation %d: embedding column %s, want %s", generation, got, want)
			}
			bundle.checkSearch(t, bundle.pool, docs[11], true)
			return embedded
		}
		if n := rebuild(TypeHalfvec, 2); n != 0 {
			t.Fatalf("vector → halfvec embedded %d texts, want none: the live vectors round to halfvec as new ones would", n)
		}
		if n := rebuild(TypeVector, 3); n != len(docs) {
			t.Fatalf("halfvec → vector embedded %d texts, want all %d: the live vectors lost their precision", n, len(docs))
		}
		if !bundle.embeddingIs(t, docs[3]) {
			t.Fatal("after halfvec → vector, a stored vector is not its text's full-precision embedding")
		}
	})
}

// setupHalfvec is [setup] for a halfvec backend.
func setupHalfvec(t *testing.T, dims int) *testBundle {
	t.Helper()
	bundle := setup(t, dims)
	bundle.backend = mustNew(t, Config{Name: "vector", Embedder: bundle.embedder, Type: TypeHalfvec})
	return bundle
}

// columnType returns the type of table's embedding column, as format_type writes it.
func columnType(t *testing.T, bundle *testBundle, table string) string {
	t.Helper()
	var typ string
	if err := bundle.pool.QueryRow(context.Background(), columnTypeSQL, table).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	return typ
}
