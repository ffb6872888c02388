package jobs_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/jobs"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// testSource is one GEO source of a harvest test, on its own fake E-utilities server.
type testSource struct {
	name     string
	docs     []geotest.Doc
	disabled bool
	schedule string
	limit    int // of scheduled harvests
	// maxUnfetched is the entry's MaxUnfetchedIDs.
	maxUnfetched int

	fake *geotest.Server
}

// harvestEnv is a database, a registry of test sources and River clients working the sources
// queue and a keyword backend.
type harvestEnv struct {
	logs *syncBuffer
	pool *pgxpool.Pool
	reg  *sources.Registry
	srcs map[string]*testSource
}

// newHarvestEnv starts a fake server per source and builds the registry on a fresh database.
func newHarvestEnv(t *testing.T, srcs ...*testSource) *harvestEnv {
	t.Helper()
	e := &harvestEnv{logs: &syncBuffer{}, pool: pgtest.New(t), srcs: map[string]*testSource{}}
	logger := e.logger(t)
	var entries []sources.Entry
	for _, s := range srcs {
		s.fake = geotest.New(t, s.docs)
		src, err := geo.New(geo.Config{
			Name: s.name, Email: "ops@example.org", BaseURL: s.fake.URL(), Timeout: time.Second,
			RateLimit: 1000, BackoffBase: 5 * time.Millisecond, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, sources.Entry{Source: src, Kind: geo.Kind, Enabled: !s.disabled, Schedule: s.schedule,
			Limit: s.limit, PageSize: 10, MaxPageSize: geo.PageSizeMax, MaxUnfetchedIDs: s.maxUnfetched})
		e.srcs[s.name] = s
	}
	reg, err := sources.NewRegistry(entries)
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	kw, err := keyword.New(keyword.Config{Name: "keyword"})
	if err != nil {
		t.Fatal(err)
	}
	if err := kw.Ensure(context.Background(), e.pool); err != nil {
		t.Fatal(err)
	}
	return e
}

// logger writes JSON lines at DEBUG to e.logs (and, with -v, to the test log).
func (e *harvestEnv) logger(t *testing.T) *slog.Logger {
	var w io.Writer = e.logs
	if testing.Verbose() {
		w = io.MultiWriter(e.logs, testWriter{t})
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// client builds a River client of the environment, started unless noStart.
func (e *harvestEnv) client(t *testing.T, noStart bool) *river.Client[pgx.Tx] {
	t.Helper()
	kw, err := keyword.New(keyword.Config{Name: "keyword"})
	if err != nil {
		t.Fatal(err)
	}
	seedCatalog(t, e.pool, []pipeline.BackendConfig{{Backend: kw, MaxAttempts: 5}})
	jc, err := jobs.NewClient(e.pool, jobs.Config{
		Pipeline: pipeline.Config{
			Backends: []pipeline.BackendConfig{{Backend: kw, Weight: 1, MaxAttempts: 5, BatchSize: 64,
				BatchDelay: 20 * time.Millisecond, BatchTimeout: 30 * time.Second}},
			Domain:        testDomain,
			FanOutWorkers: 16,
			TotalWorkers:  64,
		},
		Harvest:           harvest.Config{Sources: e.reg},
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		JobTimeout:        30 * time.Second,
		RescueAfter:       time.Minute,
		RetryPolicy:       fastRetry{d: 50 * time.Millisecond},
		Store:             records.StoreConfig{Domain: testDomain},
		Work:              true,
	}, e.logger(t))
	if err != nil {
		t.Fatal(err)
	}
	client := jc.Client
	if !noStart {
		if err := client.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client.StopAndCancel(ctx)
		})
	}
	return client
}

func (e *harvestEnv) start(t *testing.T, client *river.Client[pgx.Tx], req harvest.Request) harvest.Harvest {
	t.Helper()
	h, err := harvest.Start(context.Background(), client, e.pool, e.reg, req)
	if err != nil {
		t.Fatal(err)
	}
	if h.State != harvest.Running || h.ID <= 0 {
		t.Fatalf("started harvest %+v", h)
	}
	return h
}

// wait polls the harvest until it is no longer running.
func (e *harvestEnv) wait(t *testing.T, id int64) harvest.Harvest {
	t.Helper()
	var h harvest.Harvest
	waitFor(t, 30*time.Second, fmt.Sprintf("harvest %d to end", id), func() bool {
		var err error
		if h, err = harvest.Get(context.Background(), e.pool, id); err != nil {
			t.Fatal(err)
		}
		return h.State != harvest.Running
	})
	return h
}

func (e *harvestEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the logged JSON lines whose msg is msg.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestHarvestEndsAtLimitOrTotal is the regression test of a harvest that never ended once its
// offset reached the limit: every harvest here must end, fetch exactly min(limit, total)
// records and send exactly one search plus one esummary per chunk — never a request past the
// end, never a chunk job after the last.
func TestHarvestEndsAtLimitOrTotal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                string
		total, limit, chunk int
		retmax              []string // of each esummary request
	}{
		{"LimitBelowChunk", 50, 7, 10, []string{"7"}},
		{"LimitEqualsChunk", 50, 10, 10, []string{"10"}},
		{"LimitMultipleOfChunk", 50, 30, 10, []string{"10", "10", "10"}},
		{"LimitAboveChunk", 50, 25, 10, []string{"10", "10", "5"}},
		{"LimitAboveTotal", 23, 100, 10, []string{"10", "10", "3"}},
		{"NoLimitTotalMultipleOfChunk", 30, 0, 10, []string{"10", "10", "10"}},
		{"NoLimitChunkAboveTotal", 4, 0, 10, []string{"4"}},
		{"EmptySource", 0, 0, 10, nil},
	}
	var srcs []*testSource
	for i, tc := range cases {
		srcs = append(srcs, &testSource{name: fmt.Sprintf("geo_%d", i), docs: geotest.Series(tc.total)})
	}
	e := newHarvestEnv(t, srcs...)
	client := e.client(t, false)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := srcs[i]
			h := e.start(t, client, harvest.Request{Source: src.name, Limit: tc.limit, ChunkSize: tc.chunk})
			h = e.wait(t, h.ID)
			want := int64(min(tc.total, tc.limit))
			if tc.limit == 0 {
				want = int64(tc.total)
			}
			if h.State != harvest.Succeeded || h.Fetched != want || h.Published != want || h.Total != want ||
				h.Unchanged != 0 || h.Skipped != 0 || h.Error != "" || h.FinishedAt == nil {
				t.Fatalf("harvest %+v, want succeeded with %d fetched and published", h, want)
			}
			if n := e.count(t, `SELECT count(*) FROM records WHERE source = $1`, src.name); int64(n) != want {
				t.Fatalf("%d records, want %d", n, want)
			}
			// The last chunk commits the harvest's end and enqueues no next chunk in one
			// transaction: a finished harvest has all its requests and chunk jobs.
			var retmax []string
			for _, r := range src.fake.Requests() {
				if r.Endpoint == "esummary" {
					retmax = append(retmax, r.Query.Get("retmax"))
				}
			}
			if n := src.fake.Count("esearch"); n != 1 || !slices.Equal(retmax, tc.retmax) {
				t.Fatalf("%d searches and esummary retmax %v, want 1 search and %v", n, retmax, tc.retmax)
			}
			chunks := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_harvest_chunk' AND (args->>'harvest_id')::bigint = $1`, h.ID)
			if chunks != max(len(tc.retmax), 1) {
				t.Fatalf("%d chunk jobs, want %d", chunks, max(len(tc.retmax), 1))
			}
			waitFor(t, 5*time.Second, "chunk jobs completed", func() bool {
				return e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_harvest_chunk' AND state <> 'completed'
					AND (args->>'harvest_id')::bigint = $1`, h.ID) == 0
			})
		})
	}
}

func TestHarvestFailures(t *testing.T) {
	t.Parallel()
	retried := &testSource{name: "retried", docs: geotest.Series(12)}
	down := &testSource{name: "down", docs: geotest.Series(30)}
	rejected := &testSource{name: "rejected", docs: geotest.Series(5)}
	garbled := &testSource{name: "garbled", docs: geotest.Series(5)}
	e := newHarvestEnv(t, retried, down, rejected, garbled)
	client := e.client(t, false)

	t.Run("ChunkRetriedByRiver", func(t *testing.T) {
		t.Parallel()
		// Five 503s exhaust one attempt of the second chunk; River's retry succeeds.
		f := geotest.Fault{Status: 503}
		arrived, release := retried.fake.Hold(10) // the faults below hit the second chunk

		h := e.start(t, client, harvest.Request{Source: retried.name})
		<-arrived
		retried.fake.Fail("esummary", f, f, f, f, f)
		release()
		h = e.wait(t, h.ID)
		if h.State != harvest.Succeeded || h.Fetched != 12 || h.Published != 12 {
			t.Fatalf("harvest %+v, want succeeded with 12", h)
		}
		if got := retried.fake.Retstarts(); !slices.Equal(got, []int{0, 10, 10, 10, 10, 10, 10}) {
			t.Fatalf("esummary retstarts %v, want one for 0 and 6 for 10 (5 attempts, then River's retry)", got)
		}
	})
	t.Run("SourceStaysDown", func(t *testing.T) {
		t.Parallel()
		arrived, release := down.fake.Hold(10)
		h := e.start(t, client, harvest.Request{Source: down.name})
		<-arrived
		var faults []geotest.Fault
		for range 5 * harvest.MaxAttempts {
			faults = append(faults, geotest.Fault{Status: 503, Body: "maintenance"})
		}
		down.fake.Fail("esummary", faults...)
		release()
		h = e.wait(t, h.ID)
		if h.State != harvest.Failed || h.FinishedAt == nil || !strings.Contains(h.Error, "HTTP 503") ||
			!strings.Contains(h.Error, "offset 10") || strings.Contains(h.Error, "api_key") {
			t.Fatalf("harvest %+v, want failed at offset 10 with the 503", h)
		}
		// What the first chunk published stays published.
		if h.Fetched != 10 || e.count(t, `SELECT count(*) FROM records WHERE source = 'down'`) != 10 {
			t.Fatalf("harvest fetched %d, want the first chunk's 10", h.Fetched)
		}
		// The held request, then 5 attempts per chunk try.
		if n := down.fake.Count("esummary"); n != 2+5*harvest.MaxAttempts-1 {
			t.Fatalf("%d esummary requests, want %d", n, 2+5*harvest.MaxAttempts-1)
		}
		waitFor(t, 5*time.Second, "the chunk job cancelled", func() bool {
			return e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_harvest_chunk' AND state = 'cancelled'
				AND (args->>'harvest_id')::bigint = $1`, h.ID) == 1
		})
	})
	t.Run("PermanentErrorFailsAtOnce", func(t *testing.T) {
		t.Parallel()
		rejected.fake.Fail("esearch", geotest.Fault{Status: 400, Body: `{"error":"Invalid query"}`})
		h := e.wait(t, e.start(t, client, harvest.Request{Source: rejected.name}).ID)
		if h.State != harvest.Failed || !strings.Contains(h.Error, "HTTP 400") || rejected.fake.Count("esearch") != 1 {
			t.Fatalf("harvest %+v after %d searches, want failed after 1", h, rejected.fake.Count("esearch"))
		}
	})
	t.Run("InvalidJSON", func(t *testing.T) {
		t.Parallel()
		var faults []geotest.Fault
		for range 5 * harvest.MaxAttempts {
			faults = append(faults, geotest.Fault{Body: `{"header":{"type":"esummary"},"result":{"uids":["1"`})
		}
		garbled.fake.Fail("esummary", faults...)
		h := e.wait(t, e.start(t, client, harvest.Request{Source: garbled.name}).ID)
		if h.State != harvest.Failed || !strings.Contains(h.Error, "not valid JSON") || h.Fetched != 0 {
			t.Fatalf("harvest %+v, want failed on invalid JSON", h)
		}
	})
}

