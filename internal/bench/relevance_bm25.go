package bench

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Defaults of [BM25Params].
const (
	BM25K1Default = 0.9
	BM25BDefault  = 0.4
)

// tokenizeBatch is the number of texts one to_tsvector statement tokenises.
const tokenizeBatch = 500

// tokenizeSQL returns the lexemes of every text of $2 and the number of positions of each, as
// to_tsvector($1, text) makes them: the tokens the keyword backend indexes. ord is the text's
// 1-based place in $2.
const tokenizeSQL = `
SELECT d.ord, t.lexeme, cardinality(t.positions)
FROM unnest($2::text[]) WITH ORDINALITY AS d(body, ord),
     unnest(to_tsvector($1::text::regconfig, d.body)) AS t`

// BM25Params are the parameters of the reference BM25 of [Relevance], Lucene's formula.
type BM25Params struct {
	// K1 saturates the term frequency, 0 or more. [BM25K1Default] is 0.9.
	K1 float64 `json:"k1"`
	// B is the share of length normalisation, 0..1. [BM25BDefault] is 0.4.
	B float64 `json:"b"`
}

// validate checks the bounds of p.
func (p BM25Params) validate() error {
	if p.K1 < 0 || math.IsNaN(p.K1) || math.IsInf(p.K1, 0) {
		return fmt.Errorf("BM25.K1 must be 0 or more, got %v", p.K1)
	}
	if !(p.B >= 0 && p.B <= 1) {
		return fmt.Errorf("BM25.B must be 0..1, got %v", p.B)
	}
	return nil
}

// termCounts maps each lexeme of a text to its number of occurrences (positions).
type termCounts map[string]int

// tokenize returns the lexemes of every text with their counts, as PostgreSQL's
// to_tsvector(language, text) makes them, [tokenizeBatch] texts per statement.
func tokenize(ctx context.Context, conn *pgx.Conn, language string, texts []string) ([]termCounts, error) {
	out := make([]termCounts, len(texts))
	for i := range out {
		out[i] = termCounts{}
	}
	for start := 0; start < len(texts); start += tokenizeBatch {
		batch := texts[start:min(len(texts), start+tokenizeBatch)]
		rows, err := conn.Query(ctx, tokenizeSQL, language, batch)
		if err != nil {
			return nil, fmt.Errorf("error tokenising with to_tsvector(%q): %w", language, err)
		}
		var (
			ord    int64
			lexeme string
			n      int
		)
		_, err = pgx.ForEachRow(rows, []any{&ord, &lexeme, &n}, func() error {
			out[start+int(ord)-1][lexeme] = n
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("error tokenising with to_tsvector(%q): %w", language, err)
		}
	}
	return out, nil
}

// bm25Index is an inverted index of a corpus, scored with Lucene's BM25.
type bm25Index struct {
	params   BM25Params
	ids      []string             // document ids, by document number
	lengths  []float64            // dl: each document's tokens (the sum of its counts)
	avgdl    float64              // the mean of lengths
	postings map[string][]posting // lexeme → the documents that have it
}

// posting is one document's count of a lexeme.
type posting struct {
	doc int
	tf  int
}

// bm25Hit is one document a [bm25Index] ranks.
type bm25Hit struct {
	id    string
	score float64
}

// newBM25Index indexes the documents ids[i] with the tokens docs[i].
func newBM25Index(ids []string, docs []termCounts, params BM25Params) *bm25Index {
	x := &bm25Index{params: params, ids: ids, lengths: make([]float64, len(docs)), postings: map[string][]posting{}}
	var total float64
	for i, d := range docs {
		for lexeme, tf := range d {
			x.postings[lexeme] = append(x.postings[lexeme], posting{doc: i, tf: tf})
			x.lengths[i] += float64(tf)
		}
		total += x.lengths[i]
	}
	if len(docs) > 0 {
		x.avgdl = total / float64(len(docs))
	}
	return x
}

// idf is Lucene's ln(1 + (N − df + 0.5)/(df + 0.5)).
func (x *bm25Index) idf(lexeme string) float64 {
	n, df := float64(len(x.ids)), float64(len(x.postings[lexeme]))
	return math.Log(1 + (n-df+0.5)/(df+0.5))
}

// termScore is the score one occurrence count tf of lexeme gives document doc:
// idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)).
func (x *bm25Index) termScore(lexeme string, doc, tf int) float64 {
	k1, b := x.params.K1, x.params.B
	norm := 1 - b
	if x.avgdl > 0 {
		norm += b * x.lengths[doc] / x.avgdl
	}
	t := float64(tf)
	return x.idf(lexeme) * t * (k1 + 1) / (t + k1*norm)
}

// search returns the limit best documents for the lexemes of query (each counted once, however
// often the query has it), best first, ties by document id.
func (x *bm25Index) search(query termCounts, limit int) []bm25Hit {
	scores := map[int]float64{}
	// In a fixed order, so that equal sums are equal to the last bit and ties break by id.
	for _, lexeme := range slices.Sorted(maps.Keys(query)) {
		for _, p := range x.postings[lexeme] {
			scores[p.doc] += x.termScore(lexeme, p.doc, p.tf)
		}
	}
	hits := make([]bm25Hit, 0, len(scores))
	for doc, s := range scores {
		hits = append(hits, bm25Hit{id: x.ids[doc], score: s})
	}
	slices.SortFunc(hits, func(a, b bm25Hit) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.id, b.id))
	})
	return hits[:min(limit, len(hits))]
}
