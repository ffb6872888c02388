// Package shadow is the table-agnostic part of a backend's online rebuild (see package backends):
// the names of a live table's shadow relations, the search index build on the shadow, the swap
// and the drop. The backend kinds supply their own table and index definitions.
//
// Every identifier put into SQL here comes from a backend's validated table name, never from
// user input.
package shadow

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/internal/pglock"
)

// Suffix ends the name of every shadow table: the shadow of vec_x is vec_x_shadow.
const Suffix = "_shadow"

// LockTimeoutDefault bounds how long a swap waits for each of its table locks. While it waits,
// new searches queue behind it, so it is kept short; a swap that times out is retried.
const LockTimeoutDefault = "2s"

// RetiredInfix joins a live table's name and a generation in the name of the table a retired
// generation is kept as until it is dropped: vec_x_retired_2.
const RetiredInfix = "_retired_"

// identMax is the longest identifier Postgres keeps (NAMEDATALEN - 1 bytes); it truncates longer
// ones in every statement alike.
const identMax = 63

// reservedRe matches backend names whose table would be named like another backend's shadow or
// retired relation (backend x_shadow's table vec_x_shadow is backend x's shadow table, backend
// x_retired_2's table vec_x_retired_2 is backend x's generation 2, retired).
var reservedRe = regexp.MustCompile(`_(shadow|retired)($|_)`)

// Reserved reports whether a backend name is reserved for shadow and retired relations: it
// contains "_shadow" or "_retired" at its end or before an underscore.
func Reserved(name string) bool { return reservedRe.MatchString(name) }

// ReservedProblem says why a [Reserved] name is refused, for the backends' validation errors.
const ReservedProblem = "a name with _shadow or _retired at its end or before an underscore would collide with the " +
	"tables of a rebuild or of a retired generation"

// Names are the relations of a live table and its shadow.
type Names struct {
	// Live and Shadow are the tables.
	Live, Shadow string
	// LiveIndex and ShadowIndex are their search indexes.
	LiveIndex, ShadowIndex string
	// LivePkey is the name of the live table's primary key constraint (and its index).
	LivePkey string

	indexSuffix string
}

// NewNames returns the names of the live table's relations, its search index being named
// live + indexSuffix ("_embedding_idx"). Names longer than Postgres keeps are truncated as
// Postgres would.
func NewNames(live, indexSuffix string) Names {
	shadow := live + Suffix
	return Names{
		Live:        live,
		Shadow:      shadow,
		LiveIndex:   ident(live + indexSuffix),
		ShadowIndex: ident(shadow + indexSuffix),
		LivePkey:    ident(live + "_pkey"),
		indexSuffix: indexSuffix,
	}
}

// Retired returns the name generation's live table is kept as once retired: vec_x_retired_2.
func (n Names) Retired(generation int) string {
	return ident(n.Live + RetiredInfix + strconv.Itoa(generation))
}

func ident(name string) string {
	if len(name) > identMax {
		return name[:identMax]
	}
	return name
}

const (
	existsSQL = `SELECT to_regclass($1) IS NOT NULL`

	// indexValidSQL returns whether the index named $1 on the table named $2 is valid; no row when
	// there is no such index. CREATE INDEX CONCURRENTLY leaves its index invalid until the build
	// completes, and for good when it is interrupted.
	indexValidSQL = `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1) AND indrelid = to_regclass($2)`

	// pkeySQL returns the name of the primary key constraint of the table named $1.
	pkeySQL = `SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`

	// lockTimeoutSQL applies lock_timeout $1 to the rest of the transaction, unless the
	// transaction has a shorter one, and returns the previous setting.
	lockTimeoutSQL = `
SELECT s.v, set_config('lock_timeout',
    CASE WHEN s.v::interval > '0' AND s.v::interval <= $1::text::interval THEN s.v ELSE $1::text END, true)
FROM (SELECT current_setting('lock_timeout') AS v) s`

	restoreLockTimeoutSQL = `SELECT set_config('lock_timeout', $1, true)`
)

// Exists reports whether table exists (in the search path).
func Exists(ctx context.Context, q backends.Querier, table string) (bool, error) {
	var exists bool
	if err := q.QueryRow(ctx, existsSQL, table).Scan(&exists); err != nil {
		return false, fmt.Errorf("error checking table %s: %w", table, err)
	}
	return exists, nil
}

