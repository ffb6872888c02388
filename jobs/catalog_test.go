package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// seedCatalog puts bs in the backend catalog, live, as a server does at its first start: the
// fan-out reads its targets from the catalog.
func seedCatalog(t testing.TB, pool *pgxpool.Pool, bs []pipeline.BackendConfig) {
	t.Helper()
	entries := make([]catalog.Entry, len(bs))
	for i, b := range bs {
		entries[i] = catalog.Entry{Name: b.Backend.Name(), Generation: 1, Kind: b.Backend.Kind(),
			Settings: fmt.Appendf(nil, `{"name": %q, "kind": %q, "max_attempts": %d}`, b.Backend.Name(), b.Backend.Kind(), b.MaxAttempts)}
	}
	if _, err := catalog.Seed(context.Background(), pool, entries); err != nil {
		t.Fatal(err)
	}
}
