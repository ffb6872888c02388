package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// backendsDoc is a backends file with the built-in vector and keyword backends plus extra.
func backendsDoc(extra string) string {
	return "backends:\n  - {name: vector, kind: pgvector, weight: 2}\n  - {name: keyword, kind: keyword}\n" + extra
}

// Changing a vector backend's embedder is one ApplyBackends, with no restart: the next
// generation is built beside the live one while publishes go on and a search runs every 100 ms,
// none failing or coming back empty; it swaps in holding every record with the new model's
// vectors; the replaced generation's table is kept, retired, then dropped after
// catalog.retire_after. Removing a backend needs allow_remove, and retires its tables alike. A process whose config file says otherwise
// follows the catalog and says what differs.
func TestEmbedderChange(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := setup(t, func(cfg *config.Config) {
		cfg.Catalog.PollInterval = 200 * time.Millisecond
		cfg.Catalog.RetireAfter = 15 * time.Second // long enough for the checks of the retired tables, also under -race
	})
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(n, from int) {
		params := make([]sdk.PublishParams, n)
		for i := range params {
			params[i].Metadata = map[string]any{"title": fmt.Sprintf("zebrafish heart regeneration %d", from+i)}
		}
		if _, err := c.PublishMany(ctx, params); err != nil {
			t.Error(err)
		}
	}
	publish(300, 0)
	waitBackend(ctx, t, c, "vector", func(b sdk.Backend) bool { return b.Indexed == 300 })

	var (
		published          atomic.Int64
		searches, failures atomic.Int64
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
	)
	published.Store(300)
	wg.Add(2)
	go func() { // publishes at a steady rate
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				publish(5, int(published.Load()))
				published.Add(5)
			}
		}
	}()
	go func() { // a vector search every 100 ms
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			res, err := c.Search(ctx, "zebrafish heart regeneration", &sdk.SearchOpts{Mode: sdk.SearchVector, Limit: 10})
			searches.Add(1)
			if err != nil || len(res.Hits) == 0 {
				failures.Add(1)
				t.Errorf("search during the change: %v, %+v", err, res)
			}
		}
	}()

	newDims := "backends:\n  - {name: vector, kind: pgvector, weight: 2, embedder: {kind: hash, model: hash-v2, dims: 256}}\n  - {name: keyword, kind: keyword}\n"
	changes, applied, err := c.ApplyBackends(ctx, newDims, sdk.ApplyOpts{})
	if err != nil || !applied || len(changes) != 2 || changes[1].Name != "vector" || !changes[1].NeedsRebuild || changes[1].ReindexID == 0 ||
		!strings.Contains(strings.Join(changes[1].Changes, ";"), "embedder.dims: 384 → 256") {
		t.Fatalf("changing vector's dims: %+v, applied %v, %v", changes, applied, err)
	}
	if job, err := c.WaitReindex(ctx, changes[1].ReindexID, nil); err != nil || job.State != sdk.ReindexSucceeded {
		t.Fatalf("rebuild of vector's next generation: %+v, %v", job, err)
	}
	// The replaced generation is kept, retired, for catalog.retire_after.
	if n := tableRows(ctx, t, b, "vec_vector_retired_1"); n < 300 {
		t.Fatalf("vec_vector_retired_1 right after the swap: %d rows, want the old generation's (at least 300)", n)
	}
	time.Sleep(time.Second) // publishes and searches go on after the swap
	close(stop)
	wg.Wait()
	total := published.Load()
	waitBackend(ctx, t, c, "vector", func(b sdk.Backend) bool {
		return b.State == "live" && b.Generation == 2 && b.Dims == 256 && b.Indexed == total
	})
	var rows, newVectors int64
	if err := b.srv.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE vector_dims(embedding) = 256) FROM vec_vector`).
		Scan(&rows, &newVectors); err != nil || rows != total || newVectors != total {
		t.Fatalf("vec_vector: %d rows, %d of 256 dims (%v); want every one of the %d records with the new vectors", rows, newVectors, err, total)
	}
	t.Logf("%d searches during the change, %d failed or empty; %d records", searches.Load(), failures.Load(), total)
	if searches.Load() < 5 {
		t.Fatalf("only %d searches ran during the change", searches.Load())
	}

	// Removing a backend needs allow_remove.
	only := "backends:\n  - {name: vector, kind: pgvector, weight: 2, embedder: {kind: hash, model: hash-v2, dims: 256}}\n"
	if _, _, err := c.ApplyBackends(ctx, only, sdk.ApplyOpts{}); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "allow_remove") {
		t.Fatalf("removing keyword without allow_remove: %v, want invalid_argument naming allow_remove", err)
	}
	if _, applied, err := c.ApplyBackends(ctx, only, sdk.ApplyOpts{AllowRemove: true}); err != nil || !applied {
		t.Fatalf("removing keyword: %v (applied %v)", err, applied)
	}
	if res, err := c.Search(ctx, "zebrafish", &sdk.SearchOpts{Mode: sdk.SearchKeyword}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("keyword search after removing keyword: %+v, %v; want invalid_argument", res, err)
	}
	if n := tableRows(ctx, t, b, "kw_keyword_retired_1"); n != total || tableRows(ctx, t, b, "kw_keyword") >= 0 {
		t.Fatalf("keyword removed: kw_keyword_retired_1 has %d rows, want %d, and kw_keyword must be gone", n, total)
	}
	// After catalog.retire_after, the retired tables are dropped, and their catalog rows.
	for _, table := range []string{"vec_vector_retired_1", "kw_keyword_retired_1", "kws_keyword_retired_1"} {
		for tableRows(ctx, t, b, table) >= 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("%s was never dropped", table)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	var retiring int
	if err := b.srv.Pool().QueryRow(ctx, `SELECT count(*) FROM backend_catalog WHERE state = 'retiring'`).Scan(&retiring); err != nil || retiring != 0 {
		t.Fatalf("%d retiring catalog rows after retire_after (%v), want 0", retiring, err)
	}

	// A process started with the default config file follows the catalog, and says what differs.
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
	if len(bs) != 1 || bs[0].Name != "vector" || bs[0].Dims != 256 {
		t.Fatalf("second process's backends: %+v, want the catalog's vector of 256 dims", bs)
	}
	if l := logs.String(); !strings.Contains(l, "osa backends apply FILE") || !strings.Contains(l, "embedder.dims: 256 → 384") ||
		!strings.Contains(l, "keyword is not in the catalog") {
		t.Fatalf("second process's log lacks the differences and the command:\n%s", l)
	}
}

// tableRows returns the rows of table, -1 when there is no such table.
func tableRows(ctx context.Context, t *testing.T, b *testBundle, table string) int64 {
	t.Helper()
	var exists bool
	if err := b.srv.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		return -1
	}
	var n int64
	err := b.srv.Pool().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return -1 // dropped between the two statements (a retired table reaching retire_after)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
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

// Changing a vector backend's hnsw.type is a change that needs a new generation, as an embedder
// change is: ApplyBackends starts its rebuild, which swaps in a table of the new type holding
// every record, searched as before.
func TestHNSWTypeChange(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := setup(t, func(cfg *config.Config) { cfg.Catalog.PollInterval = 200 * time.Millisecond })
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]sdk.PublishParams, 200)
	for i := range params {
		params[i].Metadata = map[string]any{"title": fmt.Sprintf("zebrafish heart regeneration %d", i)}
	}
	if _, err := c.PublishMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	waitBackend(ctx, t, c, "vector", func(b sdk.Backend) bool { return b.Indexed == 200 })

	halfvec := "backends:\n  - {name: vector, kind: pgvector, weight: 2, hnsw: {type: halfvec}}\n  - {name: keyword, kind: keyword}\n"
	changes, applied, err := c.ApplyBackends(ctx, halfvec, sdk.ApplyOpts{})
	if err != nil || !applied || len(changes) != 2 || changes[1].Name != "vector" || !changes[1].NeedsRebuild || changes[1].ReindexID == 0 ||
		strings.Join(changes[1].Changes, ";") != "hnsw.type: vector → halfvec" {
		t.Fatalf("changing vector's hnsw.type: %+v, applied %v, %v", changes, applied, err)
	}
	if job, err := c.WaitReindex(ctx, changes[1].ReindexID, nil); err != nil || job.State != sdk.ReindexSucceeded {
		t.Fatalf("rebuild of vector's next generation: %+v, %v", job, err)
	}
	waitBackend(ctx, t, c, "vector", func(b sdk.Backend) bool { return b.State == "live" && b.Generation == 2 && b.Indexed == 200 })
	var colType string
	var rows int
	if err := b.srv.Pool().QueryRow(ctx, `SELECT format_type(atttypid, atttypmod), (SELECT count(*) FROM vec_vector)
		FROM pg_attribute WHERE attrelid = 'vec_vector'::regclass AND attname = 'embedding'`).Scan(&colType, &rows); err != nil {
		t.Fatal(err)
	}
	if colType != "halfvec(384)" || rows != 200 {
		t.Fatalf("vec_vector after the change: %s, %d rows; want halfvec(384), 200 rows", colType, rows)
	}
	res, err := c.Search(ctx, "zebrafish heart regeneration 17", &sdk.SearchOpts{Mode: sdk.SearchVector, Limit: 5})
	if err != nil || len(res.Hits) == 0 || res.Hits[0].Metadata["title"] != "zebrafish heart regeneration 17" {
		t.Fatalf("vector search on the halfvec generation: %+v, %v", res, err)
	}
}
