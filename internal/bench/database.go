package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// scratchPrefix starts the name of every database a benchmark creates.
const scratchPrefix = "osa_bench_"

// dropTimeout bounds dropping a scratch database, also after the caller's context ended.
const dropTimeout = 30 * time.Second

// scratchDB is a database created for one scenario on the admin server.
type scratchDB struct {
	admin string // the admin URL it was created from
	name  string
	url   string
}

// createScratchDB creates an empty database osa_bench_<random> on the server of adminURL and
// returns it; drop it with [scratchDB.drop].
func createScratchDB(ctx context.Context, adminURL string) (*scratchDB, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("admin URL must be a postgres:// URL, got %q", redactURL(adminURL))
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := scratchPrefix + hex.EncodeToString(b)

	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("error connecting to the admin database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("error creating scratch database %s (the admin URL's user needs CREATEDB): %w", name, err)
	}
	u.Path = "/" + name
	return &scratchDB{admin: adminURL, name: name, url: u.String()}, nil
}

// drop removes the database, closing any connection still open on it. It runs even when ctx
// has ended, so that an interrupted benchmark leaves nothing behind.
func (d *scratchDB) drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("error dropping scratch database %s: %w", d.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("error dropping scratch database %s: %w", d.name, err)
	}
	return nil
}

// checkpoint asks the server to write its dirty buffers now, so that one scenario's
// checkpoint does not land in the next one's measurement. It needs superuser or pg_checkpoint;
// without them it reports false and the benchmark goes on.
func checkpoint(ctx context.Context, adminURL string) bool {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CHECKPOINT")
	return err == nil
}

// redactURL hides the password of a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
