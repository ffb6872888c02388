package search_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/search/where"
)

// countingEmbedder counts the texts it embeds.
type countingEmbedder struct {
	embed.Embedder
	texts atomic.Int64
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	c.texts.Add(int64(len(texts)))
	return c.Embedder.Embed(ctx, texts)
}

// Similar records come from the record's stored vector with no embedding call, never include the
// record, honour where and the limit; a record without a vector, of another domain, or a
// keyword backend named, is refused with why.
func TestSimilar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	counter := &countingEmbedder{Embedder: embed.NewHash(embed.HashConfig{})}
	vec, err := pgvector.New(pgvector.Config{Name: "vector", Embedder: counter})
	if err != nil {
		t.Fatal(err)
	}
	svc := search.New(b.pool, []backends.Searcher{vec, b.kw}, search.Config{Fields: where.GEOFields()})
	zebrafish := b.srnByIx[0] // "Zebrafish heart regeneration single-cell atlas"

	res, err := svc.Similar(ctx, search.SimilarRequest{SRN: zebrafish, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 5 || res.Mode != search.ModeVector || counter.texts.Load() != 0 {
		t.Fatalf("%d hits, mode %v, %d texts embedded; want 5 vector hits and no embedding", len(res.Hits), res.Mode, counter.texts.Load())
	}
	// The nearest by its own vector, as an exact scan of the table finds it.
	var nearest uuid.UUID
	if err := b.pool.QueryRow(ctx, `SELECT record_id FROM vec_vector WHERE record_id <> $1
		ORDER BY embedding <=> (SELECT embedding FROM vec_vector WHERE record_id = $1), record_id LIMIT 1`, zebrafish.ID).Scan(&nearest); err != nil {
		t.Fatal(err)
	}
	for i, h := range res.Hits {
		if h.SRN.ID == zebrafish.ID {
			t.Fatal("the record is among its own similar records")
		}
		if i == 0 && h.SRN.ID != nearest {
			t.Fatalf("first similar record %s, want %s (the nearest by an exact scan)", h.SRN, nearest)
		}
	}
	res, err = svc.Similar(ctx, search.SimilarRequest{SRN: zebrafish, Where: `organism = "Homo sapiens"`, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if field(h, "organism") != "Homo sapiens" {
			t.Fatalf("where ignored: %s", h.Metadata)
		}
	}
	for _, c := range []struct {
		name  string
		req   search.SimilarRequest
		field string // of the validation error; "" for not found
	}{
		{"unknown record", search.SimilarRequest{SRN: records.SRN{Domain: records.DomainDefault, ID: uuid.Must(uuid.NewV7())}}, ""},
		{"another domain", search.SimilarRequest{SRN: records.SRN{Domain: "other.org", ID: zebrafish.ID}}, ""},
		{"keyword backend", search.SimilarRequest{SRN: zebrafish, Backend: "keyword"}, "backend"},
		{"limit", search.SimilarRequest{SRN: zebrafish, Limit: 1000}, "limit"},
	} {
		_, err := svc.Similar(ctx, c.req)
		var invalid *domainerr.ValidationError
		if c.field == "" && !errors.Is(err, domainerr.ErrNotFound) || c.field != "" && (!errors.As(err, &invalid) || invalid.Field != c.field) {
			t.Errorf("%s: %v; want not found, or a validation error on %q", c.name, err, c.field)
		}
	}
}
