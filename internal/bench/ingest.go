package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// Names of the scenarios in [IngestReport.Scenarios].
const (
	ScenarioPipeline      = "pipeline"       // keyword backend alone, default batch
	ScenarioKeywordBatch1 = "keyword_batch1" // keyword backend alone, batch size 1
	ScenarioVector        = "vector"         // pgvector backend alone, default batch
	ScenarioVectorBatch1  = "vector_batch1"  // pgvector backend alone, batch size 1
	ScenarioBoth          = "both"           // both backends, default batch
	// ScenarioFreshness is both backends, default batch, a steady FreshnessRate; it is in
	// [IngestReport.Freshness], not among the Scenarios.
	ScenarioFreshness = "freshness"
)

// Defaults of [IngestOpts].
const (
	RecordsDefault      = 10000
	SmallRecordsDefault = 1000
	PublishersDefault   = 2
	PublishBatchDefault = 500
	PollIntervalDefault = 250 * time.Millisecond
	// Batch1TotalWorkersDefault is worker.total_workers of the batch-size-1 scenarios: with
	// batches of one, every worker slot can run its own transaction, and 128 of them already
	// outnumber the connection pool six to one.
	Batch1TotalWorkersDefault = 128
)

// Defaults of [IngestOpts] with Smoke: a run of well under 30 s on 2 cores that checks every
// part works, with figures too small to mean much.
const (
	RecordsSmokeDefault       = 1000
	VectorRecordsSmokeDefault = 300
	SmallRecordsSmokeDefault  = 30
	// SearchRecordsSmokeDefault and SearchQueriesSmokeDefault are the [SearchOpts] of
	// `osa bench all --smoke`.
	SearchRecordsSmokeDefault = 2000
	SearchQueriesSmokeDefault = 20
)

// Timeouts of a scenario.
const (
	// stallTimeout fails a scenario whose indexed counts have not moved for this long.
	stallTimeout = 2 * time.Minute
	// readyTimeout bounds the wait for a scenario's server to answer /readyz.
	readyTimeout = 30 * time.Second
	// shutdownTimeout is the scenario server's http and worker shutdown_timeout: every job is
	// done by then, so a stop is quick.
	shutdownTimeout = 10 * time.Second
	// progressEvery is how often a running scenario prints a progress line.
	progressEvery = 5 * time.Second
)

