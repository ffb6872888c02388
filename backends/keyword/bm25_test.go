package keyword

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/backendtest"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want parsedQuery
	}{
		{"heart regeneration", parsedQuery{Text: "heart regeneration"}},
		{`"heart regeneration" zebrafish`, parsedQuery{Text: "heart regeneration zebrafish", Phrases: []string{"heart regeneration"}}},
		{`heart -mouse -"cell line"`, parsedQuery{Text: "heart", Excluded: []string{"mouse", "cell line"}}},
		{"heart OR liver", parsedQuery{Text: "heart liver"}},
		{"G - quadruplex", parsedQuery{Text: "G - quadruplex"}},                                          // a stand-alone "-" separates
		{"PKG-1 6-month -1", parsedQuery{Text: "PKG-1 6-month -1"}},                                      // hyphens and signs stay for the parser
		{`"unclosed phrase`, parsedQuery{Text: "unclosed phrase", Phrases: []string{"unclosed phrase"}}}, // runs to the end
		{`"" - -- " "`, parsedQuery{Text: "- --"}},
		{"", parsedQuery{}},
	} {
		if got := parseQuery(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseQuery(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestQuoteLexeme(t *testing.T) {
	t.Parallel()
	bundle := setup(t, Config{})
	for _, lex := range []string{"plain", "it's", `back\slash`, "a:b", "x|y", "!not", "g-quadruplex"} {
		var got string
		if err := bundle.pool.QueryRow(context.Background(), `SELECT (tsvector_to_array(strip($1::tsquery::text::tsvector)))[1]`,
			quoteLexeme(lex)).Scan(&got); err != nil || got != lex {
			t.Errorf("quoteLexeme(%q) = %s reads back as %q, %v", lex, quoteLexeme(lex), got, err)
		}
	}
}

// TestTermFrequency checks that the term frequencies searchSQL decodes from ts_rank are those of
// the tsvector, for every lexeme of documents whose words repeat up to 300 times (a tsvector
// keeps 256 positions of a lexeme), in the title, the body or both.
func TestTermFrequency(t *testing.T) {
	t.Parallel()
	bundle := setup(t, Config{})
	bundle.ensure(t)
	r := rand.New(rand.NewPCG(1, 2))
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega")
	docs := testDocs(60, 1)
	for i := range docs {
		title, body := []string{}, []string{"omega"}
		for range r.IntN(8) {
			title = append(title, vocab[r.IntN(len(vocab))])
		}
		for range r.IntN(300) {
			w := vocab[r.IntN(len(vocab))]
			for range r.IntN(1 + i) {
				body = append(body, w)
			}
		}
		docs[i].Metadata = map[string]any{"title": strings.Join(title, " "), "summary": strings.Join(body, " ")}
	}
	if err := errors.Join(bundle.ingest(t, docs)...); err != nil {
		t.Fatal(err)
	}
	decode := func(weights string) string {
		return strings.NewReplacer("{W}", weights, "c.document", "k.document", "($4::tsquery[])[{i}]", "quote_literal(u.lexeme)::tsquery").Replace(tfSQL)
	}
	var checked, bad int
	rows, err := bundle.pool.Query(context.Background(), `
SELECT u.lexeme, cardinality(u.positions), cardinality(array_positions(u.weights, 'A')),
       `+decode("{1,1,1,1}")+`, `+decode("{0,0,0,1}")+`
FROM kw_keyword k, unnest(k.document) u`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		lex             string
		tf, tfTitle     int
		gotTF, gotTitle float64
	)
	_, err = pgx.ForEachRow(rows, []any{&lex, &tf, &tfTitle, &gotTF, &gotTitle}, func() error {
		checked++
		if int(gotTF) != tf || int(gotTitle) != tfTitle {
			bad++
			if bad < 5 {
				t.Errorf("%s: tf %d (title %d) decoded as %v (title %v)", lex, tf, tfTitle, gotTF, gotTitle)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 300 || bad > 0 {
		t.Fatalf("%d of %d term frequencies decoded wrong", bad, checked)
	}
}

// TestStatistics checks that the statistics always equal those computed afresh from the
// table, through concurrent inserts, updates and deletes and the compactions among them.
func TestStatistics(t *testing.T) {
	t.Parallel()
	bundle := setup(t, Config{})
	bundle.ensure(t)
	ctx := context.Background()
	words := strings.Fields("heart liver kidney brain lung blood bone skin gut eye")
	doc := func(id uuid.UUID, version int, r *rand.Rand) backends.Document {
		var ws []string
		for range 1 + r.IntN(12) {
			ws = append(ws, words[r.IntN(len(words))])
		}
		return backends.Document{RecordID: id, Version: version, Metadata: map[string]any{"title": ws[0], "summary": strings.Join(ws, " ")}}
	}
	// Four writers, each with its own records (the job layer serialises the writes of one
	// record), 40 batches each: new records, new versions of older ones, deletes.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range errs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			var mine []uuid.UUID
			for batch := range 40 {
				err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error {
					var docs []backends.Document
					for range 5 {
						id := uuid.New()
						mine = append(mine, id)
						docs = append(docs, doc(id, 1, r))
					}
					if len(mine) > 10 {
						docs = append(docs, doc(mine[r.IntN(len(mine)-5)], 2+batch, r))
					}
					if err := errors.Join(bundle.backend.IngestBatch(ctx, tx, docs)...); err != nil {
						return err
					}
					if batch%3 == 2 {
						return bundle.backend.DeleteBatch(ctx, tx, []uuid.UUID{mine[r.IntN(len(mine))]})
					}
					return nil
				})
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	bundle.checkStats(t)
	if _, err := bundle.pool.Exec(ctx, bundle.backend.sql.compact); err != nil {
		t.Fatal(err)
	}
	bundle.checkStats(t)
	var rows, lexemes int
	if err := bundle.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT lexeme) FROM kws_keyword`).Scan(&rows, &lexemes); err != nil {
		t.Fatal(err)
	}
	if rows != lexemes {
		t.Fatalf("%d rows of statistics for %d lexemes after a compaction", rows, lexemes)
	}

	// Statistics missing beside a table written before they existed are computed by Ensure.
	if _, err := bundle.pool.Exec(ctx, `DROP TABLE kws_keyword`); err != nil {
		t.Fatal(err)
	}
	bundle.ensure(t)
	bundle.checkStats(t)
}

// checkStats fails t unless the statistics add up to those of the table's documents.
func (tb *testBundle) checkStats(t *testing.T) {
	t.Helper()
	var diff []string
	rows, err := tb.pool.Query(context.Background(), `
WITH truth AS (
    SELECT l AS lexeme, count(*) AS docs, 0::numeric AS size FROM kw_keyword, unnest(tsvector_to_array(document)) l GROUP BY l
    UNION ALL SELECT '', count(*), coalesce(sum(length(document)), 0) FROM kw_keyword
), kept AS (
    SELECT lexeme, sum(docs) AS docs, sum(size) AS size FROM kws_keyword GROUP BY lexeme HAVING sum(docs) <> 0 OR lexeme = ''
)
SELECT coalesce(t.lexeme, k.lexeme) || ': ' || coalesce(t.docs, 0) || '/' || coalesce(t.size, 0) || ' kept as ' ||
       coalesce(k.docs, 0) || '/' || coalesce(k.size, 0)
FROM truth t FULL JOIN kept k ON k.lexeme = t.lexeme
WHERE t.docs IS DISTINCT FROM k.docs OR t.size IS DISTINCT FROM k.size`)
	if err != nil {
		t.Fatal(err)
	}
	diff, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) > 0 {
		t.Fatalf("statistics differ from the table's: %v", diff)
	}
}

func TestSearchRanking(t *testing.T) {
	t.Parallel()
	bundle := setup(t, Config{})
	bundle.ensure(t)
	texts := []struct{ title, summary string }{
		{"Zebrafish heart regeneration", "Cardiomyocytes proliferate after injury in the zebrafish heart."},
		{"Mouse heart development", "Heart development in mouse embryos."},
		{"G-quadruplex structures in promoters", "G-quadruplexes regulate transcription."},
		{"Liver fibrosis after 6-month follow-up", "Patients were followed for six months."},
		{"Kidney organoids", "Organoids of the mouse kidney from stem cells."},
		{"Bone marrow niche", "Stem cells in the bone marrow niche."},
	}
	docs := testDocs(len(texts), 1)
	for i, tx := range texts {
		docs[i].Metadata = map[string]any{"title": tx.title, "summary": tx.summary}
	}
	docs = backendtest.Publish(t, bundle.pool, docs)
	if err := errors.Join(bundle.ingest(t, docs)...); err != nil {
		t.Fatal(err)
	}
	titleOf := func(h backends.Hit) string {
		for i, d := range docs {
			if d.RecordID == h.RecordID {
				return texts[i].title
			}
		}
		return "?"
	}
	search := func(q string) []string {
		var out []string
		for _, h := range bundle.search(t, bundle.pool, bundle.backend, q) {
			out = append(out, titleOf(h))
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string // the hits, best first; nil for none
	}{
		// Words are alternatives; more and rarer words rank first.
		{"zebrafish heart", []string{"Zebrafish heart regeneration", "Mouse heart development"}},
		{"presence of heart regeneration in zebrafish", []string{"Zebrafish heart regeneration", "Mouse heart development"}},
		// A phrase is required as written; one no record has is read as its words.
		{`"heart development"`, []string{"Mouse heart development"}},
		// -word excludes.
		{"heart -zebrafish", []string{"Mouse heart development"}},
		{"stem cells -\"bone marrow\"", []string{"Kidney organoids"}},
		// A stand-alone "-" separates; hyphenated forms match their parts and the whole.
		{"G - quadruplex", []string{"G-quadruplex structures in promoters"}},
		{"quadruplex", []string{"G-quadruplex structures in promoters"}},
		{"6-month", []string{"Liver fibrosis after 6-month follow-up"}},
		// No word in the index, only stop words, only exclusions, nothing: no hits.
		{"qwertyuiop", nil},
		{"the of and", nil},
		{"-heart", nil},
		{"%", nil},
	} {
		if got := search(tt.query); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("search %q = %q, want %q", tt.query, got, tt.want)
		}
	}
	// A phrase no record has is read as its words.
	if got, want := search(`"regeneration mouse"`), search("regeneration mouse"); len(want) < 2 || !reflect.DeepEqual(got, want) {
		t.Errorf(`search "regeneration mouse" in quotes = %q, want %q`, got, want)
	}
}

// TestSearchCandidates checks the bound on the work of a search: with Candidates 10, a query
// whose rarest word is in 5 records and whose other word is in all 40 scores only the 5.
func TestSearchCandidates(t *testing.T) {
	t.Parallel()
	bundle := setup(t, Config{Candidates: 10})
	bundle.ensure(t)
	docs := testDocs(40, 1)
	for i := range docs {
		title := fmt.Sprintf("common record %d", i)
		if i%8 == 0 {
			title += " rare"
		}
		docs[i].Metadata = map[string]any{"title": title}
	}
	docs = backendtest.Publish(t, bundle.pool, docs)
	if err := errors.Join(bundle.ingest(t, docs)...); err != nil {
		t.Fatal(err)
	}
	if n := len(bundle.search(t, bundle.pool, bundle.backend, "rare common")); n != 5 {
		t.Fatalf("%d hits for rare common with candidates 10, want the 5 rare ones", n)
	}
	// The rarest word always finds candidates, at most Candidates of them.
	if n := len(bundle.search(t, bundle.pool, bundle.backend, "common")); n != 10 {
		t.Fatalf("%d hits for common with candidates 10, want 10", n)
	}
}
