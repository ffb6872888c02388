package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
	"github.com/osa-archive/osa/server"
)

// Changing a vector backend's embedder in place is refused at start-up, with the way that
// works in the message; that way — a new backend with the new embedder, rebuilt from the
// records, then the old one removed — keeps every record searchable throughout.
func TestEmbedderChange(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := setup(t, nil)
	c, err := sdk.New(old.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]sdk.PublishParams, 30)
	for i := range params {
		params[i].Metadata = map[string]any{"title": fmt.Sprintf("zebrafish heart regeneration %d", i)}
	}
	res, err := c.PublishMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if _, err := c.WaitIndexed(ctx, r.SRN); err != nil {
			t.Fatal(err)
		}
	}
	// Every process runs the new configuration before the rebuild (see the README). One that
	// does not leaves the rebuild's jobs to the others (jobs TestReindexJobOnProcessWithoutBackend),
	// at the price of a snooze each time it takes one.
	old.stop()
	sameDB := func(edit func(*config.Config)) func(*config.Config) {
		return func(cfg *config.Config) {
			cfg.Database.URL = old.dbURL
			edit(cfg)
		}
	}
	newEmbedder := func(b *config.Backend) {
		b.Embedder.Model, b.Embedder.Dims = "hash-v2", 256
	}

	// In place: refused, naming the way that works.
	cfg := config.Default()
	sameDB(func(cfg *config.Config) { newEmbedder(&cfg.Backends[0]) })(cfg)
	if _, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "add a backend") {
		t.Fatalf("in-place embedder change: err = %v, want a refusal that says to add a backend", err)
	}

	// Beside the old one: a new backend, rebuilt from the records.
	both := setup(t, sameDB(func(cfg *config.Config) {
		b := config.DefaultBackend("vector2", config.BackendKindPgvector)
		newEmbedder(&b)
		cfg.Backends = append(cfg.Backends, b)
	}))
	c2, err := sdk.New(both.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	job, err := c2.Reindex(ctx, "vector2")
	if err != nil {
		t.Fatal(err)
	}
	if job, err = c2.WaitReindex(ctx, job.ID, nil); err != nil || job.State != sdk.ReindexSucceeded {
		t.Fatalf("reindex of vector2: %+v, %v", job, err)
	}
	both.stop()

	// Without the old one: every record found by the new backend.
	only := setup(t, sameDB(func(cfg *config.Config) {
		newEmbedder(&cfg.Backends[0])
		cfg.Backends[0].Name = "vector2"
	}))
	c3, err := sdk.New(only.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	found, err := c3.Search(ctx, "zebrafish heart regeneration", &sdk.SearchOpts{Mode: sdk.SearchVector, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Hits) != len(params) {
		t.Fatalf("vector2 found %d of the %d records", len(found.Hits), len(params))
	}
}
