package search_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/internal/pgtest"
)

// Exact and approximate vector searches never share a prepared statement. PostgreSQL keeps a
// statement's cached plan whatever enable_indexscan says later, so a shared statement would
// answer exact searches from the HNSW index, or approximate ones with a full scan.
func TestVectorExactOwnStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	cfg, err := pgxpool.ParseConfig(pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = b.pool.Config().ConnConfig.Database
	cfg.MaxConns = 1 // every search on one connection, so on one statement cache
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	for range 7 { // past PostgreSQL's five custom plans, into its generic one
		for _, exact := range []bool{false, true} {
			if _, err := b.vec.Search(ctx, pool, backends.Query{Text: "zebrafish heart", Limit: 5, Exact: exact}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, err := pool.Query(ctx, "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%'", "ORDER BY v.embedding")
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 || strings.Contains(stmts[0], "exact") == strings.Contains(stmts[1], "exact") {
		t.Fatalf("the searches prepared %d statements, want one approximate and one exact: %q", len(stmts), stmts)
	}
}
