package keyword

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/shadow"
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
// shadow's; the live ones are dropped, or kept as generation retireAs's retired tables, whose
// names it returns. See [backends.Rebuilder].
func (b *Backend) SwapShadow(ctx context.Context, tx pgx.Tx, retireAs int) ([]string, error) {
	retired, err := b.Ops.SwapShadow(ctx, tx, retireAs)
	if err != nil {
		return nil, err
	}
	// The tables' locks are held: every writer of the statistics writes the table first.
	stats, err := shadow.Replace(ctx, tx, b.statsNames, retireAs)
	if err != nil {
		return nil, fmt.Errorf("backend %q: error swapping %s for %s: %w", b.cfg.Name, b.statsNames.Shadow, b.statsNames.Live, err)
	}
	return appendName(retired, stats), nil
}

// Retire renames the live table and statistics to generation's retired tables in tx and returns
// their names. See [backends.Rebuilder].
func (b *Backend) Retire(ctx context.Context, tx pgx.Tx, generation int) ([]string, error) {
	retired, err := b.Ops.Retire(ctx, tx, generation)
	if err != nil {
		return nil, err
	}
	stats, err := shadow.Retire(ctx, tx, b.statsNames, generation)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", b.cfg.Name, err)
	}
	return appendName(retired, stats), nil
}

// appendName appends name to names unless it is "".
func appendName(names []string, name string) []string {
	if name == "" {
		return names
	}
	return append(names, name)
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
