package keyword

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
)

// term is one lexeme of a query with the number of documents that contain it.
type term struct {
	lexeme string
	docs   int64
}

// Search reads q.Text as [parseQuery] does and ranks the live records containing any of its
// words by BM25 (see searchSQL): rarer words weigh more, repeated ones saturate, long documents
// are normalised and words of the title count TitleWeight times. Quoted phrases are required,
// unless no record has them: then their words rank as plain words. A query none of whose words
// is in the index (or made only of stop words, or only of exclusions) has no hits.
//
// The candidates come from the query's rarest terms: terms are taken in increasing document
// count while their counts add up to at most Config.Candidates (the rarest always), and at most
// that many records containing one of them are scored, with every term. A record that contains
// only the commonest words of a long query can therefore be missed; it would rank low anyway,
// as each of those words adds little.
func (b *Backend) Search(ctx context.Context, pool *pgxpool.Pool, q backends.Query) ([]backends.Hit, error) {
	p := parseQuery(q.Text)
	terms, docs, size, err := b.terms(ctx, pool, p.Text)
	if err != nil {
		return nil, fmt.Errorf("error searching %s: %w", b.table, err)
	}
	if len(terms) == 0 || docs == 0 {
		return []backends.Hit{}, nil
	}
	slices.SortFunc(terms, func(x, y term) int {
		return cmp.Or(cmp.Compare(x.docs, y.docs), strings.Compare(x.lexeme, y.lexeme))
	})
	var (
		candidates []string
		sum        int64
		operands   = make([]string, len(terms))
		idfs       = make([]float64, len(terms))
	)
	for i, t := range terms {
		operands[i] = quoteLexeme(t.lexeme)
		idfs[i] = idf(docs, t.docs)
		if sum += t.docs; i == 0 || sum <= int64(b.cfg.Candidates) {
			candidates = append(candidates, operands[i])
		}
	}
	avgLen := max(float64(size)/float64(docs), 1)
	args := []any{b.cfg.Language, strings.Join(candidates, " | "), b.cfg.Candidates,
		operands, idfs, b.cfg.K1, b.cfg.B, avgLen, b.cfg.TitleWeight, nonNil(p.Phrases), nonNil(p.Excluded), q.Limit}
	if q.Filter != nil {
		args = append(args, []byte(q.Filter))
	}
	var sql string
	if q.Where == nil {
		sql = b.searchStatement(len(terms), q.Filter != nil, q.IDsOnly)
	} else {
		// Written per query: the condition's shape is the client's. Its parameters follow ours.
		cond, whereArgs := q.Where.SQL("r0", len(args)+1)
		if q.Filter != nil {
			cond = "r0.metadata @> $13::jsonb AND " + cond
		}
		args = append(args, whereArgs...)
		sql = rankSQL(strings.Replace(b.sql.candidatesWhere, "{where}", cond, 1), len(terms), q.IDsOnly)
	}
	hits, err := b.rank(ctx, pool, sql, args)
	if err == nil && len(hits) == 0 && len(p.Phrases) > 0 {
		// No record has the phrases as written: their words still rank, as plain words.
		args[phrasesArg] = []string{}
		hits, err = b.rank(ctx, pool, sql, args)
	}
	return hits, err
}

// phrasesArg is the index in Search's arguments of the phrases a hit must contain ($10).
const phrasesArg = 9

// rank runs the search statement sql with args.
func (b *Backend) rank(ctx context.Context, pool *pgxpool.Pool, sql string, args []any) ([]backends.Hit, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("error searching %s: %w", b.table, err)
	}
	hits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (backends.Hit, error) {
		var h backends.Hit
		err := row.Scan(&h.RecordID, &h.Version, &h.Score, &h.Metadata, &h.Source)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("error searching %s: %w", b.table, err)
	}
	return hits, nil
}

// terms returns the lexemes of text that some document contains, with their document counts,
// and the number of documents and the sum of their lengths.
func (b *Backend) terms(ctx context.Context, pool *pgxpool.Pool, text string) (terms []term, docs, size int64, err error) {
	if strings.TrimSpace(text) == "" {
		return nil, 0, 0, nil
	}
	rows, err := pool.Query(ctx, b.sql.terms, b.cfg.Language, text)
	if err != nil {
		return nil, 0, 0, err
	}
	var t term
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&t.lexeme, &t.docs, &n}, func() error {
		switch {
		case t.lexeme == "":
			docs, size = t.docs, n
		case t.docs > 0:
			terms = append(terms, t)
		}
		return nil
	})
	return terms, docs, size, err
}

// idf is BM25's inverse document frequency of a term found in df of n documents, as Lucene
// computes it: ln(1 + (n − df + 0.5) / (df + 0.5)), never negative.
func idf(n, df int64) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// nonNil returns s, or an empty slice for nil: pgx sends a nil slice as NULL, whose unnest is
// no rows anyway, but an empty array says what is meant.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// searchStatement returns the search statement for n terms, filtered or not, with metadata or
// not, written once per backend and shape (a query has at most a few hundred terms).
func (b *Backend) searchStatement(n int, filtered, idsOnly bool) string {
	key := 4 * n
	if filtered {
		key++
	}
	if idsOnly {
		key += 2
	}
	if sql, ok := b.searches.Load(key); ok {
		return sql.(string)
	}
	candidates := b.sql.candidates
	if filtered {
		candidates = b.sql.candidatesFiltered
	}
	sql, _ := b.searches.LoadOrStore(key, rankSQL(candidates, n, idsOnly))
	return sql.(string)
}
