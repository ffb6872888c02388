package pgvector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/shadow"
)

// Shadow returns the backend bound to the shadow table vec_<name>_shadow, with the same embedder.
// See [backends.Backend] for the rebuild it serves.
func (b *Backend) Shadow() backends.Backend { return b.shadow }

func (b *Backend) isShadow() bool { return b.table == b.names.Shadow }

// CreateShadow creates the shadow table vec_<name>_shadow in tx, like the live table but without
// the HNSW index, unless it exists. An existing shadow table must hold the embedder's vector
// length and model (or no rows), as [Backend.Ensure] checks of the live table; otherwise it is
// left from a rebuild with other settings and CreateShadow fails.
func (b *Backend) CreateShadow(ctx context.Context, tx pgx.Tx) error {
	sh := b.shadow
	err := func() error {
		if _, err := tx.Exec(ctx, lockSQL, sh.table); err != nil {
			return err
		}
		exists, err := shadow.Exists(ctx, tx, sh.table)
		if err != nil {
			return err
		}
		if exists {
			if err := sh.checkTable(ctx, tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sh.sql.addTextHash)
			return err
		}
		_, err = tx.Exec(ctx, sh.sql.createTable)
		return err
	}()
	var mismatch *mismatchError
	if err != nil && !errors.As(err, &mismatch) {
		return fmt.Errorf("backend %q: error creating shadow table %s: %w", b.cfg.Name, sh.table, err)
	}
	return err
}
