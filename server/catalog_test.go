package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// A rolling deploy that adds a backend: process A runs with a config that knows only keyword,
// process B (role api) starts with a config that adds kw2 and applies it while A keeps
// publishing. A, never restarted, follows the catalog: its fan-out reaches kw2, it backfills kw2
// from the stored records, and every record — published before, during and after the change —
// ends up indexed in kw2.
func TestRollingDeployAddsBackend(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fast := func(cfg *config.Config) { cfg.Catalog.PollInterval = 100 * time.Millisecond }
	a := setup(t, func(cfg *config.Config) {
		fast(cfg)
		cfg.Backends = []config.Backend{config.DefaultBackend("keyword", config.BackendKindKeyword)}
	})
	ca, err := sdk.New(a.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	var (
		published atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	wg.Add(1)
	go func() { // A publishes throughout
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			params := make([]sdk.PublishParams, 10)
			for j := range params {
				params[j].Metadata = map[string]any{"title": fmt.Sprintf("rolling deploy record %d-%d", i, j)}
			}
			if _, err := ca.PublishMany(ctx, params); err != nil {
				t.Error(err)
				return
			}
			published.Add(int64(len(params)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for published.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}

	b := setup(t, func(cfg *config.Config) {
		fast(cfg)
		cfg.Database.URL = a.dbURL
		cfg.Node.Role = config.RoleAPI
		cfg.Backends = []config.Backend{config.DefaultBackend("keyword", config.BackendKindKeyword),
			config.DefaultBackend("kw2", config.BackendKindKeyword)}
	})
	cb, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	doc := "backends:\n  - {name: keyword, kind: keyword}\n  - {name: kw2, kind: keyword}\n"
	changes, applied, err := cb.ApplyBackends(ctx, doc, sdk.ApplyOpts{})
	if err != nil || !applied || len(changes) != 2 || changes[1].Name != "kw2" || changes[1].Action != "added" {
		t.Fatalf("apply kw2: %+v, applied %v, %v", changes, applied, err)
	}
	job, err := cb.WaitReindex(ctx, changes[1].ReindexID, nil)
	if err != nil || job.State != sdk.ReindexSucceeded {
		t.Fatalf("backfill of kw2: %+v, %v", job, err)
	}
	after := published.Load()
	for published.Load() < after+200 { // and after the backfill
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	total := published.Load()
	waitBackend(ctx, t, cb, "kw2", func(b sdk.Backend) bool { return b.State == "live" && b.Indexed == total })
	waitBackend(ctx, t, cb, "keyword", func(b sdk.Backend) bool { return b.Indexed == total })
	var rows int64
	if err := a.srv.Pool().QueryRow(ctx, `SELECT count(*) FROM kw_kw2`).Scan(&rows); err != nil || rows != total {
		t.Fatalf("kw_kw2 holds %d rows (%v), want every one of the %d records", rows, err, total)
	}
	found, err := ca.Search(ctx, "rolling deploy record", &sdk.SearchOpts{Backend: "kw2", Limit: 5})
	if err != nil || len(found.Hits) != 5 {
		t.Fatalf("search on kw2 from A: %v, %+v", err, found)
	}
}

// ApplyBackends refuses bad input with invalid_argument naming the field, and changes nothing;
// a dry run returns the plan and changes nothing either.
func TestApplyBackendsRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, nil)
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, doc, field string }{
		{"NotYAML", "backends: [", "document"},
		{"OtherKey", "http: {addr: ':1'}\nbackends: []", "document: http"},
		{"Empty", "backends: []", "document: backends"},
		{"UnknownKind", backendsDoc("  - {name: x, kind: elastic}\n"), "backends[2].kind"},
		{"DimsOver2000", backendsDoc("  - {name: x, kind: pgvector, embedder: {kind: hash, dims: 3000}}\n"), "backends[2].embedder.dims"},
		{"Duplicate", backendsDoc("  - {name: keyword, kind: keyword}\n"), "backends[2].name"},
		{"InvalidName", backendsDoc("  - {name: Bad-Name, kind: keyword}\n"), "backends[2].name"},
		{"Unreachable", backendsDoc("  - {name: x, kind: pgvector, embedder: {kind: openai, model: m, base_url: 'http://127.0.0.1:1', timeout: 1s}}\n"), "backends[2].embedder"},
		{"Removal", "backends:\n  - {name: keyword, kind: keyword}\n", "allow_remove"},
	} {
		_, _, err := c.ApplyBackends(ctx, tc.doc, sdk.ApplyOpts{})
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want invalid_argument naming %s", tc.name, err, tc.field)
		}
	}
	changes, applied, err := c.ApplyBackends(ctx, backendsDoc("  - {name: kw2, kind: keyword}\n"), sdk.ApplyOpts{DryRun: true})
	if err != nil || applied || len(changes) != 3 || changes[1].Name != "kw2" || changes[1].Action != "added" || changes[1].ReindexID != 0 {
		t.Fatalf("dry run: %+v, applied %v, %v", changes, applied, err)
	}
	bs, err := c.Backends(ctx)
	if err != nil || len(bs) != 2 {
		t.Fatalf("after refusals and a dry run: %+v, %v; want the two backends as they were", bs, err)
	}
	// A change in place applies without a rebuild.
	changes, applied, err = c.ApplyBackends(ctx, "backends:\n  - {name: vector, kind: pgvector, weight: 3}\n  - {name: keyword, kind: keyword}\n", sdk.ApplyOpts{})
	if err != nil || !applied || changes[1].Action != "changed" || changes[1].NeedsRebuild || !strings.Contains(strings.Join(changes[1].Changes, ";"), "weight: 2 → 3") {
		t.Fatalf("weight change: %+v, applied %v, %v", changes, applied, err)
	}
}

// ListBackends shows a backend being added as building, with its backfill's progress; the
// backend cannot be removed until it is live.
func TestListBackendsShowsBuildProgress(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, func(cfg *config.Config) { cfg.Node.Role = config.RoleAPI }) // no workers: the backfill waits
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]sdk.PublishParams, 5)
	for i := range params {
		params[i].Metadata = map[string]any{"title": fmt.Sprintf("record %d", i)}
	}
	if _, err := c.PublishMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ApplyBackends(ctx, backendsDoc("  - {name: kw2, kind: keyword}\n"), sdk.ApplyOpts{}); err != nil {
		t.Fatal(err)
	}
	bs, err := c.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || bs[2].Name != "kw2" || bs[2].State != "building" || bs[2].BuildTotal != 5 || bs[2].BuildDone != 0 ||
		bs[0].State != "live" || bs[0].BuildTotal != 0 {
		t.Fatalf("backends: %+v; want kw2 building, 0 of 5 records, after the live vector and keyword", bs)
	}
	// A backend being built is not removed under its rebuild.
	if _, _, err := c.ApplyBackends(ctx, backendsDoc(""), sdk.ApplyOpts{AllowRemove: true}); !errors.Is(err, sdk.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), `backend "kw2" is being built`) {
		t.Fatalf("removing kw2 while it is built: %v; want invalid_argument saying it is being built", err)
	}
}
