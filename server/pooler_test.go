package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
)

// TestBehindTransactionPooler starts a server behind PgBouncer in transaction mode with one
// server connection, which a client before it left a named prepared statement on (pgx's
// default statement cache), as happens as soon as two clients share a pooled connection.
// Without database.transaction_pooler the server refuses to start, saying to set it; with it,
// the server starts, migrates, publishes and searches through a pooler (of four server
// connections: migrations hold their lock on one while they run on another).
func TestBehindTransactionPooler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.NewURL(t)
	single := pgtest.ThroughPgBouncer(t, dbURL, 1)
	conn, err := pgx.Connect(ctx, single)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil { // what the server's pool runs first
		t.Fatal(err)
	}
	conn.Close(ctx)

	cfg := config.Default()
	cfg.Database.URL = single
	cfg.Database.AutoMigrate = false
	_, err = server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "set database.transaction_pooler: true") {
		t.Fatalf("server.New behind a transaction pooler without transaction_pooler: %v, want the hint to set it", err)
	}

	pooled := pgtest.ThroughPgBouncer(t, dbURL, 4)
	b := setup(t, func(c *config.Config) {
		c.Database.URL = pooled
		c.Database.TransactionPooler = true
	})
	res, err := recordClient(b).PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{
		Metadata:    mustStruct(t, map[string]any{"title": "Axolotl limb regeneration through a pooler"}),
		WaitIndexed: true,
	}))
	if err != nil || !res.Msg.Indexed {
		t.Fatalf("publish with wait_indexed through the pooler: %v", err)
	}
	for _, mode := range []osav1.SearchMode{osav1.SearchMode_SEARCH_MODE_VECTOR, osav1.SearchMode_SEARCH_MODE_KEYWORD} {
		if got := searchSRNs(t, b, "axolotl", mode); len(got) == 0 || got[0] != res.Msg.Record.Srn {
			t.Errorf("%s search through the pooler: %v, want %s first", mode, got, res.Msg.Record.Srn)
		}
	}
}
