package migrations_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/migrations"
)

// emptyDB returns a pool on a database with nothing migrated.
func emptyDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	// A plain pool: pgtest.New registers the vector type, which this test drops.
	pool, err := pgxpool.New(ctx, pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// pgtest databases come migrated; drop everything to start from nothing.
	for _, q := range []string{"DROP SCHEMA public CASCADE", "CREATE SCHEMA public", "DROP EXTENSION IF EXISTS vector"} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

func TestUpIsIdempotentAndComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDB(t)

	pending, err := migrations.Pending(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 {
		t.Fatal("an empty database reports no pending migrations")
	}
	for range 2 {
		if err := migrations.Up(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	pending, err = migrations.Pending(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("after Up, still pending: %+v", pending)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM osa_migration").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations.All()) {
		t.Fatalf("osa_migration has %d rows, want %d", n, len(migrations.All()))
	}
	for _, table := range []string{"records", "record_versions", "index_state", "harvests", "river_job"} {
		var ok bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Fatalf("table %s missing after Up (err %v)", table, err)
		}
	}
	var ext string
	if err := pool.QueryRow(ctx, "SELECT extname FROM pg_extension WHERE extname = 'vector'").Scan(&ext); err != nil {
		t.Fatalf("vector extension not created: %v", err)
	}
}

func TestUpConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDB(t)

	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Each migrator gets its own pool, as separate processes would.
			p, err := pgxpool.New(ctx, pool.Config().ConnString())
			if err != nil {
				errs[i] = err
				return
			}
			defer p.Close()
			errs[i] = migrations.Up(ctx, p, slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	pending, err := migrations.Pending(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("after concurrent Up, still pending: %+v", pending)
	}
}

func TestAllOrdered(t *testing.T) {
	t.Parallel()
	all := migrations.All()
	for i, m := range all {
		if m.Version != i+1 {
			t.Fatalf("migration %d has version %d: versions must be 1..n without gaps", i, m.Version)
		}
	}
}