// IngestOpts configures [Ingest].
type IngestOpts struct {
	// AdminURL is a postgres:// URL whose user may CREATE DATABASE. Each scenario runs in its own
	// database osa_bench_<random> created there (migrated by the server's auto-migrate) and
	// dropped WITH (FORCE) afterwards. Required.
	AdminURL string

	// Records is N of the keyword scenario with the default batch size (the pipeline).
	// Defaults to 10000.
	Records int

	// VectorRecords is N of the scenarios with the pgvector backend and the default batch size,
	// and the rows of the raw HNSW ceiling; HNSW inserts are slow, so it may be smaller than
	// Records. Defaults to Records.
	VectorRecords int

	// SmallRecords is N of the batch-size-1 scenarios, which are slow. Defaults to 1000.
	SmallRecords int

	// FreshnessDuration is how long the freshness scenario publishes. Defaults to 30s.
	FreshnessDuration time.Duration

	// FreshnessRate is the freshness scenario's steady publishing rate, in records/s. Defaults
	// to 100.
	FreshnessRate int

	// Smoke shrinks the run to a check that every part works: the zero fields above default
	// to 1,000 records, 300 vector records, 30 batch-size-1 records and 5 s of freshness, and
	// the idle CPU samples before and after the run take 200 ms instead of 1 s.
	Smoke bool

	// Publishers is the number of goroutines publishing at once, each PublishBatch records per
	// PublishRecords call. Defaults to 2.
	Publishers int

	// PublishBatch is the number of records per PublishRecords call, 1..1000. Defaults to 500.
	PublishBatch int

	// Command is the command line recorded in the report. Defaults to the process's arguments.
	Command string

	// Logger receives the scenario servers' own logs. Defaults to discarding them: the servers
	// log one INFO line per batch.
	Logger *slog.Logger

	// Progress receives one line per scenario and a progress line every few seconds. Defaults
	// to nowhere.
	Progress io.Writer
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o IngestOpts) WithDefaults() IngestOpts {
	records, small, fresh := RecordsDefault, SmallRecordsDefault, FreshnessDurationDefault
	if o.Smoke {
		records, small, fresh = RecordsSmokeDefault, SmallRecordsSmokeDefault, FreshnessDurationSmokeDefault
	}
	if o.Records == 0 {
		o.Records = records
	}
	if o.VectorRecords == 0 {
		o.VectorRecords = o.Records
		if o.Smoke {
			o.VectorRecords = min(VectorRecordsSmokeDefault, o.Records)
		}
	}
	if o.SmallRecords == 0 {
		o.SmallRecords = small
	}
	if o.FreshnessDuration == 0 {
		o.FreshnessDuration = fresh
	}
	if o.FreshnessRate == 0 {
		o.FreshnessRate = FreshnessRateDefault
	}
	if o.Publishers == 0 {
		o.Publishers = PublishersDefault
	}
	if o.PublishBatch == 0 {
		o.PublishBatch = PublishBatchDefault
	}
	if o.Command == "" {
		o.Command = strings.Join(os.Args, " ")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

func (o IngestOpts) validate() error {
	var errs []error
	if o.AdminURL == "" {
		errs = append(errs, errors.New("AdminURL is required: a postgres:// URL whose user may create databases"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Records", o.Records}, {"VectorRecords", o.VectorRecords}, {"SmallRecords", o.SmallRecords}, {"Publishers", o.Publishers},
		{"FreshnessRate", o.FreshnessRate}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", f.name, f.v))
		}
	}
	if o.FreshnessDuration < FreshnessTick {
		errs = append(errs, fmt.Errorf("FreshnessDuration must be at least %s, got %s", FreshnessTick, o.FreshnessDuration))
	}
	if o.PublishBatch < 1 || o.PublishBatch > config.MaxBatchDefault {
		errs = append(errs, fmt.Errorf("PublishBatch must be 1..%d (records.max_batch), got %d", config.MaxBatchDefault, o.PublishBatch))
	}
	return errors.Join(errs...)
}

// Ingest measures the ingest pipeline: for each scenario it creates a scratch database, starts
// a server in-process on a loopback port (role all, the built-in configuration with the
// scenario's backends), publishes the records through the API and waits until every backend
// has indexed all of them. The scenarios, run one at a time:
//
//   - pipeline: the keyword backend alone, default batch (128), Records records;
//   - keyword_batch1: the keyword backend alone, batch size 1, SmallRecords records;
//   - vector: the pgvector backend alone (hash embedder, 384 dims), default batch, VectorRecords;
//   - vector_batch1: the pgvector backend alone, batch size 1, SmallRecords records;
//   - both: both backends, default batch, VectorRecords records;
//   - freshness: both backends, default batch, FreshnessRate records/s for FreshnessDuration,
//     paced (one small PublishRecords call every [FreshnessTick]); each record's time from its
//     commit until every backend has indexed it.
//
// In the same run it measures the ceilings the figures are compared with, each in its own
// scratch database right after the scenario it bounds:
//
//   - after the pipeline, the raw River ceiling: no-op jobs, as many as the pipeline ran, worked
//     by a River client with the pipeline's queues, MaxWorkers, fetch settings and pool size;
//   - after the pipeline, and after the both scenario, the inline ceiling of the same backends:
//     the same records' end state (records, versions, events, backend rows, index_state) written
//     directly by batched statements from as many writers as the machine has cores;
//   - after the vector scenario, the raw ceilings of vector ingest: the same texts' hash
//     embeddings written into a table with the backend's HNSW index settings, by batched
//     inserts with one writer and with as many writers as the vector scenario runs batches at
//     once, and by one COPY.
//
// The pipeline and freshness scenarios also get a [Timeline] and [FreshnessStats].
//
// Every scenario stops its server and drops its database before the next one starts, also on
// error or when ctx ends. On error the report holds what finished before it.
func Ingest(ctx context.Context, opts IngestOpts) (*IngestReport, error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	began := time.Now()
	machine, err := machineInfo(ctx, opts.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	in := &ingestRun{opts: opts, cpu: newCPUMeter(ctx, opts.AdminURL)}
	idleSample := time.Second
	if opts.Smoke {
		idleSample = 200 * time.Millisecond
	}
	machine.LoadBefore = loadAvg()
	machine.CPUBefore = in.cpu.sample(ctx, idleSample)
	freshRecords := freshnessRecords(opts)
	corpus := Corpus(max(opts.Records, opts.VectorRecords, opts.SmallRecords, freshRecords))
	in.corpus, in.texts = corpus, corpusTexts(corpus)
	in.requests = make([]*osav1.PublishRecordRequest, len(corpus))
	for i, m := range corpus {
		s, err := structpb.NewStruct(m)
		if err != nil {
			return nil, fmt.Errorf("bench: generated metadata: %w", err)
		}
		in.requests[i] = &osav1.PublishRecordRequest{Metadata: s}
	}

	rep := &IngestReport{
		Command: opts.Command,
		Date:    began,
		Machine: machine,
		Opts: OptsSummary{Records: opts.Records, SmallRecords: opts.SmallRecords, VectorRecords: opts.VectorRecords,
			Publishers: opts.Publishers, PublishBatch: opts.PublishBatch, PollMillis: int(PollIntervalDefault / time.Millisecond),
			FreshnessSeconds: opts.FreshnessDuration.Seconds(), FreshnessRate: opts.FreshnessRate, Smoke: opts.Smoke},
	}
	finish := func(err error) (*IngestReport, error) {
		if err == nil {
			rep.Machine.CPUAfter = in.cpu.sample(ctx, idleSample)
		}
		rep.evaluateTargets()
		rep.Seconds = time.Since(began).Seconds()
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %v", ctx.Err(), err) // callers can tell an interruption
		}
		if err != nil {
			return rep, fmt.Errorf("bench: %w", err)
		}
		return rep, nil
	}
	in.progressf("machine: %d CPUs, %s, PostgreSQL %s, shared_buffers %s; before the run: CPU %s, load %s", machine.NumCPU,
		machine.GoVersion, machine.Postgres.Version, machine.Postgres.SharedBuffers, machine.CPUBefore, orDash(machine.LoadBefore))

	scenarios := []scenario{
		{name: ScenarioPipeline, desc: "keyword backend alone, default batch", backends: []string{"keyword"}, records: opts.Records,
			timeline: true},
		{name: ScenarioKeywordBatch1, desc: "keyword backend alone, batch size 1", backends: []string{"keyword"}, batchSize: 1,
			workers: Batch1TotalWorkersDefault, records: opts.SmallRecords},
		{name: ScenarioVector, desc: "pgvector backend alone (hash embedder, 384 dims), default batch", backends: []string{"vector"},
			records: opts.VectorRecords},
		{name: ScenarioVectorBatch1, desc: "pgvector backend alone, batch size 1", backends: []string{"vector"}, batchSize: 1,
			workers: Batch1TotalWorkersDefault, records: opts.SmallRecords},
		{name: ScenarioBoth, desc: "pgvector and keyword backends together, default batch", backends: []string{"vector", "keyword"},
			records: opts.VectorRecords},
	}
	for _, sc := range scenarios {
		res, err := in.runScenario(ctx, sc)
		if err != nil {
			return finish(fmt.Errorf("scenario %s: %w", sc.name, err))
		}
		rep.Scenarios = append(rep.Scenarios, res)
		in.scenarioLine(res)

		// The ceilings right after the scenario they bound, on the same work.
		switch sc.name {
		case ScenarioPipeline:
			if rep.River, err = in.runRiver(ctx, res); err != nil {
				return finish(err)
			}
			if rep.Inline, err = in.runInline(ctx, sc); err != nil {
				return finish(err)
			}
		case ScenarioBoth:
			if rep.InlineBoth, err = in.runInline(ctx, sc); err != nil {
				return finish(err)
			}
		case ScenarioVector:
			if rep.Raw, err = in.runRaw(ctx, opts.VectorRecords, RawMethodInsert, 1); err != nil {
				return finish(err)
			}
			if w := res.Backends[0].Slots / res.BatchSize; w > 1 {
				if rep.RawParallel, err = in.runRaw(ctx, opts.VectorRecords, RawMethodInsert, w); err != nil {
					return finish(err)
				}
			}
			if rep.RawCopy, err = in.runRaw(ctx, opts.VectorRecords, RawMethodCopy, 1); err != nil {
				return finish(err)
			}
		}
	}

	fresh := scenario{name: ScenarioFreshness, desc: fmt.Sprintf("pgvector and keyword backends, default batch, a steady %d records/s", opts.FreshnessRate),
		backends: []string{"vector", "keyword"}, records: freshRecords, rate: float64(opts.FreshnessRate), timeline: true}
	res, err := in.runScenario(ctx, fresh)
	if err != nil {
		return finish(fmt.Errorf("scenario %s: %w", fresh.name, err))
	}
	rep.Freshness = &FreshnessResult{Rate: float64(opts.FreshnessRate), DurationSeconds: opts.FreshnessDuration.Seconds(),
		TickMillis: durationMillis(FreshnessTick), PublishedPerSec: res.PublishPerSec, Scenario: res}
	if f := res.Freshness; f != nil {
		in.progressf("%s done: %d records at %s rec/s; commit → indexed in every backend: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms (%s)",
			fresh.name, res.Records, fmtNum(res.PublishPerSec), f.P50Ms, f.P95Ms, f.P99Ms, f.MaxMs, f.Method)
	}
	return finish(nil)
}

// freshnessRecords is the number of records the freshness scenario publishes.
func freshnessRecords(o IngestOpts) int {
	return max(int(math.Round(float64(o.FreshnessRate)*o.FreshnessDuration.Seconds())), 1)
}

// ingestRun is one run of [Ingest]: its options and the records it publishes.
type ingestRun struct {
	opts     IngestOpts
	cpu      *cpuMeter
	requests []*osav1.PublishRecordRequest // the corpus, ready to publish
	corpus   []map[string]any              // the corpus's metadata, for the inline ceiling
	texts    []string                      // the text of every record, for the raw ceiling

	progressMu sync.Mutex
}

// progressf writes one progress line.
func (in *ingestRun) progressf(format string, args ...any) {
	in.progressMu.Lock()
	defer in.progressMu.Unlock()
	fmt.Fprintf(in.opts.Progress, "bench: "+format+"\n", args...)
}

// scenarioLine writes the summary line of a finished scenario.
func (in *ingestRun) scenarioLine(s ScenarioResult) {
	var parts []string
	for _, b := range s.Backends {
		parts = append(parts, fmt.Sprintf("%s %s rec/s (%d batches, mean size %.1f)", b.Name, fmtNum(b.RecordsPerSec),
			b.Batches.Batches, b.Batches.MeanSize))
	}
	calls := ""
	if s.EmbedCalls > 0 {
		calls = fmt.Sprintf("; %d embedding calls (%.4f per record)", s.EmbedCalls, s.EmbedCallsPerRecord)
	}
	in.progressf("%s done: N %d, batch %d: %s; publish %s rec/s; %.1f s%s", s.Name, s.Records, s.BatchSize,
		strings.Join(parts, ", "), fmtNum(s.PublishPerSec), s.Seconds, calls)
}

// runRiver measures the raw River ceiling with the queues and settings of sc, the pipeline scenario
// it bounds.
func (in *ingestRun) runRiver(ctx context.Context, sc ScenarioResult) (*RiverResult, error) {
	// The scenarios keep the built-in worker and pool settings (scenarioConfig changes only
	// total_workers and batch sizes, which the slots in sc reflect).
	def := config.Default()
	rc := riverCeilingConfig{
		queues: []RiverQueue{{Name: pipeline.QueueFanOut, MaxWorkers: sc.FanOutSlots,
			Jobs: fanOutJobs(sc.Records, in.opts.PublishBatch)}},
		fetchCooldown:     def.Worker.FetchCooldown,
		fetchPollInterval: def.Worker.FetchPollInterval,
		jobTimeout:        def.Worker.JobTimeout,
		maxConns:          def.Database.MaxConns,
		jobsPerRecord:     jobsPerRecord(sc.Records, in.opts.PublishBatch, len(sc.Backends)),
	}
	for _, b := range sc.Backends {
		rc.queues = append(rc.queues, RiverQueue{Name: backends.Queue(b.Name), MaxWorkers: b.Slots, Jobs: sc.Records})
	}
	total := 0
	var qs []string
	for _, q := range rc.queues {
		total += q.Jobs
		qs = append(qs, fmt.Sprintf("%s (%d workers)", q.Name, q.MaxWorkers))
	}
	in.progressf("raw_river: %d no-op jobs in %s", total, strings.Join(qs, ", "))
	checkpoint(ctx, in.opts.AdminURL)
	res, err := rawRiver(ctx, in.opts.AdminURL, in.cpu, rc, func(done, total int) {
		in.progressf("raw_river: %d/%d jobs", done, total)
	})
	if err != nil {
		return nil, fmt.Errorf("raw River ceiling: %w", err)
	}
	in.progressf("raw_river done: %s jobs/s (%d jobs in %.1f s; inserted in %.1f s), %s records/s at %s jobs per record",
		fmtNum(res.JobsPerSec), res.Jobs, res.Seconds, res.InsertSeconds, fmtNum(res.RecordsPerSec), fmtJobs(res.JobsPerRecord))
	return &res, nil
}

// runInline measures the inline ceiling of sc, a pipeline scenario: its records and backends,
// written by as many writers as the machine has cores.
func (in *ingestRun) runInline(ctx context.Context, sc scenario) (*InlineResult, error) {
	writers := runtime.NumCPU()
	name := "inline (" + strings.Join(sc.backends, " + ") + ")"
	in.progressf("%s: writing %d records from %d writers", name, sc.records, writers)
	checkpoint(ctx, in.opts.AdminURL)
	var (
		mu   sync.Mutex
		last = time.Now()
	)
	res, err := rawInline(ctx, in.opts.AdminURL, in.cpu, in.corpus[:sc.records], sc.backends, sc.name, writers, func(done int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= progressEvery {
			last = time.Now()
			in.progressf("%s: %d/%d records", name, done, sc.records)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s ceiling: %w", name, err)
	}
	in.progressf("%s done: %s records/s (%d records in %.1f s, %.0f ms a batch of %d)", name, fmtNum(res.RecordsPerSec), res.Records,
		res.Seconds, res.MeanBatchMillis, res.BatchSize)
	return &res, nil
}

// runRaw measures the raw HNSW ceiling over the first n texts by method with writers
// connections.
func (in *ingestRun) runRaw(ctx context.Context, n int, method string, writers int) (*RawResult, error) {
	name := (&RawResult{Method: method, Writers: writers}).label()
	in.progressf("raw_hnsw (%s): writing %d rows", name, n)
	checkpoint(ctx, in.opts.AdminURL)
	var (
		mu   sync.Mutex
		last = time.Now()
	)
	res, err := rawHNSW(ctx, in.opts.AdminURL, in.cpu, in.texts[:n], method, writers, func(done int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= progressEvery {
			last = time.Now()
			in.progressf("raw_hnsw (%s): %d/%d rows", name, done, n)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("raw HNSW ceiling (%s): %w", name, err)
	}
	in.progressf("raw_hnsw (%s) done: %s rows/s (%d rows in %.1f s, %.0f ms a batch of %d)", name,
		fmtNum(res.RowsPerSec), res.Rows, res.Seconds, res.MeanBatchMillis, res.BatchSize)
	return &res, nil
}
