package keyword

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/internal/pgtest"
)

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		b, err := New(Config{Name: "keyword"})
		if err != nil {
			t.Fatal(err)
		}
		if b.Language() != "english" || b.cfg.Text.MaxChars != backends.TextMaxCharsDefault {
			t.Fatalf("defaults not applied: %+v", b.cfg)
		}
		if b.Name() != "keyword" || b.Kind() != backends.KindKeyword || b.Model() != "" || b.Dims() != 0 || b.Table() != "kw_keyword" {
			t.Fatalf("accessors: %s %s %q %d %s", b.Name(), b.Kind(), b.Model(), b.Dims(), b.Table())
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			cfg  Config
			want string
		}{
			{Config{Name: "Keyword"}, `name "Keyword" is not valid`},
			{Config{Name: "kw_shadow"}, `name "kw_shadow" is reserved`},
			{Config{Name: "kw_shadow_document_idx"}, `name "kw_shadow_document_idx" is reserved`},
			{Config{Name: "kw", Language: "english'; DROP TABLE records; --"}, "is not a text search configuration name"},
			{Config{Name: "kw", Language: "English"}, "is not a text search configuration name"},
			{Config{Name: "kw", Text: backends.TextConfig{MaxChars: backends.TextMaxCharsMax + 1}}, "text.max_chars"},
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
		bundle := setup(t, Config{})
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				b, err := New(Config{Name: "keyword"})
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

	t.Run("CreatesGINIndex", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		var def string
		err := bundle.pool.QueryRow(context.Background(),
			`SELECT indexdef FROM pg_indexes WHERE tablename = 'kw_keyword' AND indexname = 'kw_keyword_document_idx'`).Scan(&def)
		if err != nil || !strings.Contains(def, "USING gin (document)") {
			t.Fatalf("index %q, err %v", def, err)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		bundle.ingest(t, testDocs(5, 1))
		bundle.ensure(t)
		if n := len(bundle.versions(t)); n != 5 {
			t.Fatalf("%d rows after a second Ensure, want 5", n)
		}
	})

	t.Run("OtherLanguage", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{Language: "german"})
		bundle.ensure(t)
		docs := []backends.Document{{RecordID: uuid.New(), Version: 1, Metadata: map[string]any{"title": "Die Häuser"}}}
		bundle.ingest(t, docs)
		if !bundle.matches(t, docs[0].RecordID, "german", "Haus") {
			t.Fatal("german stemming not applied")
		}
	})

	t.Run("UnknownLanguage", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{Language: "klingon"})
		err := bundle.backend.Ensure(context.Background(), bundle.pool)
		if err == nil || !strings.Contains(err.Error(), `backend "keyword": backends[].language "klingon" is not a text search configuration`) ||
			!strings.Contains(err.Error(), "english") {
			t.Fatalf("err = %v", err)
		}
		if err := bundle.backend.Health(context.Background(), bundle.pool); err == nil {
			t.Fatal("the table was created despite the unknown language")
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{})
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

	b, err := New(Config{Name: "keyword"})
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(3, 1)
	docs[1].Metadata = map[string]any{"count": 3}
	errs := b.Prepare(context.Background(), docs)
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("errs = %v", errs)
	}
	if !indexerr.IsNoText(errs[1]) || !strings.Contains(errs[1].Error(), "record has no text to index in fields title, summary") {
		t.Fatalf("errs[1] = %v", errs[1])
	}
}

