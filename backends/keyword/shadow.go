package keyword

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/shadow"
)

// Shadow returns the backend bound to the shadow table kw_<name>_shadow, with the same language.
// See [backends.Backend] for the rebuild it serves.
func (b *Backend) Shadow() backends.Backend { return b.shadow }

func (b *Backend) isShadow() bool { return b.table == b.names.Shadow }

// CreateShadow creates the shadow table kw_<name>_shadow in tx, like the live table but without
// the GIN index, unless it exists.
func (b *Backend) CreateShadow(ctx context.Context, tx pgx.Tx) error {
	if err := b.shadow.createTable(ctx, tx); err != nil {
		return fmt.Errorf("backend %q: error creating shadow table %s: %w", b.cfg.Name, b.names.Shadow, err)
	}
	return nil
}

// DropShadow drops the shadow table in tx, if it exists.
func (b *Backend) DropShadow(ctx context.Context, tx pgx.Tx) error {
	if err := shadow.Drop(ctx, tx, b.names); err != nil {
		return fmt.Errorf("backend %q: %w", b.cfg.Name, err)
	}
	return nil
}

// IndexShadow builds the shadow table's GIN index, kw_<name>_shadow_document_idx, by CREATE
// INDEX CONCURRENTLY. See [backends.Backend].
func (b *Backend) IndexShadow(ctx context.Context, pool *pgxpool.Pool) error {
	if err := shadow.BuildIndex(ctx, pool, b.names, b.shadow.sql.createIndexConcurrently); err != nil {
		return fmt.Errorf("backend %q: %w", b.cfg.Name, err)
	}
	return nil
}

// ShadowExists reports whether the shadow table exists.
func (b *Backend) ShadowExists(ctx context.Context, q backends.Querier) (bool, error) {
	exists, err := shadow.Exists(ctx, q, b.names.Shadow)
	if err != nil {
		return false, fmt.Errorf("backend %q: %w", b.cfg.Name, err)
	}
	return exists, nil
}

// SwapShadow replaces kw_<name> by kw_<name>_shadow in tx; the shadow's index and primary key
// take the live names, so [Backend.Ensure] finds them. See [backends.Backend].
func (b *Backend) SwapShadow(ctx context.Context, tx pgx.Tx) error {
	if err := shadow.Swap(ctx, tx, b.names); err != nil {
		return fmt.Errorf("backend %q: %w", b.cfg.Name, err)
	}
	return nil
}
