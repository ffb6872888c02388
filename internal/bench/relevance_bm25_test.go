package bench

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestBM25Search scores a corpus of three documents by hand: N 3, dl 3, 1 and 4, avgdl 8/3,
// k1 0.9, b 0.4.
func TestBM25Search(t *testing.T) {
	t.Parallel()
	index := newBM25Index([]string{"d1", "d2", "d3"}, []termCounts{
		{"cat": 2, "dog": 1},
		{"dog": 1},
		{"bird": 1, "cat": 1, "fish": 2},
	}, BM25Params{K1: 0.9, B: 0.4})

	// idf(cat) = ln(1 + (3 − 2 + 0.5)/(2 + 0.5)) = ln 1.6; idf(fish) = ln(1 + 2.5/1.5) = ln(8/3).
	if got, want := index.idf("cat"), 0.47000362924573563; !near(got, want) {
		t.Errorf("idf(cat) = %v, want %v", got, want)
	}
	if got, want := index.idf("fish"), 0.9808292530117263; !near(got, want) {
		t.Errorf("idf(fish) = %v, want %v", got, want)
	}

	// d1: cat, tf 2, dl 3: ln 1.6 · 2·1.9 / (2 + 0.9·(0.6 + 0.4·3/(8/3))) = ln 1.6 · 3.8/2.945.
	// d3: cat, tf 1, dl 4: ln 1.6 · 1.9/(1 + 0.9·1.2) = ln 1.6 · 1.9/2.08; plus fish, tf 2:
	// ln(8/3) · 3.8/3.08.
	hits := index.search(termCounts{"cat": 1, "fish": 1}, 10)
	want := []bm25Hit{{"d3", 1.639444251709342}, {"d1", 0.6064562958009491}}
	if len(hits) != len(want) {
		t.Fatalf("hits %v, want %v", hits, want)
	}
	for i := range want {
		if hits[i].id != want[i].id || !near(hits[i].score, want[i].score) {
			t.Errorf("hit %d = %+v, want %+v", i, hits[i], want[i])
		}
	}

	// A query's lexeme counts once, however often the query has it.
	if again := index.search(termCounts{"cat": 3, "fish": 2}, 10); again[0] != hits[0] || again[1] != hits[1] {
		t.Errorf("with repeated lexemes %v, want %v", again, hits)
	}
	// dog: the short d2 (ln 1.6 · 1.9/(1 + 0.9·(0.6 + 0.4·3/8))) beats d1.
	if dog := index.search(termCounts{"dog": 1}, 1); len(dog) != 1 || dog[0].id != "d2" || !near(dog[0].score, 0.5331384451145658) {
		t.Errorf("dog, limit 1: %v, want d2 at 0.5331384451145658", dog)
	}
	if none := index.search(termCounts{"whale": 1}, 10); len(none) != 0 {
		t.Errorf("whale: %v, want no hits", none)
	}
}

func TestBM25SearchTies(t *testing.T) {
	t.Parallel()
	index := newBM25Index([]string{"b", "c", "a"}, []termCounts{{"x": 1}, {"x": 1}, {"x": 1}}, BM25Params{K1: 1.2, B: 0.75})
	hits := index.search(termCounts{"x": 1}, 2)
	if len(hits) != 2 || hits[0].id != "a" || hits[1].id != "b" || hits[0].score != hits[1].score {
		t.Errorf("ties: %v, want a then b at the same score", hits)
	}
	// b 0: no length normalisation; k1 0: the term frequency does not count.
	flat := newBM25Index([]string{"long", "short"}, []termCounts{{"x": 3, "y": 9}, {"x": 1}}, BM25Params{K1: 0, B: 0})
	if hits := flat.search(termCounts{"x": 1}, 10); len(hits) != 2 || hits[0].score != hits[1].score || hits[0].id != "long" {
		t.Errorf("k1 0, b 0: %v, want equal scores", hits)
	}
}

func TestTokenize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.WithoutCancel(ctx)) })

	got, err := tokenize(ctx, conn, "english", []string{"The cats are running", "", "Cats! CATS, cat.\nof the"})
	if err != nil {
		t.Fatal(err)
	}
	want := []termCounts{{"cat": 1, "run": 1}, {}, {"cat": 3}}
	for i := range want {
		if !maps.Equal(got[i], want[i]) {
			t.Errorf("text %d: %v, want %v", i, got[i], want[i])
		}
	}

	// More texts than one statement takes: each text's lexemes land on that text.
	texts := make([]string, tokenizeBatch+7)
	for i := range texts {
		texts[i] = fmt.Sprintf("zz%dq zz%dq", i, i)
	}
	got, err = tokenize(ctx, conn, "english", texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range got {
		if want := (termCounts{fmt.Sprintf("zz%dq", i): 2}); !maps.Equal(tc, want) {
			t.Fatalf("text %d: %v, want %v", i, tc, want)
		}
	}

	if _, err := tokenize(ctx, conn, "klingon", []string{"x"}); err == nil {
		t.Error("tokenize with an unknown text search configuration succeeded")
	}
}
