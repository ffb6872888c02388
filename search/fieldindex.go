package search

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/pglock"
	"github.com/osa-archive/osa/search/where"
)

// FieldIndexPrefix starts the name of every index [EnsureFieldIndexes] builds on records.
const FieldIndexPrefix = "records_field_"

// fieldIndexLock makes the processes of an archive take turns building field indexes; one that
// finds it taken leaves the work to the holder.
var fieldIndexLock = pglock.Name("osa.search.field_indexes")

const fieldIndexValidSQL = `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`

// FieldIndex is a btree index on records that serves range filters and sorts of one declared
// field.
type FieldIndex struct {
	// Name is the index's name, records_field_<field>_asc or _desc and a hash of its definition.
	Name string
	// Field is the declared field.
	Field string
	// SQL creates the index, CONCURRENTLY IF NOT EXISTS, on the live records.
	SQL string
}

// FieldIndexes returns the indexes of fields: for each number or date field, its value (the
// expression filters compare and sorts order by) ascending then the record id, which serves
// its ranges and its ascending sort; for a date, also descending (newest first). Keyword and
// boolean filters are served by the GIN index on the metadata, and their sorts are not indexed,
// so that every publish does not maintain an index per field.
func FieldIndexes(fields []where.Field) []FieldIndex {
	var out []FieldIndex
	for _, f := range fields {
		if f.Type != where.TypeNumber && f.Type != where.TypeDate {
			continue
		}
		dirs := []string{"asc"}
		if f.Type == where.TypeDate {
			dirs = append(dirs, "desc")
		}
		for _, dir := range dirs {
			def := "((" + where.ValueSQL(f, "records") + ") " + strings.ToUpper(dir) + " NULLS LAST, id) WHERE deleted_at IS NULL"
			name := fieldIndexName(f.Name, dir, def)
			out = append(out, FieldIndex{Name: name, Field: f.Name, SQL: "CREATE INDEX CONCURRENTLY IF NOT EXISTS " + name + " ON records " + def})
		}
	}
	return out
}

// fieldIndexName returns records_field_<name>_<dir>_<hash of the definition>, "." written "__"
// and the name shortened to fit what PostgreSQL keeps: an index whose expression changed (a
// newer OSA compares a field otherwise) gets a name of its own, and is built anew.
func fieldIndexName(name, dir, def string) string {
	h := fnv.New32a()
	h.Write([]byte(def))
	suffix := fmt.Sprintf("_%s_%08x", dir, h.Sum32())
	base := strings.ReplaceAll(name, ".", "__")
	if n := 63 - len(FieldIndexPrefix) - len(suffix); len(base) > n {
		base = base[:n]
	}
	return FieldIndexPrefix + base + suffix
}

// EnsureFieldIndexes builds the [FieldIndexes] of fields that are missing, online (CREATE INDEX
// CONCURRENTLY: publishes and searches go on), one at a time, and rebuilds one left invalid by an
// interrupted build. Only one process of an archive builds at a time; a process that finds
// another building returns at once. An index of a field no longer declared is kept.
func EnsureFieldIndexes(ctx context.Context, pool *pgxpool.Pool, fields []where.Field, logger *slog.Logger) error {
	lock, err := pglock.TryAcquire(ctx, pool, fieldIndexLock)
	if err != nil || lock == nil {
		return err
	}
	defer lock.Release(ctx)
	// The builds run on other connections of the pool, each statement alone (CONCURRENTLY
	// refuses a transaction block).
	for _, ix := range FieldIndexes(fields) {
		var valid bool
		err := pool.QueryRow(ctx, fieldIndexValidSQL, ix.Name).Scan(&valid)
		switch {
		case err == nil && valid:
			continue
		case err == nil: // an interrupted build's
			if _, err := pool.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+ix.Name); err != nil {
				return fmt.Errorf("error dropping the invalid index %s: %w", ix.Name, err)
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		start := time.Now()
		logger.InfoContext(ctx, "search: building the index of a declared field, online", "field", ix.Field, "index", ix.Name)
		if _, err := pool.Exec(ctx, ix.SQL); err != nil {
			return fmt.Errorf("error building index %s of field %s: %w", ix.Name, ix.Field, err)
		}
		logger.InfoContext(ctx, "search: built the index of a declared field", "field", ix.Field, "index", ix.Name,
			"took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
