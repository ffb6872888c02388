package catalog_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/internal/pgtest"
)

// Seed fills an empty catalog once; Put, Retire, Promote and NextGeneration move entries
// through their states; Load and Targets read what they wrote.
func TestCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	entry := func(name string) catalog.Entry {
		return catalog.Entry{Name: name, Kind: "keyword", Settings: []byte(`{"name": "` + name + `", "max_attempts": 7}`)}
	}
	if seeded, err := catalog.Seed(ctx, pool, []catalog.Entry{entry("b"), entry("a")}); err != nil || !seeded {
		t.Fatalf("first Seed: %v, %v", seeded, err)
	}
	if seeded, err := catalog.Seed(ctx, pool, []catalog.Entry{entry("c")}); err != nil || seeded {
		t.Fatalf("second Seed: %v, %v; want the catalog left as it is", seeded, err)
	}
	got, err := catalog.Load(ctx, pool)
	if err != nil || len(got) != 2 || got[0].Name != "b" || got[1].Name != "a" || got[0].State != catalog.Live || got[0].Generation != 1 {
		t.Fatalf("Load after Seed: %+v, %v; want b then a (the seed's order), live, generation 1", got, err)
	}

	inTx := func(f func(pgx.Tx) error) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := catalog.Lock(ctx, tx); err != nil {
				return err
			}
			return f(tx)
		}); err != nil {
			t.Fatal(err)
		}
	}
	inTx(func(tx pgx.Tx) error {
		e := entry("c")
		e.State, e.Position = catalog.Building, 2
		return catalog.Put(ctx, tx, e)
	})
	inTx(func(tx pgx.Tx) error {
		targets, err := catalog.Targets(ctx, tx)
		if err != nil || len(targets) != 3 || targets[2] != (catalog.Target{Name: "c", MaxAttempts: 7}) {
			t.Errorf("Targets: %+v, %v; want a, b and the building c, max_attempts 7", targets, err)
		}
		return catalog.Promote(ctx, tx, "c", catalog.Retirement{})
	})
	if _, err := pool.Exec(ctx, `CREATE TABLE t_a_1 (id int)`); err != nil {
		t.Fatal(err)
	}
	inTx(func(tx pgx.Tx) error {
		return catalog.Retire(ctx, tx, "a", 1, catalog.Retirement{Tables: []string{"t_a_1"}})
	})
	inTx(func(tx pgx.Tx) error {
		if err := catalog.Retire(ctx, tx, "a", 1, catalog.Retirement{}); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Retire of a retired backend: %v, want ErrNotFound", err)
		}
		return nil
	})
	// The next generation of b, built beside its live one: one target, then live, and the old one retiring.
	inTx(func(tx pgx.Tx) error {
		e := entry("b")
		e.Generation, e.State, e.Settings = 2, catalog.Building, []byte(`{"max_attempts": 9}`)
		if err := catalog.Put(ctx, tx, e); err != nil {
			return err
		}
		targets, err := catalog.Targets(ctx, tx)
		if err != nil || len(targets) != 2 || targets[0] != (catalog.Target{Name: "b", MaxAttempts: 9}) {
			t.Errorf("Targets with a building generation: %+v, %v; want b once, with the new max_attempts", targets, err)
		}
		return catalog.Promote(ctx, tx, "b", catalog.Retirement{After: time.Hour, Tables: []string{"t_b_1"}})
	})
	got, err = catalog.Load(ctx, pool)
	if err != nil || len(got) != 2 || got[0].Name != "b" || got[0].Generation != 2 || got[0].State != catalog.Live ||
		got[1].Name != "c" || got[1].State != catalog.Live {
		t.Fatalf("Load after the changes: %+v, %v; want b (generation 2) and c, live", got, err)
	}
	inTx(func(tx pgx.Tx) error {
		g, err := catalog.NextGeneration(ctx, tx, "a")
		if err != nil || g != 2 {
			t.Errorf("NextGeneration of a retired backend: %d, %v; want 2", g, err)
		}
		if g, err := catalog.NextGeneration(ctx, tx, "new"); err != nil || g != 1 {
			t.Errorf("NextGeneration of a new name: %d, %v; want 1", g, err)
		}
		return nil
	})
	// a's retirement is due (retire_after 0), b's generation 1 is not (1h): only a's table and row go.
	if _, err := pool.Exec(ctx, `CREATE TABLE t_b_1 (id int)`); err != nil {
		t.Fatal(err)
	}
	dropped, err := catalog.DropRetired(ctx, pool)
	if err != nil || len(dropped) != 1 || dropped[0].Name != "a" || dropped[0].Generation != 1 ||
		!slices.Equal(dropped[0].Tables, []string{"t_a_1"}) {
		t.Fatalf("DropRetired: %+v, %v; want a's generation 1 and its table", dropped, err)
	}
	var left []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(relname::text ORDER BY relname) FROM pg_class WHERE relname IN ('t_a_1', 't_b_1')`).Scan(&left); err != nil ||
		!slices.Equal(left, []string{"t_b_1"}) {
		t.Fatalf("tables after DropRetired: %v, %v; want t_b_1 only", left, err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM backend_catalog WHERE state = 'retiring'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("retiring rows after DropRetired: %d, %v; want 1 (b's generation 1)", rows, err)
	}
	if dropped, err := catalog.DropRetired(ctx, pool); err != nil || len(dropped) != 0 {
		t.Fatalf("DropRetired again: %+v, %v; want nothing", dropped, err)
	}
}
