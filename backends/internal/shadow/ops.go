package shadow

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
)

// Ops are the shadow methods of [backends.Backend] that are the same for every backend kind:
// dropping, indexing, finding and swapping in the shadow table, and retiring the live one. A backend embeds them and adds
// CreateShadow, whose table is its own.
type Ops struct {
	backend     string // the backend's name, for errors
	names       Names
	createIndex string // the CREATE INDEX CONCURRENTLY statement of the shadow's search index
}

// NewOps returns the shadow methods of the backend named backend, whose relations are names and
// whose shadow search index createIndex builds (CREATE INDEX CONCURRENTLY IF NOT EXISTS).
func NewOps(backend string, names Names, createIndex string) Ops {
	return Ops{backend: backend, names: names, createIndex: createIndex}
}

// DropShadow drops the shadow table in tx, if it exists.
func (o Ops) DropShadow(ctx context.Context, tx pgx.Tx) error {
	return o.wrap(Drop(ctx, tx, o.names))
}

// IndexShadow builds the shadow table's search index by CREATE INDEX CONCURRENTLY. See
// [backends.Backend].
func (o Ops) IndexShadow(ctx context.Context, pool *pgxpool.Pool) error {
	return o.wrap(BuildIndex(ctx, pool, o.names, o.createIndex))
}

// ShadowExists reports whether the shadow table exists.
func (o Ops) ShadowExists(ctx context.Context, q backends.Querier) (bool, error) {
	exists, err := Exists(ctx, q, o.names.Shadow)
	return exists, o.wrap(err)
}

// SwapShadow replaces the live table by the shadow table in tx; the shadow's index and primary
// key take the live names, so the backend's Ensure finds them. The live table is dropped, or
// kept as generation retireAs's retired table, whose name it returns. See [backends.Rebuilder].
func (o Ops) SwapShadow(ctx context.Context, tx pgx.Tx, retireAs int) ([]string, error) {
	retired, err := Swap(ctx, tx, o.names, retireAs)
	return tables(retired), o.wrap(err)
}

// Retire renames the live table to generation's retired table in tx and returns its name; none
// when there is no live table. See [backends.Rebuilder].
func (o Ops) Retire(ctx context.Context, tx pgx.Tx, generation int) ([]string, error) {
	retired, err := Retire(ctx, tx, o.names, generation)
	return tables(retired), o.wrap(err)
}

// tables is the list of the one table named, none for "".
func tables(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}

// wrap names the backend in err; nil stays nil.
func (o Ops) wrap(err error) error {
	if err != nil {
		return fmt.Errorf("backend %q: %w", o.backend, err)
	}
	return nil
}