// indexState reports whether the index named index exists on table and is valid.
func indexState(ctx context.Context, q backends.Querier, index, table string) (exists, valid bool, err error) {
	err = q.QueryRow(ctx, indexValidSQL, index, table).Scan(&valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("error checking index %s: %w", index, err)
	}
	return true, valid, nil
}

// BuildIndex builds the shadow table's search index with create, a CREATE INDEX CONCURRENTLY IF
// NOT EXISTS statement naming n.ShadowIndex, on a connection of pool outside any transaction,
// then analyzes the shadow table. A valid index of that name is kept; an invalid one (left by an
// interrupted build) is dropped first. Builds of one shadow take turns on an advisory lock
// ([pglock]), held on another connection than the build's.
//
// Writes to the shadow go on during the build (CONCURRENTLY takes a SHARE UPDATE EXCLUSIVE lock),
// but the build waits for the transactions that were writing the shadow when it started, and
// for every transaction of the database holding an older snapshot.
func BuildIndex(ctx context.Context, pool *pgxpool.Pool, n Names, create string) error {
	lock, err := pglock.Acquire(ctx, pool, pglock.Name("osa.backend.shadow_index."+n.Shadow))
	if err != nil {
		return fmt.Errorf("error building index %s: waiting for another build: %w", n.ShadowIndex, err)
	}
	defer lock.Release(ctx)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("error building index %s: %w", n.ShadowIndex, err)
	}
	defer conn.Release()

	exists, err := Exists(ctx, conn, n.Shadow)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("error building index %s: shadow table %s does not exist (create it first)", n.ShadowIndex, n.Shadow)
	}
	found, valid, err := indexState(ctx, conn, n.ShadowIndex, n.Shadow)
	if err != nil {
		return err
	}
	if !found || !valid {
		if err := build(ctx, conn.Conn(), n, create, found); err != nil {
			return err
		}
	}
	// Also when the index was there: a build interrupted after it ended skipped this. A new
	// table has no column statistics until autovacuum gets to it, and the first queries after
	// the swap would be planned without them.
	if _, err := conn.Exec(ctx, "ANALYZE "+n.Shadow); err != nil {
		return fmt.Errorf("error analyzing %s: %w", n.Shadow, err)
	}
	return nil
}

// build drops the invalid index (when invalid is set) and builds it with create. Each statement
// runs alone (no arguments: the simple protocol, one statement, no transaction), as the
// CONCURRENTLY forms refuse to run in a transaction block.
func build(ctx context.Context, conn *pgx.Conn, n Names, create string, invalid bool) error {
	if invalid {
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+n.ShadowIndex); err != nil {
			return fmt.Errorf("error dropping the invalid index %s: %w", n.ShadowIndex, err)
		}
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("error building index %s: %w", n.ShadowIndex, err)
	}
	_, valid, err := indexState(ctx, conn, n.ShadowIndex, n.Shadow)
	if err != nil {
		return err
	}
	if !valid {
		return fmt.Errorf("error building index %s: the build ended but the index is not valid", n.ShadowIndex)
	}
	return nil
}

// Swap replaces the live table by the shadow table in tx: it locks the live table, then the
// shadow (ACCESS EXCLUSIVE, in that order, each wait bounded by [LockTimeoutDefault] or the
// transaction's shorter lock_timeout), checks that the shadow has a valid search index, and
// replaces the live relations by the shadow's ([Replace]): the live table is dropped, or kept as
// generation retireAs's retired table when retireAs is not 0, whose name Swap returns. A missing
// live table is not an error: the shadow takes its place, and nothing is retired.
func Swap(ctx context.Context, tx pgx.Tx, n Names, retireAs int) (string, error) {
	retired, err := swap(ctx, tx, n, retireAs)
	if err != nil {
		return "", fmt.Errorf("error swapping %s for %s: %w", n.Shadow, n.Live, err)
	}
	return retired, nil
}

