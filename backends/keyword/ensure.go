package keyword

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errLanguage marks an Ensure error about the configured language, returned unwrapped.
var errLanguage = errors.New("unknown language")

// Ensure checks that the configured language is a text search configuration of the database,
// then creates the backend's table and GIN index when missing. Processes may call Ensure at the
// same time: they take turns on an advisory lock keyed on the table name. On the backend
// [Backend.Shadow] returns, Ensure is [Backend.CreateShadow] in a transaction of its own (after
// the language check): the shadow table gets no index.
func (b *Backend) Ensure(ctx context.Context, pool *pgxpool.Pool) error {
	var langErr error
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, languagesSQL)
		if err != nil {
			return err
		}
		languages, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if !slices.Contains(languages, b.cfg.Language) {
			langErr = fmt.Errorf("backend %q: backends[].language %q is not a text search configuration of the database (pg_ts_config has %s)",
				b.cfg.Name, b.cfg.Language, strings.Join(languages, ", "))
			return errLanguage
		}
		if err := b.createTable(ctx, tx); err != nil || b.isShadow() {
			return err
		}
		// Also when the table exists: an index dropped by hand comes back.
		_, err = tx.Exec(ctx, b.sql.createIndex)
		return err
	})
	if langErr != nil {
		return langErr
	}
	if err != nil {
		return fmt.Errorf("backend %q: error ensuring table %s: %w", b.cfg.Name, b.table, err)
	}
	return nil
}

// createTable creates the backend's table and its statistics table in tx when missing, and
// checks an existing table. Statistics missing beside an existing table (one written before
// they existed) are computed from its documents.
func (b *Backend) createTable(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, lockSQL, b.table); err != nil {
		return err
	}
	var colType string
	err := tx.QueryRow(ctx, columnTypeSQL, b.table).Scan(&colType)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, b.sql.createTable); err != nil {
			return err
		}
	case err != nil:
		return err
	case colType != "tsvector":
		return fmt.Errorf("its document column is %s, not tsvector: is it another program's table?", colType)
	}
	var statsExist bool
	if err := tx.QueryRow(ctx, existsSQL, b.stats).Scan(&statsExist); err != nil || statsExist {
		return err
	}
	if _, err := tx.Exec(ctx, b.sql.createStats); err != nil {
		return fmt.Errorf("error creating statistics table %s: %w", b.stats, err)
	}
	if _, err := tx.Exec(ctx, b.sql.backfillStats); err != nil {
		return fmt.Errorf("error computing statistics %s: %w", b.stats, err)
	}
	return nil
}

// Health reports an error when the backend's table does not exist.
func (b *Backend) Health(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, existsSQL, b.table).Scan(&exists); err != nil {
		return fmt.Errorf("backend %q: error checking table %s: %w", b.cfg.Name, b.table, err)
	}
	if !exists {
		return fmt.Errorf("backend %q: table %s does not exist (the backend has not been ensured)", b.cfg.Name, b.table)
	}
	return nil
}
