package jobs

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
)

// namedBackend is a backend with only a name, for the queue arithmetic tests.
type namedBackend struct{ name string }

func named(n string) backends.Backend { return namedBackend{name: n} }

func (b namedBackend) Name() string                              { return b.name }
func (namedBackend) Kind() string                                { return "test" }
func (namedBackend) Model() string                               { return "" }
func (namedBackend) Dims() int                                   { return 0 }
func (namedBackend) Ensure(context.Context, *pgxpool.Pool) error { return nil }
func (namedBackend) Prepare(_ context.Context, d []backends.Document) []error {
	return make([]error, len(d))
}
func (namedBackend) IngestBatch(_ context.Context, _ pgx.Tx, d []backends.Document) []error {
	return make([]error, len(d))
}
func (namedBackend) DeleteBatch(context.Context, pgx.Tx, []uuid.UUID) error { return nil }
func (namedBackend) Health(context.Context, *pgxpool.Pool) error            { return nil }

func (namedBackend) Search(context.Context, *pgxpool.Pool, backends.Query) ([]backends.Hit, error) {
	return nil, nil
}

func (b namedBackend) Shadow() backends.Backend                                   { return b }
func (namedBackend) CreateShadow(context.Context, pgx.Tx) error                   { return nil }
func (namedBackend) IndexShadow(context.Context, *pgxpool.Pool) error             { return nil }
func (namedBackend) SwapShadow(context.Context, pgx.Tx) error                     { return nil }
func (namedBackend) DropShadow(context.Context, pgx.Tx) error                     { return nil }
func (namedBackend) ShadowExists(context.Context, backends.Querier) (bool, error) { return false, nil }