func swap(ctx context.Context, tx pgx.Tx, n Names, retireAs int) (string, error) {
	exists, err := Exists(ctx, tx, n.Shadow)
	if err != nil {
		return "", err
	}
	if !exists {
		return "", fmt.Errorf("shadow table %s does not exist: there is no rebuild to swap in", n.Shadow)
	}
	liveExists, err := Exists(ctx, tx, n.Live)
	if err != nil {
		return "", err
	}

	// The live table first, always: dual writes lock it first too.
	var lockTimeout, discard string
	if err := tx.QueryRow(ctx, lockTimeoutSQL, LockTimeoutDefault).Scan(&lockTimeout, &discard); err != nil {
		return "", err
	}
	if liveExists {
		if _, err := tx.Exec(ctx, "LOCK TABLE "+n.Live+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return "", fmt.Errorf("locking %s: %w", n.Live, err)
		}
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+n.Shadow+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		return "", fmt.Errorf("locking %s: %w", n.Shadow, err)
	}
	if _, err := tx.Exec(ctx, restoreLockTimeoutSQL, lockTimeout); err != nil {
		return "", err
	}

	// Checked under the lock: no index build can be running now.
	found, valid, err := indexState(ctx, tx, n.ShadowIndex, n.Shadow)
	switch {
	case err != nil:
		return "", err
	case !found:
		return "", fmt.Errorf("shadow table %s has no search index %s: build it first", n.Shadow, n.ShadowIndex)
	case !valid:
		return "", fmt.Errorf("the search index %s of shadow table %s is invalid (an interrupted build): build it again", n.ShadowIndex, n.Shadow)
	}
	return Replace(ctx, tx, n, retireAs)
}

// Replace renames the shadow table, its search index and its primary key to the live names in
// tx, after dropping the live table, or renaming it to generation retireAs's retired table
// ([Retire]) when retireAs is not 0, whose name it returns. It takes no lock and checks no index:
// [Swap] does, and a companion table whose writers lock its main table first (keyword's
// statistics) is replaced with it under the main table's locks.
func Replace(ctx context.Context, tx pgx.Tx, n Names, retireAs int) (string, error) {
	retired := ""
	if retireAs != 0 {
		var err error
		if retired, err = Retire(ctx, tx, n, retireAs); err != nil {
			return "", err
		}
	} else if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+n.Live); err != nil {
		return "", fmt.Errorf("error dropping %s: %w", n.Live, err)
	}
	if err := rename(ctx, tx, n.Shadow, n.ShadowIndex, n.Live, n.LiveIndex, n.LivePkey); err != nil {
		return "", err
	}
	return retired, nil
}

// Retire renames the live table, its search index and its primary key to generation's retired
// names in tx ([Names.Retired]) and returns the table's: a retired generation's table is kept,
// out of every writer's and search's way, until the catalog drops it. A missing live table is
// not an error, and "" is returned.
func Retire(ctx context.Context, tx pgx.Tx, n Names, generation int) (string, error) {
	exists, err := Exists(ctx, tx, n.Live)
	if err != nil || !exists {
		return "", err
	}
	retired := n.Retired(generation)
	if err := rename(ctx, tx, n.Live, n.LiveIndex, retired, ident(retired+n.indexSuffix), ident(retired+"_pkey")); err != nil {
		return "", err
	}
	return retired, nil
}

// rename renames table from to to in tx, its index fromIndex (when it has one) to toIndex and its
// primary key (when it has one) to pkeyTo. Every name comes from a validated backend name; the
// primary key's current name, read from the catalog, is quoted.
func rename(ctx context.Context, tx pgx.Tx, from, fromIndex, to, toIndex, pkeyTo string) error {
	var pkey string
	err := tx.QueryRow(ctx, pkeySQL, from).Scan(&pkey)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	sql := "ALTER TABLE " + from + " RENAME TO " + to + ";\n" +
		"ALTER INDEX IF EXISTS " + fromIndex + " RENAME TO " + toIndex
	if pkey != "" && pkey != pkeyTo {
		sql += ";\nALTER TABLE " + to + " RENAME CONSTRAINT " + pgx.Identifier{pkey}.Sanitize() + " TO " + pkeyTo
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("error renaming %s to %s: %w", from, to, err)
	}
	return nil
}

// Drop drops the shadow table in tx, if it exists.
func Drop(ctx context.Context, tx pgx.Tx, n Names) error {
	if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+n.Shadow); err != nil {
		return fmt.Errorf("error dropping %s: %w", n.Shadow, err)
	}
	return nil
}
