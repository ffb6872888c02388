package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// startServer runs a server with one enabled geo source on fake and returns its URL.
func startServer(t *testing.T, fake *geotest.Server) string {
	t.Helper()
	cfg := config.Default()
	cfg.Database.URL = pgtest.NewURL(t)
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	src := config.DefaultSource("geo", config.SourceKindGeoEntrez)
	src.Geo.Email = "ops@example.org"
	src.Geo.APIKey = "test-key" // 10 requests/s
	src.Geo.BaseURL = fake.URL()
	src.Geo.Timeout = time.Second
	cfg.Sources = []config.Source{src}
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

func TestHarvestCommand(t *testing.T) {
	t.Parallel()
	t.Run("Wait", func(t *testing.T) {
		t.Parallel()
		url := startServer(t, geotest.New(t, geotest.Series(20)))
		out, err := run(t, "harvest", "geo", "--server", url, "--limit", "12", "--chunk-size", "5", "--wait", "--interval", "20ms")
		if err != nil {
			t.Fatalf("osa harvest: %v\n%s", err, out)
		}
		t.Logf("osa harvest --wait printed:\n%s", out)
		for _, want := range []string{
			"harvest 1 of geo started (limit 12, all dates, chunks of 5)",
			"harvest 1 succeeded: 12 fetched, 12 published, 0 unchanged, 0 skipped in ",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Failed", func(t *testing.T) {
		t.Parallel()
		fake := geotest.New(t, geotest.Series(5))
		fake.Fail("esearch", geotest.Fault{Status: 400, Body: "bad term"})
		url := startServer(t, fake)
		out, err := run(t, "harvest", "geo", "--server", url, "--since", "2020-01-02", "--wait", "--interval", "20ms")
		if err == nil || !strings.Contains(err.Error(), "harvest 1 failed: ") || !strings.Contains(err.Error(), "HTTP 400") {
			t.Fatalf("osa harvest of a failing source: %v, want an error naming the failure\n%s", err, out)
		}
		if !strings.Contains(out, "since 2020-01-02") || !strings.Contains(out, "harvest 1 failed: 0 fetched") {
			t.Fatalf("output:\n%s", out)
		}
	})
	t.Run("NoWaitAndErrors", func(t *testing.T) {
		t.Parallel()
		url := startServer(t, geotest.New(t, geotest.Series(5)))
		out, err := run(t, "harvest", "geo", "--server", url)
		if err != nil || !strings.Contains(out, "harvest 1 of geo started") || !strings.Contains(out, "add --wait") {
			t.Fatalf("osa harvest without --wait: %v\n%s", err, out)
		}
		if _, err := run(t, "harvest", "geo", "--server", url, "--since", "1 May"); err == nil || !strings.Contains(err.Error(), "since") {
			t.Fatalf("a bad --since: %v", err)
		}
		if _, err := run(t, "harvest", "nope", "--server", url); err == nil || !strings.Contains(err.Error(), "not_found") {
			t.Fatalf("an unknown source: %v", err)
		}
		if _, err := run(t, "harvest", "--server", url); err == nil {
			t.Fatal("osa harvest without a source succeeded")
		}
	})
}

func TestProgressBar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		done, total int64
		want        string
	}{
		{0, 0, "[" + strings.Repeat(".", 30) + "]"},
		{5, 10, "[" + strings.Repeat("#", 15) + strings.Repeat(".", 15) + "]"},
		{12, 10, "[" + strings.Repeat("#", 30) + "]"},
	} {
		if got := bar(tc.done, tc.total); got != tc.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
	if isTerminal(&strings.Builder{}) {
		t.Fatal("a buffer is not a terminal")
	}
}
