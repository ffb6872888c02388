package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// backendsDoc is a backends file with the built-in vector and keyword backends plus extra.
func backendsDoc(extra string) string {
	return "backends:\n  - {name: vector, kind: pgvector, weight: 2}\n  - {name: keyword, kind: keyword}\n" + extra
}

// Changing a vector backend's embedder goes through the catalog: in place it is refused with the
// way that works; that way — a new backend with the new embedder, backfilled from the records
// with no restart, then the old one removed — keeps every record searchable throughout. A
// process whose config file says otherwise follows the catalog and says so.
func TestEmbedderChange(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := setup(t, func(cfg *config.Config) { cfg.Catalog.PollInterval = 200 * time.Millisecond })
	c, err := sdk.New(b.baseURL)
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

	// In place: refused, naming the way that works, and nothing changes.
	inPlace := "backends:\n  - {name: vector, kind: pgvector, weight: 2, embedder: {kind: hash, model: hash-v2, dims: 256}}\n  - {name: keyword, kind: keyword}\n"
	if _, _, err := c.ApplyBackends(ctx, inPlace, sdk.ApplyOpts{}); !errors.Is(err, sdk.ErrFailedPrecondition) ||
		!strings.Contains(err.Error(), "under a new name") || !strings.Contains(err.Error(), "embedder.dims") {
		t.Fatalf("in-place embedder change: %v, want failed_precondition naming embedder.dims and the way that works", err)
	}

	// Beside the old one: a new backend, backfilled while the server runs.
	changes, applied, err := c.ApplyBackends(ctx, backendsDoc("  - {name: vector2, kind: pgvector, embedder: {kind: hash, model: hash-v2, dims: 256}}\n"), sdk.ApplyOpts{})
	if err != nil || !applied {
		t.Fatalf("adding vector2: %v (applied %v)", err, applied)
	}
	var reindexID int64
	for _, ch := range changes {
		if ch.Name == "vector2" && ch.Action == "added" {
			reindexID = ch.ReindexID
		} else if ch.Action != "unchanged" {
			t.Fatalf("adding vector2 changes %+v", ch)
		}
	}
	if reindexID == 0 {
		t.Fatalf("adding vector2: no backfill in %+v", changes)
	}
	if job, err := c.WaitReindex(ctx, reindexID, nil); err != nil || job.State != sdk.ReindexSucceeded {
		t.Fatalf("backfill of vector2: %+v, %v", job, err)
	}
	waitBackend(ctx, t, c, "vector2", func(b sdk.Backend) bool { return b.State == "live" && b.Indexed == int64(len(params)) })

	// Without the old one: removing needs allow_remove, then every record is found by the new one.
	only := "backends:\n  - {name: vector2, kind: pgvector, embedder: {kind: hash, model: hash-v2, dims: 256}}\n  - {name: keyword, kind: keyword}\n"
	if _, _, err := c.ApplyBackends(ctx, only, sdk.ApplyOpts{}); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "allow_remove") {
		t.Fatalf("removing vector without allow_remove: %v, want invalid_argument naming allow_remove", err)
	}
	if _, applied, err := c.ApplyBackends(ctx, only, sdk.ApplyOpts{AllowRemove: true}); err != nil || !applied {
		t.Fatalf("removing vector: %v (applied %v)", err, applied)
	}
	found, err := c.Search(ctx, "zebrafish heart regeneration", &sdk.SearchOpts{Mode: sdk.SearchVector, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Backends) != 1 || found.Backends[0] != "vector2" || len(found.Hits) != len(params) {
		t.Fatalf("vector search: %d of the %d records from %v, want all from vector2", len(found.Hits), len(params), found.Backends)
	}

	// A process started with the old config file follows the catalog, and says what differs.
	logs := &syncBuffer{}
	second := setupWithLogger(t, func(cfg *config.Config) { cfg.Database.URL = b.dbURL }, slog.New(slog.NewTextHandler(logs, nil)))
	c2, err := sdk.New(second.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := c2.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Name != "vector2" || bs[1].Name != "keyword" {
		t.Fatalf("second process's backends: %+v, want the catalog's vector2 and keyword", bs)
	}
	if l := logs.String(); !strings.Contains(l, "osa backends apply FILE") || !strings.Contains(l, "vector is not in the catalog") ||
		!strings.Contains(l, "vector2 is in the catalog only") {
		t.Fatalf("second process's log lacks the differences and the command:\n%s", l)
	}
}

// waitBackend polls ListBackends until ok holds for backend name.
func waitBackend(ctx context.Context, t *testing.T, c *sdk.Client, name string, ok func(sdk.Backend) bool) {
	t.Helper()
	for {
		bs, err := c.Backends(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.Name == name && ok(b) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("backend %s never got there: %+v", name, bs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
