// Package servertest runs a whole OSA server for tests of the packages above it (the command
// line, the web interface): real PostgreSQL, a real River client, a real listener.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
)

// Start runs a server with the default configuration, edited by edit when not nil, on a free
// loopback port against a fresh database for t, stopped when t ends, and returns its base URL.
func Start(t *testing.T, edit func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.Database.URL = pgtest.NewURL(t)
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	if edit != nil {
		edit(cfg)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return "http://" + ln.Addr().String()
}
