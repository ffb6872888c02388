package sdk_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/sdk"
	"github.com/osa-archive/osa/server"
)

// serverURL is the base URL of the server TestMain starts for the examples, on a fresh
// database. Tests that count records start their own with newServer.
var serverURL string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dbURL, drop, err := pgtest.NewURLForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	base, stop, err := startServer(dbURL, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	serverURL = base
	return m.Run()
}

// startServer runs a server on a free loopback port against dbURL and returns its base URL and
// a function that stops it.
func startServer(dbURL string, edit func(*config.Config)) (string, func(), error) {
	cfg := config.Default()
	cfg.Database.URL = dbURL
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	if edit != nil {
		edit(cfg)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		<-done
		srv.Close()
	}, nil
}

// newServer starts a server of its own for t, on a fresh database, and returns its base URL.
func newServer(t testing.TB, edit func(*config.Config)) string {
	t.Helper()
	base, stop, err := startServer(pgtest.NewURL(t), edit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return base
}

// newClient returns a client of base with opts, failing t on a malformed URL.
func newClient(t testing.TB, base string, opts ...sdk.Option) *sdk.Client {
	t.Helper()
	c, err := sdk.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testContext returns a context that ends with t or after a minute, whichever comes first.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
