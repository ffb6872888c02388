package search_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/search/where"
)

// The declared number and date fields get btree indexes, built online, that the statements of
// a browse's sort and of range filters can use (their expressions match); a run again is a
// no-op, and an index left invalid by an interrupted build is built again.
func TestEnsureFieldIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := facetSetup(t, search.Config{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	fields := where.GEOFields()
	want := search.FieldIndexes(fields)
	if len(want) != 3 {
		t.Fatalf("%d indexes for GEO's fields, want 3 (pub_date both ways, sample_count)", len(want))
	}
	if err := search.EnsureFieldIndexes(ctx, b.pool, fields, logger); err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]bool {
		rows, _ := b.pool.Query(ctx, `SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE c.relname LIKE 'records_field_%'`)
		out := map[string]bool{}
		var (
			name string
			ok   bool
		)
		_, _ = pgx.ForEachRow(rows, []any{&name, &ok}, func() error { out[name] = ok; return nil })
		return out
	}
	got := valid()
	for _, ix := range want {
		if !got[ix.Name] {
			t.Fatalf("index %s missing or invalid: %v", ix.Name, got)
		}
	}

	// The planner can use them for the service's own expressions (scans and sorts forbidden, so
	// an index that does not match would show as a failure to plan without them).
	pubDate, _ := where.MustFields(fields).Lookup("pub_date")
	sampleCount, _ := where.MustFields(fields).Lookup("sample_count")
	named := func(prefix string) string {
		for _, ix := range want {
			if strings.HasPrefix(ix.Name, prefix) {
				return ix.Name
			}
		}
		t.Fatalf("no index named %s…", prefix)
		return ""
	}
	for _, c := range []struct{ sql, index string }{
		{"SELECT r.id FROM records r WHERE r.deleted_at IS NULL ORDER BY " + where.ValueSQL(pubDate, "r") + " DESC NULLS LAST, r.id LIMIT 10",
			named("records_field_pub_date_desc_")},
		{"SELECT r.id FROM records r WHERE r.deleted_at IS NULL AND " + where.ValueSQL(sampleCount, "r") + " >= 10 ORDER BY " +
			where.ValueSQL(sampleCount, "r") + " ASC NULLS LAST, r.id LIMIT 10", named("records_field_sample_count_asc_")},
	} {
		var plan strings.Builder
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN "+c.sql)
			if err != nil {
				return err
			}
			var line string
			_, err = pgx.ForEachRow(rows, []any{&line}, func() error { plan.WriteString(line + "\n"); return nil })
			return err
		})
		if err != nil || !strings.Contains(plan.String(), c.index) {
			t.Fatalf("%v; the plan of\n%s\nuses no %s:\n%s", err, c.sql, c.index, plan.String())
		}
	}

	// An interrupted build's invalid index is built again.
	sc := named("records_field_sample_count_asc_")
	if _, err := b.pool.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass`, sc); err != nil {
		t.Fatal(err)
	}
	if err := search.EnsureFieldIndexes(ctx, b.pool, fields, logger); err != nil {
		t.Fatal(err)
	}
	if got := valid(); !got[sc] || len(got) != 3 {
		t.Fatalf("after a run over an invalid index: %v", got)
	}
}
