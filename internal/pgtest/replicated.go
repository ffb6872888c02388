package pgtest

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/devpg"
	"github.com/osa-archive/osa/migrations"
)

var pgBin struct {
	once sync.Once
	dir  string
	err  error
	log  bytes.Buffer
}

// Replicated is a private PostgreSQL cluster with a streaming standby of it, for the tests of
// read replicas: a standby copies and replays a whole cluster, so it is not made of the shared
// test cluster, where every package's tests write.
type Replicated struct {
	// Primary and Standby are the two servers.
	Primary, Standby *devpg.Cluster
	// URL and StandbyURL are the migrated database osa on each.
	URL, StandbyURL string
}

// NewReplicated starts a private cluster with a migrated database osa and a streaming standby of
// it (pg_basebackup -R, started on another port; see [devpg.Cluster.StartStandby]), and stops
// both when t ends. PostgreSQL is provisioned as for every test cluster.
func NewReplicated(t testing.TB) *Replicated {
	t.Helper()
	ctx := context.Background()
	pgBin.once.Do(func() { pgBin.dir, pgBin.err = devpg.Provision(ctx, &pgBin.log) })
	if pgBin.err != nil {
		t.Fatalf("pgtest: %v\n%s", pgBin.err, pgBin.log.String())
	}
	dir := t.TempDir()
	settings := map[string]string{"fsync": "off", "full_page_writes": "off", "max_connections": "100", "shared_buffers": "128MB"}
	primary, err := devpg.Start(ctx, devpg.Config{BinDir: pgBin.dir, Dir: filepath.Join(dir, "primary"), Settings: settings})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := primary.Stop(context.Background()); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	if err := primary.CreateDatabase(ctx, "osa"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	r := &Replicated{Primary: primary, URL: primary.URL("osa")}
	pool, err := pgxpool.New(ctx, r.URL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	err = migrations.Up(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		t.Fatalf("pgtest: migrating the primary: %v", err)
	}
	if r.Standby, err = primary.StartStandby(ctx, devpg.StandbyConfig{Dir: filepath.Join(dir, "standby")}); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Standby.Stop(context.Background()); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	r.StandbyURL = r.Standby.URL("osa")
	return r
}
