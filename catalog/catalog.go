// Package catalog is the store of the backend catalog (table backend_catalog): the one truth
// about which index backends exist. Every process follows it instead of its config file: the
// fan-out reads its targets from it inside its own transaction ([Targets]), so a record is fanned
// out to every backend the catalog holds when the record's fan-out runs, whichever process runs
// it; workers and searches reload it ([Load]) and start or stop queues as it changes.
//
// A backend's settings are JSON in the config file's shape, without secrets (package config
// encodes and decodes them); this package does not read them, except max_attempts for the
// fan-out.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// States of a backend in the catalog (backend_catalog.state).
const (
	// Building: the backend is being filled from the stored records; records are fanned out to
	// it, searches do not use it yet.
	Building = "building"
	// Live: the backend holds every live record; searches use it.
	Live = "live"
	// Retiring: a removed backend (or generation) whose table is kept for a while.
	Retiring = "retiring"
)

// DB runs statements: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Entry is one current (building or live) generation of a backend of the catalog. A backend has
// one live generation, one building generation while it is first backfilled, or both while a
// change that needs a rebuild builds the next generation beside the live one.
type Entry struct {
	Name       string
	Generation int
	Kind       string
	// State is Building or Live.
	State string
	// Position orders the entries as the file that set them listed them (the first of each kind
	// is the default of searches that name none).
	Position int
	// Settings are the backend's settings, JSON in the config file's shape without secrets.
	Settings  json.RawMessage
	UpdatedAt time.Time
}

// Load returns the current (building and live) entries, by position, name and generation.
func Load(ctx context.Context, db DB) ([]Entry, error) {
	rows, err := db.Query(ctx, `SELECT name, generation, kind, state, position, settings, updated_at FROM backend_catalog
		WHERE state <> 'retiring' ORDER BY position, name, generation`)
	if err != nil {
		return nil, fmt.Errorf("error reading the backend catalog: %w", err)
	}
	var (
		out []Entry
		e   Entry
	)
	if _, err := pgx.ForEachRow(rows, []any{&e.Name, &e.Generation, &e.Kind, &e.State, &e.Position, &e.Settings, &e.UpdatedAt}, func() error {
		out = append(out, e)
		e = Entry{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error reading the backend catalog: %w", err)
	}
	return out, nil
}

// lockSQL serialises the writers of the catalog (Seed, Put, Retire, Promote) for one transaction.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('osa.backend_catalog', 0))`

// Lock takes the catalog's write lock until tx ends: writers of the catalog take turns.
func Lock(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, lockSQL); err != nil {
		return fmt.Errorf("error locking the backend catalog: %w", err)
	}
	return nil
}

// Seed inserts entries as live, generation 1, when the catalog is empty, and reports whether it
// did: the first process to start fills the catalog from its configuration; later ones never
// change it. It takes the catalog's lock in its own transaction.
func Seed(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, entries []Entry) (bool, error) {
	seeded := false
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := Lock(ctx, tx); err != nil {
		return false, err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM backend_catalog`).Scan(&n); err != nil {
		return false, fmt.Errorf("error reading the backend catalog: %w", err)
	}
	if n == 0 {
		for i, e := range entries {
			e.State, e.Position = Live, i
			if err := Put(ctx, tx, e); err != nil {
				return false, err
			}
		}
		seeded = true
	}
	return seeded, tx.Commit(ctx)
}

// Put writes e, a generation of its backend: inserted when new, its settings, state and position
// replaced when that generation exists. Call it under [Lock].
func Put(ctx context.Context, tx pgx.Tx, e Entry) error {
	if e.Generation == 0 {
		e.Generation = 1
	}
	_, err := tx.Exec(ctx, `INSERT INTO backend_catalog (name, generation, kind, settings, state, position) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name, generation) DO UPDATE SET kind = EXCLUDED.kind, settings = EXCLUDED.settings,
		    state = EXCLUDED.state, position = EXCLUDED.position, updated_at = now()`, e.Name, e.Generation, e.Kind, e.Settings, e.State, e.Position)
	if err != nil {
		return fmt.Errorf("error writing backend %q to the catalog: %w", e.Name, err)
	}
	return nil
}

// NextGeneration returns the generation a new entry of backend name gets in tx: one more than any
// it had, 1 for a new name.
func NextGeneration(ctx context.Context, tx pgx.Tx, name string) (int, error) {
	var g int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(generation), 0) + 1 FROM backend_catalog WHERE name = $1`, name).Scan(&g); err != nil {
		return 0, fmt.Errorf("error reading the generations of backend %q: %w", name, err)
	}
	return g, nil
}

// ErrNotFound is returned for a backend the catalog does not hold.
var ErrNotFound = errors.New("no such backend in the catalog")

// Retirement is what becomes of a generation that turns retiring: its tables, renamed out of the
// way ([backends.Rebuilder.Retire]), are kept for After, then dropped with its row
// ([DropRetired]).
type Retirement struct {
	// After is how long the tables are kept (catalog.retire_after); 0 drops them at the next
	// [DropRetired].
	After time.Duration
	// Tables are the retired tables' names.
	Tables []string
}

