package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/internal/pgtest"
)

// BenchmarkIngest runs a small [Ingest] (2,000 records, 200 in the batch-size-1 scenarios, 10 s
// of freshness) and reports its key figures; progress goes to stderr, and with -v the whole
// report too. It takes about a minute: run it once, with -benchtime 1x:
//
//	go run ./internal/cmd/withpg -- go test -run '^$' -bench BenchmarkIngest -benchtime 1x ./internal/bench/
func BenchmarkIngest(b *testing.B) {
	admin := pgtest.AdminURL(b)
	var (
		rep *IngestReport
		err error
	)
	for b.Loop() {
		rep, err = Ingest(context.Background(), IngestOpts{
			AdminURL:          admin,
			Records:           2000,
			SmallRecords:      200,
			FreshnessDuration: 10 * time.Second,
			Progress:          os.Stderr,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if testing.Verbose() {
		fmt.Fprint(os.Stderr, rep.Markdown())
	}
	pipeline, vector := rep.Scenario(ScenarioPipeline), rep.Scenario(ScenarioVector)
	b.ReportMetric(pipeline.Backends[0].RecordsPerSec, "pipeline_rec/s")
	b.ReportMetric(vector.Backends[0].RecordsPerSec, "vector_rec/s")
	b.ReportMetric(rep.Raw.RowsPerSec, "raw_hnsw_rows/s")
	b.ReportMetric(100*vector.Backends[0].RecordsPerSec/rep.Raw.RowsPerSec, "vector_pct_of_raw")
	b.ReportMetric(vector.EmbedCallsPerRecord, "embed_calls/rec")
	b.ReportMetric(rep.River.JobsPerSec, "raw_river_jobs/s")
	b.ReportMetric(100*pipeline.Backends[0].RecordsPerSec/rep.River.RecordsPerSec, "pipeline_pct_of_river")
	b.ReportMetric(rep.RawCopy.RowsPerSec, "raw_copy_rows/s")
	b.ReportMetric(rep.Inline.RecordsPerSec, "inline_rec/s")
	b.ReportMetric(100*pipeline.Backends[0].RecordsPerSec/rep.Inline.RecordsPerSec, "pipeline_pct_of_inline")
	b.ReportMetric(rep.Freshness.Scenario.Freshness.P95Ms, "freshness_p95_ms")
}

// TestIngestSmoke runs every scenario on a few records: each must finish with every record
// indexed in every backend, at a positive rate, the ceilings and the freshness scenario must have
// their figures, and the report and its chart must render. Not parallel: it measures, and it
// checks that no scratch database is left on the server.
func TestIngestSmoke(t *testing.T) {
	const records, small, rate = 300, 30, 50
	before := scratchDBs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Ingest(ctx, IngestOpts{
		AdminURL:          pgtest.AdminURL(t),
		Records:           records,
		SmallRecords:      small,
		FreshnessDuration: 2 * time.Second,
		FreshnessRate:     rate,
		Progress:          testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]struct {
		n, batch int
		backends []string
	}{
		ScenarioPipeline:      {records, 128, []string{"keyword"}},
		ScenarioKeywordBatch1: {small, 1, []string{"keyword"}},
		ScenarioVector:        {records, 128, []string{"vector"}},
		ScenarioVectorBatch1:  {small, 1, []string{"vector"}},
		ScenarioBoth:          {records, 128, []string{"vector", "keyword"}},
	}
	if len(rep.Scenarios) != len(want) {
		t.Fatalf("%d scenarios, want %d", len(rep.Scenarios), len(want))
	}
	for _, s := range rep.Scenarios {
		w, ok := want[s.Name]
		if !ok {
			t.Fatalf("unexpected scenario %q", s.Name)
		}
		if s.Records != w.n || s.BatchSize != w.batch || strings.Join(s.backendList(), ",") != strings.Join(w.backends, ",") {
			t.Errorf("%s: N %d, batch %d, backends %v; want %d, %d, %v", s.Name, s.Records, s.BatchSize, s.backendList(), w.n, w.batch, w.backends)
		}
		if s.PublishPerSec <= 0 || s.Seconds <= 0 || s.FanOutSeconds <= 0 || s.FanOutSeconds > s.Seconds {
			t.Errorf("%s: publish %v rec/s, fan-out %v s, all %v s", s.Name, s.PublishPerSec, s.FanOutSeconds, s.Seconds)
		}
		for _, b := range s.Backends {
			if b.Indexed != s.Records || b.IndexedAtFanOut > b.Indexed || b.RecordsPerSec <= 0 || b.Batches.Succeeded < s.Records {
				t.Errorf("%s/%s: indexed %d of %d at %v rec/s, %d jobs succeeded", s.Name, b.Name, b.Indexed, s.Records,
					b.RecordsPerSec, b.Batches.Succeeded)
			}
			hist := 0
			for _, bk := range b.Batches.Histogram {
				hist += bk.Batches
			}
			flushes := 0
			for _, n := range b.Batches.Flush {
				flushes += n
			}
			if hist != b.Batches.Batches || flushes != b.Batches.Batches || b.Batches.Batches == 0 {
				t.Errorf("%s/%s: %d batches, histogram counts %d, flush reasons %d", s.Name, b.Name, b.Batches.Batches, hist, flushes)
			}
			if s.BatchSize == 1 && b.Batches.Batches != b.Batches.Jobs {
				t.Errorf("%s/%s: %d batches of %d jobs with batch size 1", s.Name, b.Name, b.Batches.Batches, b.Batches.Jobs)
			}
		}
		hasVector := strings.Contains(strings.Join(s.backendList(), ","), "vector")
		if hasVector != (s.EmbedCalls > 0) {
			t.Errorf("%s: %d embedding calls", s.Name, s.EmbedCalls)
		}
		if s.BatchSize == 1 && hasVector && s.EmbedCalls < int64(s.Records) {
			t.Errorf("%s: %d embedding calls for %d records in batches of one", s.Name, s.EmbedCalls, s.Records)
		}
	}
	if rep.Raw == nil || rep.Raw.Rows != records || rep.Raw.RowsPerSec <= 0 || rep.Raw.Writers != 1 {
		t.Errorf("raw ceiling %+v", rep.Raw)
	}
	if rep.RawParallel == nil || rep.RawParallel.Writers < 2 || rep.RawParallel.RowsPerSec <= 0 {
		t.Errorf("parallel raw ceiling %+v", rep.RawParallel)
	}
	if rep.RawCopy == nil || rep.RawCopy.Method != RawMethodCopy || rep.RawCopy.Rows != records || rep.RawCopy.RowsPerSec <= 0 {
		t.Errorf("COPY ceiling %+v", rep.RawCopy)
	}
	if rv := rep.River; rv == nil || rv.Jobs != records+fanOutJobs(records, PublishBatchDefault) ||
		rv.JobsPerRecord != jobsPerRecord(records, PublishBatchDefault, 1) || rv.JobsPerSec <= 0 || len(rv.Queues) != 2 ||
		rv.Queues[0].MaxWorkers != rep.Scenario(ScenarioPipeline).FanOutSlots || rv.Queues[1].MaxWorkers != rep.Scenario(ScenarioPipeline).Backends[0].Slots {
		t.Errorf("River ceiling %+v", rv)
	}
	for _, c := range []struct {
		il       *InlineResult
		scenario string
		backends int
	}{{rep.Inline, ScenarioPipeline, 1}, {rep.InlineBoth, ScenarioBoth, 2}} {
		sc := rep.Scenario(c.scenario)
		if il := c.il; il == nil || il.Scenario != c.scenario || len(il.Backends) != c.backends || il.Records != sc.Records ||
			il.Writers != runtime.NumCPU() || il.RecordsPerSec <= 0 || il.MeanBatchMillis <= 0 {
			t.Errorf("inline ceiling of %s: %+v", c.scenario, il)
		}
	}
	if p := rep.Scenario(ScenarioPipeline); p.Timeline == nil || p.Freshness == nil || p.Freshness.Records != records {
		t.Errorf("pipeline timeline %+v, freshness %+v", p.Timeline, p.Freshness)
	}
	if f := rep.Freshness; f == nil || f.Scenario.Records != 2*rate || f.Scenario.Freshness == nil || f.Scenario.Timeline == nil {
		t.Errorf("freshness %+v", f)
	} else {
		fs := f.Scenario.Freshness
		if fs.Records != 2*rate || fs.P50Ms <= 0 || fs.P95Ms < fs.P50Ms || fs.MaxMs < fs.P99Ms || len(fs.Backends) != 2 ||
			fs.Method != FreshnessTransactionStart { // the test cluster does not track commit timestamps
			t.Errorf("freshness figures %+v", fs)
		}
		// Paced, not a burst: 100 records over 2 s.
		if f.Scenario.PublishSeconds < 1.5 || f.PublishedPerSec > 1.5*rate {
			t.Errorf("published %d records in %.2f s", f.Scenario.Records, f.Scenario.PublishSeconds)
		}
		indexed := make([]int, 2)
		for _, w := range f.Scenario.Timeline.Windows {
			for i, n := range w.Indexed {
				indexed[i] += n
			}
		}
		if indexed[0] != 2*rate || indexed[1] != 2*rate {
			t.Errorf("the timeline counts %v records indexed per backend, want %d", indexed, 2*rate)
		}
	}
	if len(rep.Targets) != 6 {
		t.Errorf("targets %+v, want 6", rep.Targets)
	}
	if svg := rep.SVG(); !strings.Contains(svg, "freshness: records per second") {
		t.Errorf("chart:\n%s", svg)
	}
	if rep.Machine.Postgres.Version == "" || rep.Machine.Postgres.SharedBuffers == "" || rep.Machine.NumCPU == 0 {
		t.Errorf("machine %+v", rep.Machine)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}
	md := rep.Markdown()
	for _, s := range []string{"## Targets", "## Ceilings", "raw_hnsw", "## Raw River ceiling", "## Inline ceiling", "## Freshness", ScenarioPipeline, ScenarioVectorBatch1, ScenarioBoth} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md)
		}
	}
	assertNoNewScratchDBs(t, before)
}

// TestIngestCancelCleansUp cancels a run in its first scenario: Ingest returns the context's
// error and leaves no scratch database behind. Not parallel, as [TestIngestSmoke].
func TestIngestCancelCleansUp(t *testing.T) {
	before := scratchDBs(t)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	progress := writerFunc(func(p []byte) (int, error) {
		// Cancel while the first scenario is publishing and indexing.
		if strings.Contains(string(p), ScenarioPipeline+": publishing") {
			once.Do(func() { time.AfterFunc(500*time.Millisecond, cancel) })
		}
		return len(p), nil
	})
	rep, err := Ingest(ctx, IngestOpts{AdminURL: pgtest.AdminURL(t), Records: 20000, SmallRecords: 10, Progress: progress})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Ingest after cancel: %v, want context.Canceled", err)
	}
	if rep == nil || len(rep.Scenarios) != 0 {
		t.Fatalf("report %+v, want one without scenarios", rep)
	}
	assertNoNewScratchDBs(t, before)
}