func TestHarvestRidesOutFaults(t *testing.T) {
	t.Parallel()
	src := &testSource{name: "geo", docs: geotest.Series(60)}
	e := newHarvestEnv(t, src)
	client := e.client(t, false)
	f := src.fake
	// Chunk 2: a 429 with Retry-After; chunk 3: 503 twice; chunk 4: a timeout; chunk 5: invalid
	// JSON; chunk 6: its WebEnv expires while it is asked for.
	holds := map[int]func(){}
	arrivals := map[int]<-chan struct{}{}
	for _, off := range []int{10, 20, 30, 40, 50} {
		arrivals[off], holds[off] = f.Hold(off)
	}
	h := e.start(t, client, harvest.Request{Source: src.name})
	for _, step := range []struct {
		off   int
		fault func()
	}{
		{10, func() { f.Fail("esummary", geotest.Fault{Status: 429, RetryAfter: "0.2"}) }},
		{20, func() { f.Fail("esummary", geotest.Fault{Status: 503}, geotest.Fault{Status: 503}) }},
		{30, func() { f.Fail("esummary", geotest.Fault{Delay: 5 * time.Second}) }},
		{40, func() { f.Fail("esummary", geotest.Fault{Body: "<html>Bad Gateway</html>"}) }},
		{50, f.ExpireSessions},
	} {
		select {
		case <-arrivals[step.off]:
		case <-time.After(20 * time.Second):
			t.Fatalf("no request for offset %d", step.off)
		}
		step.fault()
		holds[step.off]()
	}
	h = e.wait(t, h.ID)
	if h.State != harvest.Succeeded || h.Fetched != 60 || h.Published != 60 {
		t.Fatalf("harvest %+v, want succeeded with 60", h)
	}
	if n := e.count(t, `SELECT count(*) FROM records WHERE source = 'geo' AND version = 1`); n != 60 {
		t.Fatalf("%d records at version 1, want 60", n)
	}
	if n := f.Count("esearch"); n != 2 {
		t.Fatalf("%d searches, want 2 (one renewed after the expiry)", n)
	}
	// The timeout is the held request itself (its fault delays it 5s): the client gave up
	// after 1s and asked again.
	want := []int{0, 10, 10, 20, 20, 20, 30, 30, 40, 40, 50, 50}
	if got := f.Retstarts(); !slices.Equal(got, want) {
		t.Fatalf("esummary retstarts %v, want %v", got, want)
	}
}

func TestHarvestResumesAfterProcessStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := &testSource{name: "geo", docs: geotest.Series(50)}
	e := newHarvestEnv(t, src)
	first := e.client(t, false)

	// The process dies while it fetches the third chunk: two chunks are committed.
	arrived, release := src.fake.Hold(20)
	defer release()
	h := e.start(t, first, harvest.Request{Source: src.name})
	<-arrived
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := first.StopAndCancel(stopCtx); err != nil {
		t.Fatal(err)
	}
	release()
	mid, err := harvest.Get(ctx, e.pool, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mid.State != harvest.Running || mid.Fetched != 20 || e.count(t, `SELECT count(*) FROM records`) != 20 {
		t.Fatalf("after the stop: %+v with %d records, want running with 20", mid, e.count(t, `SELECT count(*) FROM records`))
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_harvest_chunk' AND state = 'available'
		AND (args->'cursor'->>'offset')::int = 20`); n != 1 {
		t.Fatalf("%d available chunk jobs at offset 20, want 1", n)
	}

	// Another process picks the harvest up at the next chunk.
	e.client(t, false)
	done := e.wait(t, h.ID)
	if done.State != harvest.Succeeded || done.Fetched != 50 || done.Published != 50 || done.Unchanged != 0 {
		t.Fatalf("harvest %+v, want succeeded with 50 published once", done)
	}
	if n := e.count(t, `SELECT count(*) FROM records WHERE version = 1`); n != 50 {
		t.Fatalf("%d records at version 1, want 50", n)
	}
	if n := e.count(t, `SELECT count(*) FROM river_job j, jsonb_array_elements(j.args->'changes') c WHERE j.kind = 'osa_fanout'`); n != 50 {
		t.Fatalf("%d records fanned out, want 50 (each once)", n)
	}
	// Only the interrupted chunk was asked for twice; the search session travelled in the cursor.
	if got := src.fake.Retstarts(); !slices.Equal(got, []int{0, 10, 20, 20, 30, 40}) || src.fake.Count("esearch") != 1 {
		t.Fatalf("esummary retstarts %v after %d searches, want [0 10 20 20 30 40] after 1", got, src.fake.Count("esearch"))
	}
}

func TestReharvest(t *testing.T) {
	t.Parallel()
	src := &testSource{name: "geo", docs: geotest.Series(20)}
	e := newHarvestEnv(t, src)
	client := e.client(t, false)
	settled := func() bool {
		return e.count(t, `SELECT count(*) FROM records r LEFT JOIN index_state s ON s.record_id = r.id AND s.backend = 'keyword'
			WHERE s.state IS DISTINCT FROM 'indexed' OR s.indexed_version IS DISTINCT FROM r.version`) == 0
	}
	first := e.wait(t, e.start(t, client, harvest.Request{Source: "geo"}).ID)
	if first.Published != 20 {
		t.Fatalf("first harvest %+v", first)
	}
	waitFor(t, 30*time.Second, "the first harvest indexed", settled)
	versions := func() int { return e.count(t, `SELECT count(*) FROM record_versions`) }
	fanouts := func() int {
		return e.count(t, `SELECT count(*) FROM river_job j, jsonb_array_elements(j.args->'changes') c WHERE j.kind = 'osa_fanout'`)
	}
	if versions() != 20 || fanouts() != 20 {
		t.Fatalf("%d versions and %d fanned-out changes after the first harvest", versions(), fanouts())
	}

	again := e.wait(t, e.start(t, client, harvest.Request{Source: "geo"}).ID)
	if again.State != harvest.Succeeded || again.Fetched != 20 || again.Published != 0 || again.Unchanged != 20 {
		t.Fatalf("re-harvest of unchanged data %+v, want 20 unchanged", again)
	}
	if versions() != 20 || fanouts() != 20 {
		t.Fatalf("unchanged re-harvest made %d versions and %d fanned-out changes, want none", versions()-20, fanouts()-20)
	}

	src.fake.SetTitle("GSE1005", "A corrected title about zebrafish fins")
	changed := e.wait(t, e.start(t, client, harvest.Request{Source: "geo"}).ID)
	if changed.Published != 1 || changed.Unchanged != 19 {
		t.Fatalf("re-harvest with a changed title %+v, want 1 published and 19 unchanged", changed)
	}
	if versions() != 21 || fanouts() != 21 {
		t.Fatalf("%d versions and %d fanned-out changes, want 21 of each", versions(), fanouts())
	}
	var version int
	var title string
	if err := e.pool.QueryRow(context.Background(), `SELECT version, metadata->>'title' FROM records WHERE source_id = 'GSE1005'`).
		Scan(&version, &title); err != nil || version != 2 || !strings.Contains(title, "zebrafish") {
		t.Fatalf("GSE1005 at version %d titled %q (%v)", version, title, err)
	}
	waitFor(t, 30*time.Second, "the new version re-indexed", settled)
	if n := e.count(t, `SELECT count(*) FROM kw_keyword k JOIN records r ON r.id = k.record_id
		WHERE r.source_id = 'GSE1005' AND k.version = 2 AND k.document @@ to_tsquery('english', 'zebrafish')`); n != 1 {
		t.Fatal("the keyword index does not have the new title")
	}
}

func TestHarvestLogging(t *testing.T) {
	t.Parallel()
	src := &testSource{name: "geo", docs: geotest.Series(25)}
	e := newHarvestEnv(t, src)
	client := e.client(t, false)
	h := e.wait(t, e.start(t, client, harvest.Request{Source: "geo", Limit: 22}).ID)
	if h.State != harvest.Succeeded {
		t.Fatalf("harvest %+v", h)
	}
	chunks := e.logs.lines(t, "harvest: chunk")
	if len(chunks) != 3 {
		t.Fatalf("%d chunk lines, want 3", len(chunks))
	}
	// A chunk logs after its commit, and the next chunk may be done before that line is written.
	slices.SortFunc(chunks, func(a, b map[string]any) int { return cmp.Compare(a["offset"].(float64), b["offset"].(float64)) })
	for i, l := range chunks {
		if l["level"] != "INFO" || l["source"] != "geo" || l["offset"] != float64(10*i) || l["fetched"] == nil || l["published"] == nil {
			t.Fatalf("chunk line %d: %v", i, l)
		}
	}
	if edges := e.logs.lines(t, "harvest: limit reached"); len(edges) != 1 || edges[0]["level"] != "DEBUG" || edges[0]["offset"] != 22.0 {
		t.Fatalf("limit edge lines %v, want one at DEBUG", edges)
	}
	fetched := e.logs.lines(t, "geo: fetched")
	if len(fetched) != 3 || fetched[0]["level"] != "DEBUG" || len(fetched[0]["ids"].([]any)) != 10 {
		t.Fatalf("fetched lines %v, want 3 at DEBUG with the ids", fetched)
	}
	for _, l := range e.logs.lines(t, "geo: fetched") {
		if l["level"] == "INFO" {
			t.Fatal("ids logged at INFO")
		}
	}
}

func TestScheduledHarvest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := &testSource{name: "geo", docs: geotest.Series(40), schedule: "@every 1s", limit: 15}
	e := newHarvestEnv(t, src)
	// A harvest that succeeded on 2020-02-02 at 05:00 UTC, before the schedule existed.
	if _, err := e.pool.Exec(ctx, `INSERT INTO harvests (source, state, started_at, finished_at)
		VALUES ('geo', 'succeeded', '2020-02-02T05:00:00Z', '2020-02-02T05:10:00Z')`); err != nil {
		t.Fatal(err)
	}
	e.client(t, false)
	// The first scheduled harvest is the second row.
	waitFor(t, 20*time.Second, "a scheduled harvest", func() bool {
		return e.count(t, `SELECT count(*) FROM harvests`) > 1
	})
	h := e.wait(t, 2)
	// Since the day before the last success, capped by the source's limit of 15.
	if h.Since != "2020-02-01" || h.Limit != 15 || h.Fetched != 9 {
		t.Fatalf("scheduled harvest %+v, want since 2020-02-01, limit 15 and 9 records", h)
	}
	if term := src.fake.Requests()[0].Query.Get("term"); term != "GSE[ETYP] AND 2020/02/01:3000[PDAT]" {
		t.Fatalf("scheduled search term %q", term)
	}
}

func TestStartHarvestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	geoSrc := &testSource{name: "geo", docs: geotest.Series(5)}
	off := &testSource{name: "off", disabled: true}
	e := newHarvestEnv(t, geoSrc, off)
	client := e.client(t, true) // nothing works the queue: the first harvest stays running
	start := func(req harvest.Request) error {
		_, err := harvest.Start(ctx, client, e.pool, e.reg, req)
		return err
	}
	for _, tc := range []struct {
		req   harvest.Request
		field string
	}{
		{harvest.Request{}, "source"},
		{harvest.Request{Source: "geo", Limit: -1}, "limit"},
		{harvest.Request{Source: "geo", ChunkSize: -5}, "chunk_size"},
		{harvest.Request{Source: "geo", ChunkSize: 501}, "chunk_size"},
		{harvest.Request{Source: "geo", Since: "2024-13-01"}, "since"},
		{harvest.Request{Source: "geo", Since: "yesterday"}, "since"},
	} {
		var ve *domainerr.ValidationError
		if err := start(tc.req); !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("StartHarvest(%+v) = %v, want a validation error of %s", tc.req, err, tc.field)
		}
	}
	if err := start(harvest.Request{Source: "nope"}); !errors.Is(err, sources.ErrUnknownSource) || !strings.Contains(err.Error(), "[geo off]") {
		t.Errorf("unknown source: %v", err)
	}
	if err := start(harvest.Request{Source: "off"}); !errors.Is(err, sources.ErrDisabled) {
		t.Errorf("disabled source: %v", err)
	}
	h := e.start(t, client, harvest.Request{Source: "geo", Limit: 3, Since: "2020-01-02", ChunkSize: 2})
	if h.Limit != 3 || h.Since != "2020-01-02" || h.ChunkSize != 2 {
		t.Fatalf("harvest %+v does not keep its parameters", h)
	}
	var running *harvest.RunningError
	if err := start(harvest.Request{Source: "geo"}); !errors.As(err, &running) || running.ID != h.ID {
		t.Fatalf("second harvest of a running source: %v, want a HarvestRunningError naming %d", err, h.ID)
	}
	if e.count(t, `SELECT count(*) FROM harvests`) != 1 || e.count(t, `SELECT count(*) FROM river_job`) != 1 {
		t.Fatal("a refused harvest left a row or a job")
	}
	if _, err := harvest.Get(ctx, e.pool, 9999); !errors.Is(err, harvest.ErrNotFound) {
		t.Fatalf("GetHarvest(9999) = %v", err)
	}
	// The first chunk job is queued in the sources queue at bulk priority.
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_harvest_chunk' AND queue = 'sources' AND priority = 3
		AND (args->>'chunk_size')::int = 2 AND args->'cursor'->>'since' = '2020-01-02'`); n != 1 {
		t.Fatal("no first chunk job with the harvest's parameters")
	}
}
