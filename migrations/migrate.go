// Package migrations holds OSA's SQL schema as embedded, ordered .sql files and applies them,
// together with River's own schema (through rivermigrate), under one Postgres advisory lock, so
// any number of processes may migrate the same database at once.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/osa-archive/osa/internal/pglock"
)

//go:embed *.sql
var files embed.FS

// lockKey is the advisory lock every migrating process takes ("osa-migrate" in ASCII, truncated).
const lockKey int64 = 0x6f73612d6d696772

// Migration is one of OSA's own schema migrations.
type Migration struct {
	// Version is the number the file name starts with (0001_init.sql is 1).
	Version int
	// Name is the file name without its number and extension ("init").
	Name string
	// SQL is the file's content.
	SQL string
}

// Status reports one migration, OSA's or River's, and whether it is applied.
type Status struct {
	// Component is "osa" or "river".
	Component string
	// Version is the migration's number within its component.
	Version int
	// Name describes the migration.
	Name string
	// Applied reports whether the migration has been applied.
	Applied bool
	// AppliedAt is when it was applied; zero when it is not, or for River's (which keeps no time).
	AppliedAt time.Time
}

// All returns OSA's migrations in order. It panics on a malformed file name, which only a
// broken build can have.
func All() []Migration {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err)
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), path.Ext(e.Name())), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			panic(fmt.Sprintf("migrations: file %q must be named NNNN_name.sql", e.Name()))
		}
		sql, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(sql)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out
}

const createTable = `CREATE TABLE IF NOT EXISTS osa_migration (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// Up applies every pending migration, OSA's first and River's after, holding the migration
// advisory lock for the whole run. It is idempotent: a database that is current is left alone.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	// The lock is held on a connection of its own ([pglock]), so that migrating through a
	// pooler in transaction mode is safe too.
	lock, err := pglock.Acquire(ctx, pool, pglock.ID(lockKey))
	if err != nil {
		return fmt.Errorf("error taking the migration lock: %w", err)
	}
	defer lock.Release(ctx)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("error acquiring a connection to migrate: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("error creating osa_migration: %w", err)
	}
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return err
	}
	for _, m := range All() {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO osa_migration (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("error applying migration %04d_%s: %w", m.Version, m.Name, err)
		}
		logger.InfoContext(ctx, "migrations: applied", "component", "osa", "version", m.Version, "name", m.Name,
			"duration", time.Since(start).Round(time.Millisecond))
	}

	// River's migrator logs at INFO itself; we log each version once, below.
	res, err := riverMigrator(pool, slog.New(slog.DiscardHandler)).Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("error applying River's migrations: %w", err)
	}
	for _, v := range res.Versions {
		logger.InfoContext(ctx, "migrations: applied", "component", "river", "version", v.Version, "name", v.Name,
			"duration", v.Duration.Round(time.Millisecond))
	}
	return nil
}

// List reports every known migration, OSA's and River's, with when each was applied.
func List(ctx context.Context, pool *pgxpool.Pool) ([]Status, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("error acquiring a connection: %w", err)
	}
	defer conn.Release()
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, m := range All() {
		at, ok := applied[m.Version]
		out = append(out, Status{Component: "osa", Version: m.Version, Name: m.Name, Applied: ok, AppliedAt: at})
	}

	migrator := riverMigrator(pool, slog.New(slog.DiscardHandler))
	existing, err := migrator.ExistingVersions(ctx)
	if err != nil {
		// A database River never touched has no river_migration table yet.
		if !isUndefinedTable(err) {
			return nil, fmt.Errorf("error reading River's migrations: %w", err)
		}
		existing = nil
	}
	riverApplied := make(map[int]bool, len(existing))
	for _, m := range existing {
		riverApplied[m.Version] = true
	}
	for _, m := range migrator.AllVersions() {
		out = append(out, Status{Component: "river", Version: m.Version, Name: m.Name, Applied: riverApplied[m.Version]})
	}
	return out, nil
}

// Pending returns the migrations not yet applied; an empty result means the schema is current.
func Pending(ctx context.Context, pool *pgxpool.Pool) ([]Status, error) {
	all, err := List(ctx, pool)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s Status) bool { return s.Applied }), nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn) (map[int]time.Time, error) {
	rows, err := conn.Query(ctx, "SELECT version, applied_at FROM osa_migration")
	if err != nil {
		if isUndefinedTable(err) {
			return map[int]time.Time{}, nil
		}
		return nil, fmt.Errorf("error reading osa_migration: %w", err)
	}
	applied := map[int]time.Time{}
	var (
		v  int
		at time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&v, &at}, func() error {
		applied[v] = at
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error reading osa_migration: %w", err)
	}
	return applied, nil
}

func riverMigrator(pool *pgxpool.Pool, logger *slog.Logger) *rivermigrate.Migrator[pgx.Tx] {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		// Only an invalid Line or Schema makes New fail, and both are fixed here.
		panic(err)
	}
	return m
}

func isUndefinedTable(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == "42P01"
}
