// Package pgtest gives tests their own PostgreSQL database, cloned from a template that has every
// migration applied. It reads the server from OSA_TEST_DATABASE_URL (set by `make test`); a test
// that needs Postgres fails loudly when the variable is missing or the server is unreachable —
// it never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/osa-archive/osa/migrations"
)

// EnvURL is the variable naming the test server's maintenance database.
const EnvURL = "OSA_TEST_DATABASE_URL"

// lockKey serialises template creation across test processes ("osa-test" in ASCII).
const lockKey int64 = 0x6f73612d74657374

var templateOnce struct {
	sync.Mutex
	done bool
}

// AdminURL returns the test server's maintenance URL, failing t when it is not configured.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Fatalf("%s is not set: these tests need PostgreSQL with pgvector; run them with `make test`, which provisions and starts a private cluster", EnvURL)
	}
	return u
}

// NewURL creates a fresh, migrated database for t, drops it when t ends and returns its URL.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin := AdminURL(t)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)

	tmpl := templateName()
	name := "osa_test_" + randomSuffix()
	if err := createFromTemplate(ctx, conn, admin, tmpl, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
		}
	})
	return withDatabase(t, admin, name)
}

// New creates a fresh, migrated database for t and returns a pool on it, with pgvector's types
// registered on every connection; both are closed and dropped when t ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewURL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.AfterConnect = pgxvec.RegisterTypes
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewURLForMain is [NewURL] for TestMain, which has no testing.TB: it creates a fresh, migrated
// database and returns its URL and a function that drops it. Call drop after m.Run; it is safe to
// call more than once.
func NewURLForMain() (dbURL string, drop func() error, err error) {
	ctx := context.Background()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		return "", nil, fmt.Errorf("pgtest: %s is not set: these tests need PostgreSQL with pgvector; run them with `make test`, which provisions and starts a private cluster", EnvURL)
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("pgtest: %s must be a postgres:// URL, got %q", EnvURL, admin)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: connecting to %s: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	name := "osa_test_" + randomSuffix()
	if err := createFromTemplate(ctx, conn, admin, templateName(), name); err != nil {
		return "", nil, fmt.Errorf("pgtest: %w", err)
	}
	var once sync.Once
	drop = func() error {
		var dropErr error
		once.Do(func() {
			c, err := pgx.Connect(ctx, admin)
			if err != nil {
				dropErr = fmt.Errorf("pgtest: dropping %s: %w", name, err)
				return
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				dropErr = fmt.Errorf("pgtest: dropping %s: %w", name, err)
			}
		})
		return dropErr
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

func createFromTemplate(ctx context.Context, conn *pgx.Conn, admin, tmpl, name string) error {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)

	templateOnce.Lock()
	defer templateOnce.Unlock()
	if !templateOnce.done {
		if err := ensureTemplate(ctx, conn, admin, tmpl); err != nil {
			return err
		}
		templateOnce.done = true
	}
	// Connections to the template close asynchronously; CREATE DATABASE refuses while any remain.
	for attempt := 0; ; attempt++ {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < 50 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("creating %s from %s: %w", name, tmpl, err)
		}
		return nil
	}
}

// ensureTemplate creates the template database when missing and applies every migration to it.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, admin, tmpl string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+tmpl); err != nil {
			return fmt.Errorf("creating template %s: %w", tmpl, err)
		}
	}
	cfg, err := pgxpool.ParseConfig(admin)
	if err != nil {
		return err
	}
	cfg.ConnConfig.Database = tmpl
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrations.Up(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrating template %s: %w", tmpl, err)
	}
	return nil
}

// templateName changes whenever a migration changes, so a stale template is never used.
func templateName() string {
	h := sha256.New()
	for _, m := range migrations.All() {
		fmt.Fprintf(h, "%d %s\n%s\n", m.Version, m.Name, m.SQL)
	}
	return "osa_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withDatabase(t testing.TB, admin, name string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL, got %q", EnvURL, admin)
	}
	u.Path = "/" + name
	return u.String()
}
