package keyword

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
)

// Shadow returns the backend bound to the shadow table kw_<name>_shadow (and its statistics
// kws_<name>_shadow), with the same language. See [backends.Backend] for the rebuild it serves.
func (b *Backend) Shadow() backends.Backend { return b.shadow }

func (b *Backend) isShadow() bool { return b.table == b.names.Shadow }

// CreateShadow creates the shadow table kw_<name>_shadow in tx, like the live table but without
// the GIN index, and its statistics table, unless they exist.
func (b *Backend) CreateShadow(ctx context.Context, tx pgx.Tx) error {
	if err := b.shadow.createTable(ctx, tx); err != nil {
		return fmt.Errorf("backend %q: error creating shadow table %s: %w", b.cfg.Name, b.names.Shadow, err)
	}
	return nil
}

// SwapShadow replaces the live table by the shadow table in tx, and the live statistics by the
// shadow's. See [backends.Backend].
func (b *Backend) SwapShadow(ctx context.Context, tx pgx.Tx) error {
	if err := b.Ops.SwapShadow(ctx, tx); err != nil {
		return err
	}
	// The tables' locks are held: every writer of the statistics writes the table first.
	s := b.statsNames
	_, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+s.Live+";\n"+
		"ALTER TABLE "+s.Shadow+" RENAME TO "+s.Live+";\n"+
		"ALTER INDEX "+s.Shadow+"_idx RENAME TO "+s.Live+"_idx")
	if err != nil {
		return fmt.Errorf("backend %q: error swapping %s for %s: %w", b.cfg.Name, s.Shadow, s.Live, err)
	}
	return nil
}

// IndexShadow builds the shadow table's GIN index (see [backends.Backend]), then sums up the
// shadow's statistics, which the rebuild wrote as many rows of changes.
func (b *Backend) IndexShadow(ctx context.Context, pool *pgxpool.Pool) error {
	if err := b.Ops.IndexShadow(ctx, pool); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, b.shadow.sql.compact); err != nil {
		return fmt.Errorf("backend %q: error compacting %s: %w", b.cfg.Name, b.statsNames.Shadow, err)
	}
	return nil
}

// DropShadow drops the shadow table and its statistics in tx, if they exist.
func (b *Backend) DropShadow(ctx context.Context, tx pgx.Tx) error {
	if err := b.Ops.DropShadow(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+b.statsNames.Shadow); err != nil {
		return fmt.Errorf("backend %q: error dropping %s: %w", b.cfg.Name, b.statsNames.Shadow, err)
	}
	return nil
}
