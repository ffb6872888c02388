// Package backendtest has the database helpers the backend kinds' tests share: records to join,
// and the catalog facts a rebuild's tests check (rows, indexes, their validity).
package backendtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
)

// Count returns the number of rows of table.
func Count(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Index returns the oid of the index named name and whether it is valid; it fails t when there is
// none.
func Index(t testing.TB, pool *pgxpool.Pool, name string) (oid uint32, valid bool) {
	t.Helper()
	err := pool.QueryRow(context.Background(),
		`SELECT indexrelid::oid, indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, name).Scan(&oid, &valid)
	if err != nil {
		t.Fatalf("index %s: %v", name, err)
	}
	return oid, valid
}

// Indexes returns the names of table's indexes, in order.
func Indexes(t testing.TB, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, table)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Invalidate marks the index named name invalid, as an interrupted CREATE INDEX CONCURRENTLY
// leaves it. The test cluster's user is a superuser, who may write the catalog.
func Invalidate(t testing.TB, pool *pgxpool.Pool, name string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)`, name); err != nil {
		t.Fatal(err)
	}
	if _, valid := Index(t, pool, name); valid {
		t.Fatal("the index is still valid")
	}
}

// PrimaryKey returns the name of table's primary key constraint.
func PrimaryKey(t testing.TB, pool *pgxpool.Pool, table string) string {
	t.Helper()
	var name string
	err := pool.QueryRow(context.Background(),
		`SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, table).Scan(&name)
	if err != nil {
		t.Fatalf("primary key of %s: %v", table, err)
	}
	return name
}

// Publish writes docs as the current versions of their records (searches join records) and
// returns them.
func Publish(t testing.TB, pool *pgxpool.Pool, docs []backends.Document) []backends.Document {
	t.Helper()
	ids := make([]uuid.UUID, len(docs))
	versions := make([]int32, len(docs))
	metas := make([]string, len(docs))
	for i, d := range docs {
		m, err := json.Marshal(d.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		ids[i], versions[i], metas[i] = d.RecordID, int32(d.Version), string(m)
	}
	_, err := pool.Exec(context.Background(), `
INSERT INTO records (id, version, metadata)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[]::jsonb[])
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, metadata = EXCLUDED.metadata`, ids, versions, metas)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// WaitForIndexBuild waits until an index build on table is under way.
func WaitForIndexBuild(t testing.TB, pool *pgxpool.Pool, table string) {
	t.Helper()
	for range 200 {
		var n int
		err := pool.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_progress_create_index WHERE relid = to_regclass($1)`, table).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no index build on %s started", table)
}
