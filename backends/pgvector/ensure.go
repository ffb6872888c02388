package pgvector

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ensure creates the backend's table and HNSW index when missing. When the table exists, it
// checks that its vector length and stored model match the embedder, and fails with an error
// naming the fix when they do not. Processes may call Ensure at the same time: they take turns
// on an advisory lock keyed on the table name. On the backend [Backend.Shadow] returns, Ensure
// is [Backend.CreateShadow] in a transaction of its own: the shadow table gets no index.
func (b *Backend) Ensure(ctx context.Context, pool *pgxpool.Pool) error {
	if b.isShadow() {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return b.CreateShadow(ctx, tx) })
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, b.table); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, existsSQL, b.table).Scan(&exists); err != nil {
			return err
		}
		if exists {
			if err := b.checkTable(ctx, tx); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, b.sql.addTextHash); err != nil { // a table from before text hashes
				return err
			}
		} else if _, err := tx.Exec(ctx, b.sql.createTable); err != nil {
			return err
		}
		// Also when the table exists: an index dropped by hand comes back.
		_, err := tx.Exec(ctx, b.sql.createIndex)
		return err
	})
	var mismatch *mismatchError
	if err != nil && !errors.As(err, &mismatch) {
		return fmt.Errorf("backend %q: error ensuring table %s: %w", b.cfg.Name, b.table, err)
	}
	return err
}

// checkTable compares the existing table's column type (vector or halfvec, and its length) and
// models with the backend's.
func (b *Backend) checkTable(ctx context.Context, tx pgx.Tx) error {
	colType, models, err := b.describe(ctx, tx)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("%s(%d)", b.cfg.Type, b.dims)
	if colType == want && (len(models) == 0 || len(models) == 1 && models[0] == b.model) {
		return nil
	}
	return &mismatchError{backend: b.cfg.Name, table: b.table, colType: colType, models: models, typ: b.cfg.Type, dims: b.dims,
		model: b.model, shadow: b.isShadow()}
}

// describe returns the type of the existing table's embedding column and the models of a sample
// of its rows.
func (b *Backend) describe(ctx context.Context, tx pgx.Tx) (colType string, models []string, err error) {
	err = tx.QueryRow(ctx, columnTypeSQL, b.table).Scan(&colType)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, fmt.Errorf("table %s exists but has no embedding column: is it another program's table?", b.table)
	}
	if err != nil {
		return "", nil, err
	}
	rows, err := tx.Query(ctx, b.sql.sampleModel)
	if err != nil {
		return "", nil, err
	}
	models, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return colType, models, err
}

// mismatchError says the table was built by other embedder settings than the configured ones.
type mismatchError struct {
	backend, table, colType string
	models                  []string
	typ                     string // the configured column type
	dims                    int
	model                   string
	// shadow is set when the table is the shadow of a rebuild: the fix is another.
	shadow bool
}

func (e *mismatchError) Error() string {
	var from string
	switch len(e.models) {
	case 0:
		from = " (no rows yet)"
	case 1:
		from = fmt.Sprintf(" from model %q", e.models[0])
	default:
		quoted := make([]string, len(e.models))
		for i, m := range e.models {
			quoted[i] = fmt.Sprintf("%q", m)
		}
		from = " from models " + strings.Join(quoted, ", ")
	}
	// The type is named when it is not the default or differs: "halfvec(4)" against "4 dims"
	// would not say what to change.
	want := fmt.Sprintf("%d dims", e.dims)
	if e.typ != TypeVector || !strings.HasPrefix(e.colType, TypeVector+"(") {
		want = fmt.Sprintf("hnsw.type %s, %d dims", e.typ, e.dims)
	}
	if e.shadow {
		return fmt.Sprintf("backend %q: shadow table %s holds %s%s but the config says %s, model %q: "+
			"it is left from a rebuild with other settings; drop it (abandon that rebuild) and start the rebuild again",
			e.backend, e.table, e.colType, from, want, e.model)
	}
	return fmt.Sprintf("backend %q: table %s holds %s%s but the config says %s, model %q: "+
		"restore the old embedder and hnsw.type settings, then change them with osa backends apply "+
		"(which builds a new generation from the records beside the live one and swaps it in)",
		e.backend, e.table, e.colType, from, want, e.model)
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