// TestRawCeilings runs the River and COPY ceilings on a few jobs and rows.
func TestRawCeilings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgtest.AdminURL(t)
	rv, err := rawRiver(ctx, admin, &cpuMeter{}, riverCeilingConfig{
		queues:            []RiverQueue{{Name: "fanout", MaxWorkers: 8, Jobs: 150}, {Name: "index_keyword", MaxWorkers: 16, Jobs: 150}},
		fetchCooldown:     5 * time.Millisecond,
		fetchPollInterval: 500 * time.Millisecond,
		jobTimeout:        time.Minute,
		maxConns:          4,
		jobsPerRecord:     2,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Jobs != 300 || rv.JobsPerSec <= 0 || rv.RecordsPerSec != rv.JobsPerSec/2 || rv.MaxConns != 4 || rv.FetchCooldownMillis != 5 {
		t.Errorf("River ceiling %+v", rv)
	}
	texts := corpusTexts(Corpus(200))
	cp, err := rawHNSW(ctx, admin, &cpuMeter{}, texts, RawMethodCopy, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Method != RawMethodCopy || cp.Rows != 200 || cp.BatchSize != 200 || cp.RowsPerSec <= 0 || cp.Dims != rawDims {
		t.Errorf("COPY ceiling %+v", cp)
	}
	if _, err := rawHNSW(ctx, admin, &cpuMeter{}, texts, RawMethodCopy, 2, nil); err == nil {
		t.Error("COPY with 2 writers ran")
	}
	// 300 records: two full batches and a partial one, across 2 writers; a failed row of any
	// backend fails the run.
	var progressed atomic.Int64
	il, err := rawInline(ctx, admin, &cpuMeter{}, Corpus(300), []string{"vector", "keyword"}, ScenarioBoth, 2, func(done int) {
		progressed.Store(int64(done))
	})
	if err != nil {
		t.Fatal(err)
	}
	if il.Records != 300 || il.Writers != 2 || il.BatchSize != inlineBatch || il.RecordsPerSec <= 0 || progressed.Load() != 300 ||
		len(il.Backends) != 2 {
		t.Errorf("inline ceiling %+v (progress %d)", il, progressed.Load())
	}
	if _, err := rawInline(ctx, admin, &cpuMeter{}, Corpus(10), []string{"nope"}, ScenarioPipeline, 1, nil); err == nil {
		t.Error("an inline ceiling of an unknown backend ran")
	}
}

func TestIngestOptsValidate(t *testing.T) {
	t.Parallel()
	_, err := Ingest(context.Background(), IngestOpts{Records: -1})
	if err == nil || !strings.Contains(err.Error(), "AdminURL is required") || !strings.Contains(err.Error(), "Records must be at least 1") {
		t.Fatalf("Ingest with bad opts: %v", err)
	}
	o := IngestOpts{AdminURL: "postgres://x", Records: 50}.WithDefaults()
	if o.VectorRecords != 50 || o.SmallRecords != SmallRecordsDefault || o.Publishers != PublishersDefault ||
		o.PublishBatch != PublishBatchDefault || o.Logger == nil || o.Progress == nil || o.Command == "" ||
		o.FreshnessDuration != FreshnessDurationDefault || o.FreshnessRate != FreshnessRateDefault {
		t.Fatalf("WithDefaults = %+v", o)
	}
	o = IngestOpts{Smoke: true}.WithDefaults()
	if o.Records != RecordsSmokeDefault || o.VectorRecords != VectorRecordsSmokeDefault || o.SmallRecords != SmallRecordsSmokeDefault ||
		o.FreshnessDuration != FreshnessDurationSmokeDefault || o.FreshnessRate != FreshnessRateDefault {
		t.Fatalf("WithDefaults with Smoke = %+v", o)
	}
	if o = (IngestOpts{Smoke: true, Records: 100}).WithDefaults(); o.Records != 100 || o.VectorRecords != 100 {
		t.Fatalf("WithDefaults with Smoke and 100 records = %+v", o)
	}
	if _, err := Ingest(context.Background(), IngestOpts{AdminURL: "postgres://x", FreshnessDuration: time.Millisecond}); err == nil ||
		!strings.Contains(err.Error(), "FreshnessDuration must be at least") {
		t.Fatalf("Ingest with a 1 ms freshness run: %v", err)
	}
}

// scratchDBs returns the names of the scratch databases on the test server.
func scratchDBs(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", scratchPrefix)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// assertNoNewScratchDBs fails t when a scratch database exists that was not in before.
//
// Other packages' tests (cmd/osa runs osa bench) create scratch databases in the same cluster
// at the same time: a new one that goes away within scratchSettle was theirs. One this test
// left behind stays.
func assertNoNewScratchDBs(t *testing.T, before map[string]bool) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(scratchSettle); ; time.Sleep(500 * time.Millisecond) {
		left = left[:0]
		for name := range scratchDBs(t) {
			if !before[name] {
				left = append(left, name)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range left {
		t.Errorf("scratch database %s was left behind", name)
	}
}

// scratchSettle is how long assertNoNewScratchDBs lets another test's scratch database go away.
const scratchSettle = 2 * time.Minute

// testWriter writes progress lines to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writerFunc is an [io.Writer] made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var (
	_ io.Writer = testWriter{}
	_ io.Writer = writerFunc(nil)
)
