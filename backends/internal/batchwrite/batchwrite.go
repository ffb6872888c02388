// Package batchwrite is the batch-writing machinery of the index backends: deduplication by
// record, and a write under a savepoint that isolates rows Postgres rejects.
package batchwrite

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
)

// Dedupe picks the docs to write: of the docs without an error in errs, one per record, the
// highest version (the first of equal ones). It returns their indices in order and, for every
// doc, the index of the doc written for its record (-1 for docs with an error).
func Dedupe(docs []backends.Document, errs []error) (rows, winner []int) {
	winner = make([]int, len(docs))
	byID := make(map[uuid.UUID]int, len(docs))
	for i, d := range docs {
		winner[i] = -1
		if errs[i] != nil {
			continue
		}
		j, seen := byID[d.RecordID]
		if !seen || d.Version > docs[j].Version {
			byID[d.RecordID] = i
		}
	}
	for i, d := range docs {
		if errs[i] != nil {
			continue
		}
		winner[i] = byID[d.RecordID]
		if winner[i] == i {
			rows = append(rows, i)
		}
	}
	return rows, winner
}

// ShareOutcome gives every duplicate the outcome of the doc written for its record.
func ShareOutcome(errs []error, winner []int) {
	for i, w := range winner {
		if w >= 0 && w != i {
			errs[i] = errs[w]
		}
	}
}

// BuildFunc returns the statement and arguments that write the docs at rows.
type BuildFunc func(rows []int) (sql string, args []any)

// WriteIsolated writes the docs at rows with one statement under a savepoint, setting errs for
// them. When Postgres rejects the data (SQLSTATE class 22 or 54), the rows are split in halves
// and written again until the rejected docs are isolated; each gets a permanent error and the
// rest are written. Any other failure is given to every row as a transient error. The caller's
// transaction stays usable, except when the statement could not be prepared (a missing table:
// pgx prepares it before the savepoint runs) or the connection failed; then
// tx.Conn().PgConn().TxStatus() is 'E' and the caller must roll back.
func WriteIsolated(ctx context.Context, tx pgx.Tx, table string, rows []int, errs []error, build BuildFunc) {
	if len(rows) == 0 {
		return
	}
	sql, args := build(rows)
	usable, err := execSavepoint(ctx, tx, sql, args)
	switch {
	case err == nil:
		return
	case isDataError(err) && len(rows) == 1:
		errs[rows[0]] = indexerr.Permanent(fmt.Errorf("%s rejected the record: %w", table, err))
		return
	case isDataError(err) && usable:
		half := len(rows) / 2
		WriteIsolated(ctx, tx, table, rows[:half], errs, build)
		WriteIsolated(ctx, tx, table, rows[half:], errs, build)
		return
	}
	err = fmt.Errorf("error writing to %s: %w", table, err)
	for _, r := range rows {
		errs[r] = err
	}
}

// savepoint guards one batch write; the name is reused, as savepoints nest.
const savepoint = "osa_backend_write"

// execSavepoint runs sql between SAVEPOINT and RELEASE in one round trip (a pipelined batch). On
// failure it rolls back to the savepoint and reports whether tx can still be used.
func execSavepoint(ctx context.Context, tx pgx.Tx, sql string, args []any) (usable bool, err error) {
	batch := &pgx.Batch{}
	batch.Queue("SAVEPOINT " + savepoint)
	batch.Queue(sql, args...)
	batch.Queue("RELEASE SAVEPOINT " + savepoint)
	br := tx.SendBatch(ctx, batch)
	_, errSavepoint := br.Exec()
	if errSavepoint != nil {
		br.Close()
		return false, errSavepoint // no savepoint to return to
	}
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if errClose := br.Close(); err == nil {
		err = errClose
	}
	if err == nil {
		return true, nil
	}
	if _, errRollback := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+savepoint+"; RELEASE SAVEPOINT "+savepoint); errRollback != nil {
		return false, err
	}
	return true, err
}

// isDataError reports whether Postgres rejected the values themselves (data exception, or a
// limit such as the size of a tsvector): writing the same values can never succeed.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	class := pgErr.Code[:2]
	return class == "22" || class == "54"
}
