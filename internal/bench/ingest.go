package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
)

// Names of the scenarios in [IngestReport.Scenarios].
const (
	ScenarioPipeline      = "pipeline"       // keyword backend alone, default batch
	ScenarioKeywordBatch1 = "keyword_batch1" // keyword backend alone, batch size 1
	ScenarioVector        = "vector"         // pgvector backend alone, default batch
	ScenarioVectorBatch1  = "vector_batch1"  // pgvector backend alone, batch size 1
	ScenarioBoth          = "both"           // both backends, default batch
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
	if o.Records == 0 {
		o.Records = RecordsDefault
	}
	if o.VectorRecords == 0 {
		o.VectorRecords = o.Records
	}
	if o.SmallRecords == 0 {
		o.SmallRecords = SmallRecordsDefault
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
	}{{"Records", o.Records}, {"VectorRecords", o.VectorRecords}, {"SmallRecords", o.SmallRecords}, {"Publishers", o.Publishers}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", f.name, f.v))
		}
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
//   - both: both backends, default batch, VectorRecords records.
//
// After the vector scenario it measures the raw ceiling of vector ingest: batched inserts of the
// same texts' hash embeddings into an HNSW-indexed table with the backend's index settings, with
// one writer and with as many writers as the vector scenario runs batches at once.
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
	machine.LoadBefore = loadAvg()
	machine.CPUBefore = in.cpu.sample(ctx, time.Second)
	corpus := Corpus(max(opts.Records, opts.VectorRecords, opts.SmallRecords))
	in.texts = corpusTexts(corpus)
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
			Publishers: opts.Publishers, PublishBatch: opts.PublishBatch, PollMillis: int(PollIntervalDefault / time.Millisecond)},
	}
	finish := func(err error) (*IngestReport, error) {
		if err == nil {
			rep.Machine.CPUAfter = in.cpu.sample(ctx, time.Second)
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
		{name: ScenarioPipeline, desc: "keyword backend alone, default batch", backends: []string{"keyword"}, records: opts.Records},
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

		if sc.name == ScenarioVector {
			// The ceiling right after the scenario it bounds, on the same texts.
			if rep.Raw, err = in.runRaw(ctx, opts.VectorRecords, 1); err != nil {
				return finish(err)
			}
			if w := res.Backends[0].Slots / res.BatchSize; w > 1 {
				if rep.RawParallel, err = in.runRaw(ctx, opts.VectorRecords, w); err != nil {
					return finish(err)
				}
			}
		}
	}
	return finish(nil)
}

// ingestRun is one run of [Ingest]: its options and the records it publishes.
type ingestRun struct {
	opts     IngestOpts
	cpu      *cpuMeter
	requests []*osav1.PublishRecordRequest // the corpus, ready to publish
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

// runRaw measures the raw HNSW ceiling over the first n texts with writers connections.
func (in *ingestRun) runRaw(ctx context.Context, n, writers int) (*RawResult, error) {
	in.progressf("raw_hnsw (%s): inserting %d rows", plural(writers, "writer"), n)
	checkpoint(ctx, in.opts.AdminURL)
	var (
		mu   sync.Mutex
		last = time.Now()
	)
	res, err := rawHNSW(ctx, in.opts.AdminURL, in.cpu, in.texts[:n], writers, func(done int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= progressEvery {
			last = time.Now()
			in.progressf("raw_hnsw (%s): %d/%d rows", plural(writers, "writer"), done, n)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("raw HNSW ceiling (%s): %w", plural(writers, "writer"), err)
	}
	in.progressf("raw_hnsw (%s) done: %s rows/s (%d rows in %.1f s, %.0f ms a batch of %d)", plural(writers, "writer"),
		fmtNum(res.RowsPerSec), res.Rows, res.Seconds, res.MeanBatchMillis, res.BatchSize)
	return &res, nil
}