func TestIngestBatch(t *testing.T) {
	t.Parallel()

	t.Run("Batch200", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		docs := testDocs(200, 1)
		for i := range docs {
			docs[i].Version = i%3 + 1
		}
		errs := bundle.ingest(t, docs)
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got := bundle.versions(t)
		if len(got) != 200 {
			t.Fatalf("%d rows, want 200", len(got))
		}
		for _, d := range docs {
			if got[d.RecordID] != d.Version {
				t.Fatalf("record %s at version %d, want %d", d.RecordID, got[d.RecordID], d.Version)
			}
		}
	})

	t.Run("DuplicateRecordInBatch", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		docs := testDocs(3, 2)
		dup := docs[0]
		dup.Version = 1
		dup.Metadata = map[string]any{"title": "obsolete heading"}
		docs = append([]backends.Document{dup}, append(docs, docs[1])...)
		for i, err := range bundle.ingest(t, docs) {
			if err != nil {
				t.Fatalf("errs[%d] = %v", i, err)
			}
		}
		got := bundle.versions(t)
		if len(got) != 3 || got[dup.RecordID] != 2 {
			t.Fatalf("rows = %v, want 3 rows and %s at version 2", got, dup.RecordID)
		}
		if bundle.matches(t, dup.RecordID, "english", "obsolete") {
			t.Fatal("the older duplicate's text was written")
		}
	})

	t.Run("EmptyText", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		docs := testDocs(2, 1)
		docs[0].Metadata = map[string]any{"nested": map[string]any{"title": "x"}}
		errs := bundle.ingest(t, docs)
		if !indexerr.IsNoText(errs[0]) || errs[1] != nil {
			t.Fatalf("errs = %v", errs)
		}
	})

	t.Run("TsvectorTooLongIsolated", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{Text: backends.TextConfig{MaxChars: backends.TextMaxCharsMax}})
		bundle.ensure(t)
		docs := testDocs(4, 1)
		// ~110k distinct Cyrillic words of 2-byte letters: over the 1 MB of lexemes a tsvector holds.
		rng := rand.New(rand.NewPCG(1, 2))
		var sb strings.Builder
		for sb.Len() < 2*backends.TextMaxCharsMax-40 {
			for range 8 {
				sb.WriteRune(rune('а' + rng.IntN(32)))
			}
			sb.WriteByte(' ')
		}
		docs[2].Metadata["summary"] = sb.String()
		errs := bundle.ingest(t, docs)
		for i, err := range errs {
			if bad := i == 2; bad != indexerr.IsPermanent(err) || !bad && err != nil {
				t.Fatalf("errs[%d] = %v", i, err)
			}
		}
		if !strings.Contains(errs[2].Error(), "too long for tsvector") {
			t.Fatalf("errs[2] = %v", errs[2])
		}
		if n := len(bundle.versions(t)); n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
	})

	t.Run("TitleRankedAboveSummary", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		inTitle := backends.Document{RecordID: uuid.New(), Version: 1, Metadata: map[string]any{
			"title": "Zebrafish fin regeneration", "summary": "Expression profiling of adult tissue."}}
		inSummary := backends.Document{RecordID: uuid.New(), Version: 1, Metadata: map[string]any{
			"title": "Adult tissue expression profiling", "summary": "Samples from zebrafish fins."}}
		neither := backends.Document{RecordID: uuid.New(), Version: 1, Metadata: map[string]any{"title": "Mouse liver"}}
		bundle.ingest(t, []backends.Document{inSummary, neither, inTitle})

		if !bundle.matches(t, inTitle.RecordID, "english", "regeneration") {
			t.Fatal("the title's words do not match")
		}
		rows, err := bundle.pool.Query(context.Background(), `
SELECT record_id FROM kw_keyword, websearch_to_tsquery('english', 'zebrafish') q
WHERE document @@ q
ORDER BY ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', document, q) DESC`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != inTitle.RecordID || got[1] != inSummary.RecordID {
			t.Fatalf("ranking = %v, want [%s %s]", got, inTitle.RecordID, inSummary.RecordID)
		}
	})

	t.Run("VersionGuardNewerKept", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		id := uuid.New()
		bundle.ingest(t, []backends.Document{{RecordID: id, Version: 2, Metadata: map[string]any{"title": "newer"}}})
		errs := bundle.ingest(t, []backends.Document{{RecordID: id, Version: 1, Metadata: map[string]any{"title": "older"}}})
		if errs[0] != nil {
			t.Fatalf("an older version is not an error, got %v", errs[0])
		}
		if got := bundle.versions(t)[id]; got != 2 || !bundle.matches(t, id, "english", "newer") {
			t.Fatalf("version %d, want 2 with its text", got)
		}
	})

	t.Run("VersionGuardOlderReplaced", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t, Config{})
		bundle.ensure(t)
		id := uuid.New()
		bundle.ingest(t, []backends.Document{{RecordID: id, Version: 1, Metadata: map[string]any{"title": "older"}}})
		bundle.ingest(t, []backends.Document{{RecordID: id, Version: 2, Metadata: map[string]any{"title": "newer"}}})
		if got := bundle.versions(t)[id]; got != 2 || !bundle.matches(t, id, "english", "newer") || bundle.matches(t, id, "english", "older") {
			t.Fatalf("version %d, want 2 with its text only", got)
		}
	})
}

func TestDeleteBatch(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{})
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

type testBundle struct {
	backend *Backend
	pool    *pgxpool.Pool
}

// setup returns a backend "keyword" configured by cfg (Name filled in) and a pool on a fresh
// database. The table is not ensured.
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	cfg.Name = "keyword"
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{backend: b, pool: pgtest.New(t)}
}

func (tb *testBundle) ensure(t *testing.T) {
	t.Helper()
	if err := tb.backend.Ensure(context.Background(), tb.pool); err != nil {
		t.Fatal(err)
	}
}

// ingest writes docs in one transaction and returns IngestBatch's errors.
func (tb *testBundle) ingest(t *testing.T, docs []backends.Document) []error {
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

// matches reports whether the stored document of id matches websearch_to_tsquery(lang, query).
func (tb *testBundle) matches(t *testing.T, id uuid.UUID, lang, query string) bool {
	t.Helper()
	var ok bool
	err := tb.pool.QueryRow(context.Background(),
		"SELECT document @@ websearch_to_tsquery($2::regconfig, $3) FROM "+tb.backend.Table()+" WHERE record_id = $1",
		id, lang, query).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
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
