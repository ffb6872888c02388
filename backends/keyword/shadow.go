package keyword

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
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
