package pgvector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/internal/backendtest"
)

// TestSearchSharesWord checks the shared-word rule of a lexical embedder: with the hash embedder
// at 64 dimensions, most records collide with any query, so many of the nearest records are
// collisions; the search must return only the records that have the query's word (all of them
// here), and nothing for a word no record has.
func TestSearchSharesWord(t *testing.T) {
	t.Parallel()
	h := embed.NewHash(embed.HashConfig{Dims: 64})
	b := mustNew(t, Config{Name: "vector", Embedder: h, SharesWord: h.SharesWord})
	pool := newPool(t, true)
	ctx := context.Background()
	if err := b.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	docs := testDocs(400, 1)
	for i := range docs {
		title := fmt.Sprintf("alpha%d beta%d gamma%d", i, i%37, i%91)
		if i%100 == 99 {
			title += " zebrafish"
		}
		docs[i].Metadata = map[string]any{"title": title}
	}
	docs = backendtest.Publish(t, pool, docs)
	if err := errors.Join(b.Prepare(ctx, docs)...); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return errors.Join(b.IngestBatch(ctx, tx, docs)...) })
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]int{"zebrafish": 4, "qwertyuiop": 0} {
		for _, limit := range []int{1, 3, 10} {
			hits, err := b.Search(ctx, pool, backends.Query{Text: query, Limit: limit, EfSearch: 40})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != min(want, limit) {
				t.Fatalf("%q, limit %d: %d hits, want %d", query, limit, len(hits), min(want, limit))
			}
			for _, hit := range hits {
				if !strings.Contains(string(hit.Metadata), "zebrafish") {
					t.Fatalf("%q: hit %s shares no word with the query", query, hit.Metadata)
				}
			}
		}
	}
}