// Retire makes every current generation of backend name retiring in tx (the backend is removed);
// generation's row gets r, the others none. Call it under [Lock].
func Retire(ctx context.Context, tx pgx.Tx, name string, generation int, r Retirement) error {
	tag, err := tx.Exec(ctx, `UPDATE backend_catalog SET state = 'retiring', updated_at = now(),
		retire_at = now() + $3 * interval '1 microsecond',
		retired_tables = CASE WHEN generation = $2 THEN $4::text[] ELSE '{}' END
		WHERE name = $1 AND state <> 'retiring'`, name, generation, r.After.Microseconds(), tables(r))
	if err != nil {
		return fmt.Errorf("error retiring backend %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("backend %q: %w", name, ErrNotFound)
	}
	return nil
}

// tables is r.Tables, never nil (a NOT NULL array).
func tables(r Retirement) []string {
	if r.Tables == nil {
		return []string{}
	}
	return r.Tables
}

// Promote makes the building generation of backend name live and its live generation, if any,
// retiring with r, in tx (the transaction that swaps the built table in); a backend with no
// building generation is left as it is.
func Promote(ctx context.Context, tx pgx.Tx, name string, r Retirement) error {
	if _, err := tx.Exec(ctx, `UPDATE backend_catalog SET state = 'retiring', updated_at = now(),
		    retire_at = now() + $2 * interval '1 microsecond', retired_tables = $3
		WHERE name = $1 AND state = 'live' AND EXISTS (SELECT 1 FROM backend_catalog WHERE name = $1 AND state = 'building')`,
		name, r.After.Microseconds(), tables(r)); err != nil {
		return fmt.Errorf("error retiring the live generation of backend %q: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE backend_catalog SET state = 'live', updated_at = now()
		WHERE name = $1 AND state = 'building'`, name); err != nil {
		return fmt.Errorf("error making backend %q live: %w", name, err)
	}
	return nil
}

// Dropped is a retired generation whose tables [DropRetired] dropped.
type Dropped struct {
	Name       string
	Generation int
	Tables     []string
}

// DropRetired drops the tables of every retiring generation whose retire_at has passed, and
// deletes its row, in one transaction under [Lock], and returns what it dropped. Every process
// calls it as it follows the catalog; they take turns, and a dropped generation is gone for the
// next.
func DropRetired(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}) ([]Dropped, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// Most calls find nothing: look before taking the lock.
	var due bool
	if err := tx.QueryRow(ctx, dueSQL).Scan(&due); err != nil || !due {
		return nil, wrapDrop(err)
	}
	if err := Lock(ctx, tx); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `DELETE FROM backend_catalog WHERE state = 'retiring' AND retire_at <= now()
		RETURNING name, generation, retired_tables`)
	if err != nil {
		return nil, wrapDrop(err)
	}
	var (
		out []Dropped
		d   Dropped
	)
	if _, err := pgx.ForEachRow(rows, []any{&d.Name, &d.Generation, &d.Tables}, func() error {
		out = append(out, d)
		return nil
	}); err != nil {
		return nil, wrapDrop(err)
	}
	for _, d := range out {
		for _, t := range d.Tables {
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{t}.Sanitize()); err != nil {
				return nil, fmt.Errorf("error dropping table %s of retired generation %d of backend %q: %w", t, d.Generation, d.Name, err)
			}
		}
	}
	return out, wrapDrop(tx.Commit(ctx))
}

// dueSQL reports whether a retiring generation is due to be dropped.
const dueSQL = `SELECT EXISTS (SELECT 1 FROM backend_catalog WHERE state = 'retiring' AND retire_at <= now())`

func wrapDrop(err error) error {
	if err != nil {
		return fmt.Errorf("error dropping retired generations: %w", err)
	}
	return nil
}

// Generations returns the live and the building generation of backend name as tx sees them, 0
// for a state it has none in.
func Generations(ctx context.Context, tx pgx.Tx, name string) (live, building int, err error) {
	err = tx.QueryRow(ctx, `SELECT COALESCE(max(generation) FILTER (WHERE state = 'live'), 0),
		COALESCE(max(generation) FILTER (WHERE state = 'building'), 0) FROM backend_catalog WHERE name = $1`, name).Scan(&live, &building)
	if err != nil {
		return 0, 0, fmt.Errorf("error reading the generations of backend %q: %w", name, err)
	}
	return live, building, nil
}

// Target is a backend as the fan-out sees it.
type Target struct {
	Name        string
	MaxAttempts int
}

// Targets returns the backends a record's fan-out must reach, read in tx (the fan-out's own
// transaction): every backend with a building or live generation, by name, with the newest
// generation's max_attempts. One job reaches both generations of a backend being rebuilt.
func Targets(ctx context.Context, tx pgx.Tx) ([]Target, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (name) name, COALESCE((settings->>'max_attempts')::int, 0) FROM backend_catalog
		WHERE state IN ('building', 'live') ORDER BY name, generation DESC`)
	if err != nil {
		return nil, fmt.Errorf("error reading the fan-out's targets: %w", err)
	}
	var (
		out []Target
		t   Target
	)
	if _, err := pgx.ForEachRow(rows, []any{&t.Name, &t.MaxAttempts}, func() error {
		out = append(out, t)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error reading the fan-out's targets: %w", err)
	}
	return out, nil
}
