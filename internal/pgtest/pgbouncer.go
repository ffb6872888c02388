package pgtest

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/osa-archive/osa/internal/devpg"
)

var pgbouncerBin struct {
	once sync.Once
	path string
	err  error
}

// ThroughPgBouncer starts a PgBouncer in transaction pooling mode in front of the server of
// dbURL (a URL of [NewURL]), with poolSize server connections, stops it when t ends, and
// returns the URL of dbURL's database through it. PgBouncer is installed by the provisioning
// script on first use (internal/devpg); a test fails when it cannot be.
func ThroughPgBouncer(t testing.TB, dbURL string, poolSize int) string {
	t.Helper()
	pgbouncerBin.once.Do(func() {
		pgbouncerBin.path, pgbouncerBin.err = devpg.ProvisionPgBouncer(context.Background(), os.Stderr)
	})
	if pgbouncerBin.err != nil {
		t.Fatalf("pgtest: %v", pgbouncerBin.err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("pgtest: the port of %s: %v", u.Redacted(), err)
	}
	user := "postgres"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	b, err := devpg.StartPgBouncer(t.Context(), devpg.PgBouncerConfig{
		Bin:        pgbouncerBin.path,
		Dir:        t.TempDir(),
		ServerPort: port,
		ServerUser: user,
		PoolMode:   "transaction",
		PoolSize:   poolSize,
	})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgbouncer log:\n%s", b.LogTail(40))
		}
		if err := b.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return b.URL(u.Path[1:])
}
