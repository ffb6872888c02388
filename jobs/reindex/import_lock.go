package reindex

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/internal/pglock"
)

// importLockName names the advisory lock an import holds while it writes records. An import
// writes records without index jobs and then rebuilds every backend, whose scan, in id order,
// reads them. A rebuild that started while the import wrote may already have scanned past the
// ids of records the import writes later, and the import's own rebuild would then be that one,
// still running: those records would be missed. So an import holds this lock, alone, from
// before it checks that no rebuild runs until its writes have committed, and a new rebuild
// ([StartTx]) takes it shared, for its own transaction, or is refused.
const importLockName = "osa.import"

// LockImport takes the lock an import holds while it writes: a new rebuild of any backend is
// refused until it is released ([pglock.Lock.Release]), which the import does once its writes
// have committed, before it starts its own rebuilds. Take it before checking that no rebuild
// runs: a rebuild whose start commits before the lock is taken is then seen running. Another
// import holding it, or a rebuild starting at this moment, is a [domainerr.ErrFailedPrecondition].
func LockImport(ctx context.Context, pool *pgxpool.Pool) (*pglock.Lock, error) {
	l, err := pglock.TryAcquire(ctx, pool, pglock.Name(importLockName))
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, domainerr.New(domainerr.ErrFailedPrecondition, "another import is writing records, or a rebuild is "+
			"starting: try again once it is done")
	}
	return l, nil
}

// checkNoImport takes the import lock shared in tx, for tx, and refuses a new rebuild of
// backend while an import holds it.
func checkNoImport(ctx context.Context, tx pgx.Tx, backend string) error {
	var free bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock_shared(hashtextextended($1, 0))`, importLockName).Scan(&free); err != nil {
		return fmt.Errorf("error reading the import lock: %w", err)
	}
	if !free {
		return domainerr.New(domainerr.ErrFailedPrecondition, "backend %q: an import is writing records, which a rebuild "+
			"started now could miss; the import rebuilds every backend when it ends: wait for it, then rebuild if still needed", backend)
	}
	return nil
}
