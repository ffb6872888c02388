package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// flushReasons are the gatherer's flush reasons, in the order the report shows them.
var flushReasons = []string{"size", "delay", "slots"}

// Targets of the ingest benchmark (the acceptance figures, on 2 cores with the hash
// embedder).
const (
	// PipelineTarget is the end-to-end rate of the pipeline alone (fan-out, queues, gatherer,
	// status; the keyword backend alone), in records/s.
	PipelineTarget = 1500
	// PipelineRiverShareTarget is the share of the raw River ceiling, in records/s (no-op jobs/s
	// divided by the jobs per record), the pipeline alone sustains.
	PipelineRiverShareTarget = 0.35
	// PipelineInlineShareTarget is the share of the inline ceiling (the same end state written
	// synchronously by batched statements, see [InlineResult]), in records/s, the pipeline alone
	// sustains.
	PipelineInlineShareTarget = 0.5
	// VectorShareTarget is the share of the raw HNSW insert rate the pgvector backend sustains.
	VectorShareTarget = 0.8
	// EmbedCallsPerRecordTarget is the most embedding calls per record: 50× fewer calls than
	// records.
	EmbedCallsPerRecordTarget = 1.0 / 50
	// FreshnessP95Target is the most p95 of commit → indexed in every backend under a steady
	// [FreshnessRateDefault] records/s, in milliseconds.
	FreshnessP95Target = 300
)

// Names of the targets in [IngestReport.Targets].
const (
	TargetPipeline      = "pipeline"
	TargetPipelineRiver = "pipeline_vs_river"
	// TargetPipelineInline is the pipeline alone as a share of its inline ceiling.
	TargetPipelineInline = "pipeline_vs_inline"
	TargetVector         = "vector_vs_raw"
	TargetEmbedCalls     = "embed_calls"
	TargetFreshness      = "freshness_p95"
)

// IngestReport is the outcome of [Ingest]. It is JSON-serialisable; [IngestReport.Markdown]
// renders it for people.
type IngestReport struct {
	// Command is the command line that produced the report.
	Command string    `json:"command"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// Opts are the options the benchmark ran with, defaults filled in.
	Opts OptsSummary `json:"opts"`
	// Scenarios are the pipeline runs, in the order they ran.
	Scenarios []ScenarioResult `json:"scenarios"`
	// Raw is the raw HNSW ceiling: one writer, batches of 128, the vector scenario's N.
	Raw *RawResult `json:"raw_hnsw,omitempty"`
	// RawParallel is the same with as many writers as the vector scenario runs batches at once
	// (nil when that is one).
	RawParallel *RawResult `json:"raw_hnsw_parallel,omitempty"`
	// RawCopy is the same rows written by one COPY.
	RawCopy *RawResult `json:"raw_hnsw_copy,omitempty"`
	// River is the raw River ceiling: no-op jobs with the pipeline scenario's queues.
	River *RiverResult `json:"raw_river,omitempty"`
	// Inline is the inline ceiling of the pipeline scenario (the keyword backend alone);
	// InlineBoth that of the both scenario (both backends).
	Inline     *InlineResult `json:"inline,omitempty"`
	InlineBoth *InlineResult `json:"inline_both,omitempty"`
	// Freshness is the freshness scenario.
	Freshness *FreshnessResult `json:"freshness,omitempty"`
	// Chart is the file name of the chart ([IngestReport.SVG]) the Markdown links to, relative
	// to the Markdown file; "" links none. The caller that writes the files sets it.
	Chart string `json:"chart,omitempty"`
	// Targets compare the figures with the targets.
	Targets []Target `json:"targets"`
	// Seconds is the benchmark's whole run time, set-up and clean-up included.
	Seconds float64 `json:"seconds"`
}

// OptsSummary are the options of a run, as reported.
type OptsSummary struct {
	Records       int `json:"records"`
	SmallRecords  int `json:"small_records"`
	VectorRecords int `json:"vector_records"`
	Publishers    int `json:"publishers"`
	PublishBatch  int `json:"publish_batch"`
	PollMillis    int `json:"poll_ms"`
	// FreshnessSeconds and FreshnessRate are the freshness scenario's duration and records/s.
	FreshnessSeconds float64 `json:"freshness_seconds"`
	FreshnessRate    int     `json:"freshness_rate"`
	// Smoke says the run was a smoke run ([IngestOpts.Smoke]): its figures check that it
	// works, not how fast.
	Smoke bool `json:"smoke,omitempty"`
}

// ScenarioResult is one scenario: N records published through the API into a fresh database
// and indexed by one or more backends.
type ScenarioResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Records is N; BatchSize is every backend's batch.max_size; TotalWorkers is
	// worker.total_workers; FanOutSlots is the MaxWorkers of the fanout queue.
	Records      int `json:"records"`
	BatchSize    int `json:"batch_size"`
	TotalWorkers int `json:"total_workers"`
	FanOutSlots  int `json:"fanout_slots"`
	// PublishSeconds is the time from the first PublishRecords call to the last response;
	// PublishPerSec is Records/PublishSeconds (the workers index meanwhile).
	PublishSeconds float64 `json:"publish_seconds"`
	PublishPerSec  float64 `json:"publish_per_sec"`
	// FanOutSeconds is the time from the first publish until every record had its index_state
	// row in every backend (the fan-out was done), to the poll interval; FanOutPerSec is
	// Records/FanOutSeconds.
	FanOutSeconds float64 `json:"fanout_seconds"`
	FanOutPerSec  float64 `json:"fanout_per_sec"`
	// Seconds is the time from the first publish until every backend had indexed every record.
	Seconds  float64         `json:"seconds"`
	Backends []BackendResult `json:"backends"`
	// EmbedCalls is the number of embedding calls of the scenario's pgvector backends;
	// EmbedCallsPerRecord is EmbedCalls/Records (0 without a pgvector backend).
	EmbedCalls          int64   `json:"embed_calls"`
	EmbedCallsPerRecord float64 `json:"embed_calls_per_record"`
	// Freshness and Timeline are each record's commit → indexed times, summed up and per
	// window; only the pipeline and freshness scenarios have them.
	Freshness *FreshnessStats `json:"freshness,omitempty"`
	Timeline  *Timeline       `json:"timeline,omitempty"`
	// Checkpointed says a CHECKPOINT ran before the scenario (it needs superuser).
	Checkpointed bool `json:"checkpointed"`
	// CPU is the machine's CPU use from the first publish to the end.
	CPU        CPUUse `json:"cpu"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// Backend returns the result of the backend named name, or nil.
func (s *ScenarioResult) Backend(name string) *BackendResult {
	for i := range s.Backends {
		if s.Backends[i].Name == name {
			return &s.Backends[i]
		}
	}
	return nil
}

// BackendResult is one backend's side of a scenario.
type BackendResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Slots is the MaxWorkers of the backend's queue (its share of worker.total_workers).
	Slots int `json:"slots"`
	// Indexed is the number of the scenario's records in state indexed at the end;
	// IndexedAtFanOut is the number when the fan-out was done (see FanOutSeconds).
	Indexed         int `json:"indexed"`
	IndexedAtFanOut int `json:"indexed_at_fanout"`
	// Seconds is the time from the first publish until index_state showed every record indexed;
	// RecordsPerSec is Records/Seconds, the end-to-end rate.
	Seconds       float64      `json:"seconds"`
	RecordsPerSec float64      `json:"records_per_sec"`
	Batches       BatchSummary `json:"batches"`
}

// BatchSummary sums up a backend's batches.
type BatchSummary struct {
	Batches int `json:"batches"`
	// Jobs is the number of jobs the batches held, by outcome in the other counts.
	Jobs      int `json:"jobs"`
	Succeeded int `json:"succeeded"`
	Retried   int `json:"retried"`
	Snoozed   int `json:"snoozed"`
	Cancelled int `json:"cancelled"`
	// MeanSize is Jobs/Batches; MeanBatchMillis is the mean time to run one batch (load,
	// prepare, write, commit).
	MeanSize        float64 `json:"mean_size"`
	MeanBatchMillis float64 `json:"mean_batch_ms"`
	// Histogram counts batches by size, in the buckets of [HistogramBuckets].
	Histogram []Bucket `json:"histogram"`
	// Flush counts batches by flush reason: "size", "delay" or "slots"; FlushJobs counts their
	// jobs.
	Flush     map[string]int `json:"flush"`
	FlushJobs map[string]int `json:"flush_jobs"`

	totalDuration time.Duration
}

// Target is one of the targets, met or not.
type Target struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Measured and Goal are in Unit; AtMost says the goal is an upper bound.
	Measured float64 `json:"measured"`
	Goal     float64 `json:"goal"`
	Unit     string  `json:"unit"`
	AtMost   bool    `json:"at_most,omitempty"`
	// Ratio is how far past the goal the figure is: Measured/Goal, or Goal/Measured when
	// AtMost; 1 or more meets the target.
	Ratio float64 `json:"ratio"`
	Met   bool    `json:"met"`
}

// Scenario returns the scenario named name, or nil.
func (r *IngestReport) Scenario(name string) *ScenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// Target returns the target named name, or nil.
func (r *IngestReport) Target(name string) *Target {
	for i := range r.Targets {
		if r.Targets[i].Name == name {
			return &r.Targets[i]
		}
	}
	return nil
}

// evaluateTargets fills r.Targets from the scenarios and the raw ceiling it has.
func (r *IngestReport) evaluateTargets() {
	r.Targets = nil
	add := func(t Target) {
		switch {
		case t.AtMost && t.Measured > 0:
			t.Ratio = t.Goal / t.Measured
		case t.AtMost:
			t.Ratio = 0 // nothing measured (JSON has no infinity)
		case t.Goal > 0:
			t.Ratio = t.Measured / t.Goal
		}
		t.Met = t.Ratio >= 1
		r.Targets = append(r.Targets, t)
	}
	if s := r.Scenario(ScenarioPipeline); s != nil && len(s.Backends) == 1 {
		add(Target{Name: TargetPipeline, Description: "pipeline alone (keyword backend, batch 128), records/s end-to-end",
			Measured: s.Backends[0].RecordsPerSec, Goal: PipelineTarget, Unit: "records/s"})
		if rv := r.River; rv != nil && rv.RecordsPerSec > 0 {
			add(Target{Name: TargetPipelineRiver, Description: fmt.Sprintf("pipeline alone as a share of the raw River ceiling "+
				"(no-op jobs/s ÷ %s jobs per record)", fmtJobs(rv.JobsPerRecord)),
				Measured: s.Backends[0].RecordsPerSec / rv.RecordsPerSec, Goal: PipelineRiverShareTarget, Unit: "share"})
		}
		if il := r.Inline; il != nil && il.RecordsPerSec > 0 {
			add(Target{Name: TargetPipelineInline, Description: fmt.Sprintf("pipeline alone as a share of the inline ceiling "+
				"(the same end state written by batched statements, %s)", plural(il.Writers, "writer")),
				Measured: s.Backends[0].RecordsPerSec / il.RecordsPerSec, Goal: PipelineInlineShareTarget, Unit: "share"})
		}
	}
	s := r.Scenario(ScenarioVector)
	if s != nil && len(s.Backends) == 1 && r.Raw != nil && r.Raw.RowsPerSec > 0 {
		add(Target{Name: TargetVector, Description: "pgvector backend (batch 128) as a share of the raw HNSW insert rate",
			Measured: s.Backends[0].RecordsPerSec / r.Raw.RowsPerSec, Goal: VectorShareTarget, Unit: "share"})
	}
	if s != nil {
		add(Target{Name: TargetEmbedCalls, Description: "embedding calls per record (pgvector, batch 128)",
			Measured: s.EmbedCallsPerRecord, Goal: EmbedCallsPerRecordTarget, Unit: "calls/record", AtMost: true})
	}
	if f := r.Freshness; f != nil && f.Scenario.Freshness != nil && f.Scenario.Freshness.Records > 0 {
		add(Target{Name: TargetFreshness, Description: fmt.Sprintf("freshness p95, commit → indexed in every backend, at a steady %s records/s",
			fmtNum(f.Rate)), Measured: f.Scenario.Freshness.P95Ms, Goal: FreshnessP95Target, Unit: "ms", AtMost: true})
	}
}

// Markdown renders the report: the command, the targets, one table of the scenarios with the
// records/s of every backend, the batch-size histograms, the raw ceiling and the machine.
func (r *IngestReport) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	p := m.Postgres

	m.writeHeader(&b, "Ingest benchmark", r.Command, r.Date)

	w("## Targets\n\n")
	w("| target | measured | goal | ratio | met |\n|---|---:|---:|---:|:-:|\n")
	for _, t := range r.Targets {
		w("| %s | %s | %s | %s | %s |\n", t.Description, t.format(t.Measured), t.formatGoal(), fmtRatio(t.Ratio), yesNo(t.Met))
	}
	if len(r.Targets) == 0 {
		w("| (no target measured) | | | | |\n")
	}
	w("\n")
	if r.Opts.Smoke {
		w("**Smoke run**: every part ran, on too few records for the figures to mean much; targets are not enforced.\n\n")
	}

	if rows := r.ceilingRows(); len(rows) > 0 {
		w("## Ceilings\n\n")
		w("Each OSA figure beside the raw rate of the same work without OSA, measured in the same run on the same server " +
			"(details below). The raw kNN query latency is in the search benchmark's report (series `raw_sql`).\n\n")
		w("| OSA figure | measured | ceiling | ceiling's figure | OSA as %% of the ceiling |\n|---|---:|---|---:|---:|\n")
		for _, row := range rows {
			w("| %s | %s | %s | %s | **%s** |\n", row[0], row[1], row[2], row[3], row[4])
		}
		w("\n")
	}

	if r.Chart != "" {
		w("## Over time\n\n")
		w("Records indexed per second by each backend, and the p95 of commit → indexed in every backend over the records committed "+
			"in each %s-s window, in the pipeline and freshness scenarios.\n\n", fmtNum(TimelineWindow.Seconds()))
		w("![throughput and freshness over time](%s)\n\n", r.Chart)
	}

	w("## Scenarios\n\n")
	w("Every scenario runs in a fresh database with its own in-process server (role all, the built-in configuration with only the backends listed); "+
		"%d records per PublishRecords call from %d publishers. Records/s per backend is end-to-end: N divided by the time from the first publish "+
		"until `index_state` shows all N indexed in that backend (checked right after each batch that completes a backend, and every %d ms). "+
		"Fan-out is the time until every record had its `index_state` row in every backend (to %d ms).\n\n",
		r.Opts.PublishBatch, r.Opts.Publishers, r.Opts.PollMillis, r.Opts.PollMillis)
	w("| scenario | backends | N | batch | publish rec/s | fan-out rec/s | records/s per backend | vs batch 1 | embed calls / record | vs target |\n")
	w("|---|---|---:|---:|---:|---:|---|---|---:|---|\n")
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		var rates, speedups []string
		for _, be := range s.Backends {
			rates = append(rates, fmt.Sprintf("%s **%s**", be.Name, fmtNum(be.RecordsPerSec)))
			if x, n := r.speedup(s, be); x > 0 {
				note := ""
				if n != s.Records {
					note = fmt.Sprintf(" (batch 1 at N %s)", fmtNum(float64(n)))
				}
				speedups = append(speedups, fmt.Sprintf("%s %.2f×%s", be.Name, x, note))
			}
		}
		calls := "–"
		if s.EmbedCalls > 0 {
			calls = fmt.Sprintf("%.4f (1/%s)", s.EmbedCallsPerRecord, fmtNum(1/s.EmbedCallsPerRecord))
		}
		w("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", s.Name, s.backendNames(), fmtNum(float64(s.Records)), s.BatchSize,
			fmtNum(s.PublishPerSec), fmtNum(s.FanOutPerSec), strings.Join(rates, ", "), orDash(strings.Join(speedups, ", ")), calls,
			orDash(r.versusTarget(s)))
	}
	w("\n")

	if f := r.findings(); len(f) > 0 {
		w("### What the figures say\n\n")
		w("Derived from the figures above (fan-out end vs. backend end, flush reasons, CPU):\n\n")
		for _, line := range f {
			w("- %s\n", line)
		}
		w("\n")
	}

	w("## Batch sizes\n\n")
	w("Batches by size (jobs per batch) and by flush reason: `size` = batch.max_size reached, `delay` = batch.max_delay (100 ms) passed " +
		"since the batch's first job arrived, `slots` = every worker slot of the queue was waiting in the gatherer. " +
		"Mean batch ms is the gatherer's time for one batch: load the records, embed, write, mark indexed, commit.\n\n")
	w("| scenario | backend | slots | batches |")
	for _, bk := range newHistogram() {
		w(" %s |", bk.Label)
	}
	w(" mean size | mean batch ms | flush size / delay / slots (mean size) | retried / snoozed / cancelled |\n|---|---|---:|---:|")
	for range HistogramBuckets {
		w("---:|")
	}
	w("---:|---:|---|---|\n")
	for _, s := range r.allScenarios() {
		for _, be := range s.Backends {
			bs := be.Batches
			w("| %s | %s | %d | %s |", s.Name, be.Name, be.Slots, fmtNum(float64(bs.Batches)))
			for _, bk := range bs.Histogram {
				w(" %s |", fmtNum(float64(bk.Batches)))
			}
			var flush []string
			for _, reason := range flushReasons {
				f := fmt.Sprint(bs.Flush[reason])
				if n := bs.Flush[reason]; n > 0 {
					f += fmt.Sprintf(" (%.0f)", float64(bs.FlushJobs[reason])/float64(n))
				}
				flush = append(flush, f)
			}
			w(" %.1f | %.0f | %s | %d / %d / %d |\n", bs.MeanSize, bs.MeanBatchMillis, strings.Join(flush, " / "),
				bs.Retried, bs.Snoozed, bs.Cancelled)
		}
	}
	w("\n")

	w("## Raw HNSW ceiling\n\n")
	w("`raw_hnsw(id bigint primary key, embedding vector(%d))` with an HNSW index (m %d, ef_construction %d, vector_cosine_ops), "+
		"filled with the hash embeddings of the same texts as the vector scenario, measured right after it: by multi-row inserts of %d from `unnest` "+
		"(one transaction each), and by one binary COPY of every row. The target compares with the inserts by one writer; the second insert row "+
		"uses as many writers as the vector scenario runs batches at once.\n\n",
		rawDims, rawM, rawEfConstruction, rawBatch)
	w("| method | writers | rows | seconds | rows/s | mean batch ms | CPU | vector scenario as %% of it |\n|---|---:|---:|---:|---:|---:|---|---:|\n")
	vec := r.Scenario(ScenarioVector)
	for _, raw := range []*RawResult{r.Raw, r.RawParallel, r.RawCopy} {
		if raw == nil {
			continue
		}
		pct := "–"
		if vec != nil && len(vec.Backends) == 1 && raw.RowsPerSec > 0 {
			pct = fmt.Sprintf("%.0f %%", 100*vec.Backends[0].RecordsPerSec/raw.RowsPerSec)
		}
		method := "insert"
		if raw.Method == RawMethodCopy {
			method = "COPY"
		}
		w("| %s | %d | %s | %.1f | **%s** | %.0f | %s | %s |\n", method, raw.Writers, fmtNum(float64(raw.Rows)), raw.Seconds, fmtNum(raw.RowsPerSec),
			raw.MeanBatchMillis, raw.CPU, pct)
	}
	w("\n")

	if rv := r.River; rv != nil {
		w("## Raw River ceiling\n\n")
		var qs []string
		for _, q := range rv.Queues {
			qs = append(qs, fmt.Sprintf("`%s` (MaxWorkers %d, %s jobs)", q.Name, q.MaxWorkers, fmtNum(float64(q.Jobs))))
		}
		w("No-op jobs inserted up front (InsertManyFast, %.1f s, not timed) into the pipeline scenario's queues %s, then worked by a River "+
			"client with the pipeline's settings (fetch cooldown %s ms, fetch poll interval %s ms, pool of %d connections) in a fresh database "+
			"on the same server, right after the pipeline scenario; timed from the client's start until the database shows every job completed. "+
			"The pipeline runs %s jobs per record (one fan-out job per publish call of %d records, one index job per record and backend), "+
			"so River alone allows jobs/s ÷ %s records/s.\n\n",
			rv.InsertSeconds, strings.Join(qs, " and "), fmtNum(rv.FetchCooldownMillis), fmtNum(rv.FetchPollIntervalMillis), rv.MaxConns,
			fmtJobs(rv.JobsPerRecord), r.Opts.PublishBatch, fmtJobs(rv.JobsPerRecord))
		w("| jobs | seconds | jobs/s | records/s (÷ %s) | CPU | pipeline as %% of it |\n|---:|---:|---:|---:|---|---:|\n", fmtJobs(rv.JobsPerRecord))
		pct := "–"
		if t := r.Target(TargetPipelineRiver); t != nil {
			pct = fmt.Sprintf("%.0f %%", 100*t.Measured)
		}
		w("| %s | %.1f | **%s** | %s | %s | %s |\n\n", fmtNum(float64(rv.Jobs)), rv.Seconds, fmtNum(rv.JobsPerSec), fmtNum(rv.RecordsPerSec), rv.CPU, pct)
	}

	r.inlineMarkdown(w)

	if fr := r.Freshness; fr != nil && fr.Scenario.Freshness != nil {
		f := fr.Scenario.Freshness
		w("## Freshness\n\n")
		w("A fresh server with both backends (default batch); one PublishRecords call every %s ms sends the records due by then, "+
			"%s records/s asked for %s s (reached %s records/s, %s records). Each record's freshness is the time from the commit of its "+
			"publish to the commit of its index write in every backend (the latest of the backends), read after the run from the database: %s.\n\n",
			fmtNum(fr.TickMillis), fmtNum(fr.Rate), fmtNum(fr.DurationSeconds), fmtNum(fr.PublishedPerSec), fmtNum(float64(fr.Scenario.Records)),
			methodNote(f.Method))
		w("| scenario | measure | records | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---:|---:|---:|---:|---:|\n")
		w("| freshness | every backend | %s | %.0f | **%.0f** | %.0f | %.0f |\n", fmtNum(float64(f.Records)), f.P50Ms, f.P95Ms, f.P99Ms, f.MaxMs)
		for _, b := range f.Backends {
			w("| freshness | %s alone | | %.0f | %.0f | %.0f | %.0f |\n", b.Name, b.P50Ms, b.P95Ms, b.P99Ms, b.MaxMs)
		}
		if p := r.Scenario(ScenarioPipeline); p != nil && p.Freshness != nil {
			pf := p.Freshness
			w("| pipeline (all at once, informational) | every backend | %s | %.0f | %.0f | %.0f | %.0f |\n", fmtNum(float64(pf.Records)),
				pf.P50Ms, pf.P95Ms, pf.P99Ms, pf.MaxMs)
		}
		w("\n")
	}

	w("## Scenario details\n\n")
	w("CPU is the whole machine's (all cores) from the first publish to the end; \"others\" is the part used by processes other than the benchmark and its PostgreSQL server.\n\n")
	w("| scenario | description | total_workers | publish s | fan-out s | per backend s | CPU | checkpoint before | load before → after |\n")
	w("|---|---|---:|---:|---:|---|---|:-:|---|\n")
	for _, s := range r.allScenarios() {
		var per []string
		for _, be := range s.Backends {
			per = append(per, fmt.Sprintf("%s %.2f", be.Name, be.Seconds))
		}
		w("| %s | %s | %d | %.2f | %.2f | %s | %s | %s | %s → %s |\n", s.Name, s.Description, s.TotalWorkers, s.PublishSeconds,
			s.FanOutSeconds, strings.Join(per, ", "), s.CPU, yesNo(s.Checkpointed), orDash(s.LoadBefore), orDash(s.LoadAfter))
	}
	w("\n")

	w("## Machine\n\n")
	w("- CPUs: %d (GOMAXPROCS %d)%s\n", m.NumCPU, m.GOMAXPROCS, prefixed(", ", m.CPUModel))
	if m.MemTotal != "" {
		w("- Memory: %s\n", m.MemTotal)
	}
	w("- Go: %s %s/%s; built from %s\n", m.GoVersion, m.OS, m.Arch, orDash(m.Revision))
	w("- PostgreSQL: %s, pgvector %s\n", p.Version, orDash(p.Pgvector))
	w("- Settings: shared_buffers %s, maintenance_work_mem %s, work_mem %s, max_wal_size %s, fsync %s, synchronous_commit %s, max_connections %s, track_commit_timestamp %s\n",
		p.SharedBuffers, p.MaintenanceWorkMem, p.WorkMem, p.MaxWALSize, p.Fsync, p.SynchronousCommit, p.MaxConnections, orDash(p.TrackCommitTimestamp))
	if m.Nice != 0 {
		w("- Scheduling: the benchmark ran at nice %d (its private PostgreSQL inherits it), ahead of other processes on this shared machine\n", m.Nice)
	}
	sample := "1 s"
	if r.Opts.Smoke {
		sample = "0.2 s"
	}
	w("- Before the run (%s sample, i.e. everything else on the machine): CPU %s; load average (1/5/15 min) %s\n", sample, m.CPUBefore, orDash(m.LoadBefore))
	w("- After the run (%s sample, once the benchmark's servers had stopped): CPU %s\n", sample, m.CPUAfter)
	w("- Whole run: %.0f s\n", r.Seconds)
	return b.String()
}

// findings states, per scenario and backend, which stage bounded it: a backend done within
// moments of the fan-out kept up with it (the fan-out was the bottleneck); one done much later
// was itself the slower stage. It adds the signs of a starved queue (most batches flushed by
// delay, batches of one) and of a saturated machine.
func (r *IngestReport) findings() []string {
	var out []string
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if s.FanOutSeconds <= 0 {
			continue
		}
		var parts []string
		for _, be := range s.Backends {
			lag := max(be.Seconds-s.FanOutSeconds, 0)
			p := fmt.Sprintf("%s had indexed %s of %s when the fan-out was done and finished %.1f s later", be.Name,
				fmtNum(float64(be.IndexedAtFanOut)), fmtNum(float64(s.Records)), lag)
			if lag <= max(0.5, 0.05*be.Seconds) {
				p += ": it kept up, so its rate is the fan-out's"
			} else if rest := s.Records - be.IndexedAtFanOut; rest > 0 && lag > 0 {
				p += fmt.Sprintf(": it lagged behind, and indexed the last %s at %s rec/s once the fan-out no longer competed for the CPUs",
					fmtNum(float64(rest)), fmtNum(float64(rest)/lag))
			}
			bs := be.Batches
			if s.BatchSize > 1 && bs.Batches > 0 {
				var notes []string
				if d := bs.Flush["delay"]; 2*d > bs.Batches {
					notes = append(notes, fmt.Sprintf("%d of %d batches were flushed by batch.max_delay, so jobs arrived slower than batches filled", d, bs.Batches))
				}
				if ones := bs.Histogram[0].Batches; ones > 0 {
					notes = append(notes, fmt.Sprintf("%d batches held a single job", ones))
				}
				if len(notes) > 0 {
					p += " (" + strings.Join(notes, "; ") + ")"
				}
			}
			parts = append(parts, p)
		}
		line := fmt.Sprintf("**%s**: fan-out %s rec/s; %s.", s.Name, fmtNum(s.FanOutPerSec), strings.Join(parts, "; "))
		if s.CPU.Busy >= 90 {
			line += fmt.Sprintf(" The CPUs were %.0f %% busy: the run was CPU-bound.", s.CPU.Busy)
		}
		line += othersNote(s.CPU)
		out = append(out, line)
	}
	for _, raw := range []*RawResult{r.Raw, r.RawParallel, r.RawCopy} {
		if raw != nil && raw.CPU.Attributed && raw.CPU.Others >= othersNoticeable {
			out = append(out, fmt.Sprintf("**raw_hnsw (%s)**: %s rows/s.%s", raw.label(), fmtNum(raw.RowsPerSec), othersNote(raw.CPU)))
		}
	}
	for _, il := range []*InlineResult{r.Inline, r.InlineBoth} {
		if il != nil && il.CPU.Attributed && il.CPU.Others >= othersNoticeable {
			out = append(out, fmt.Sprintf("**inline (%s)**: %s records/s.%s", strings.Join(il.Backends, " + "), fmtNum(il.RecordsPerSec), othersNote(il.CPU)))
		}
	}
	if rv := r.River; rv != nil && rv.CPU.Attributed && rv.CPU.Others >= othersNoticeable {
		out = append(out, fmt.Sprintf("**raw_river**: %s jobs/s.%s", fmtNum(rv.JobsPerSec), othersNote(rv.CPU)))
	}
	return out
}

// allScenarios returns the scenarios and, last, the freshness scenario.
func (r *IngestReport) allScenarios() []*ScenarioResult {
	out := make([]*ScenarioResult, 0, len(r.Scenarios)+1)
	for i := range r.Scenarios {
		out = append(out, &r.Scenarios[i])
	}
	if r.Freshness != nil {
		out = append(out, &r.Freshness.Scenario)
	}
	return out
}

// ceilingRows are the rows of the Ceilings table: OSA figure, measured, ceiling, the ceiling's
// figure, OSA as a percentage of it.
func (r *IngestReport) ceilingRows() [][5]string {
	var rows [][5]string
	pct := func(osa, ceiling float64) string {
		if ceiling <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f %%", 100*osa/ceiling)
	}
	if p, rv := r.Scenario(ScenarioPipeline), r.River; p != nil && len(p.Backends) == 1 && rv != nil {
		rows = append(rows, [5]string{"pipeline alone (keyword), records/s", fmtNum(p.Backends[0].RecordsPerSec),
			fmt.Sprintf("River no-op jobs/s ÷ %s jobs per record", fmtJobs(rv.JobsPerRecord)),
			fmt.Sprintf("%s (%s jobs/s)", fmtNum(rv.RecordsPerSec), fmtNum(rv.JobsPerSec)), pct(p.Backends[0].RecordsPerSec, rv.RecordsPerSec)})
	}
	if p, il := r.Scenario(ScenarioPipeline), r.Inline; p != nil && len(p.Backends) == 1 && il != nil {
		rows = append(rows, [5]string{"pipeline alone (keyword), records/s", fmtNum(p.Backends[0].RecordsPerSec),
			"inline: the same rows (keyword) by batched statements, " + plural(il.Writers, "writer") + ", records/s",
			fmtNum(il.RecordsPerSec), pct(p.Backends[0].RecordsPerSec, il.RecordsPerSec)})
	}
	if b, il := r.Scenario(ScenarioBoth), r.InlineBoth; b != nil && il != nil {
		every := b.everyBackendPerSec()
		rows = append(rows, [5]string{"both backends, records/s in every backend", fmtNum(every),
			"inline: the same rows (vector + keyword, HNSW insert) by batched statements, " + plural(il.Writers, "writer") + ", records/s",
			fmtNum(il.RecordsPerSec), pct(every, il.RecordsPerSec)})
	}
	if v := r.Scenario(ScenarioVector); v != nil && len(v.Backends) == 1 {
		for _, raw := range []*RawResult{r.Raw, r.RawParallel, r.RawCopy} {
			if raw != nil {
				rows = append(rows, [5]string{"pgvector backend, records/s", fmtNum(v.Backends[0].RecordsPerSec), "raw HNSW " + raw.label() + ", rows/s",
					fmtNum(raw.RowsPerSec), pct(v.Backends[0].RecordsPerSec, raw.RowsPerSec)})
			}
		}
	}
	return rows
}

// methodNote explains a [FreshnessStats.Method] in the report.
func methodNote(method string) string {
	switch method {
	case FreshnessCommitTimestamp:
		return "the commit timestamps of the writing transactions (track_commit_timestamp = on), exact"
	case FreshnessTransactionStart:
		return "track_commit_timestamp is off on this server, so `records.updated_at` and `index_state.indexed_at` stand in for the commits; " +
			"both are transaction start times, so each figure is short by the index batch's own duration (see mean batch ms) — " +
			"start the server with track_commit_timestamp = on for exact figures (osa bench does on the cluster it starts)"
	default:
		return method
	}
}

// othersNoticeable is the CPU share of other processes, in percent, that a report points out.
const othersNoticeable = 10

// othersNote points out other processes' share of the CPUs when it was noticeable.
func othersNote(u CPUUse) string {
	if !u.Attributed || u.Others < othersNoticeable {
		return ""
	}
	return fmt.Sprintf(" **Other processes took %.0f %% of the CPUs meanwhile**: this figure is lower than on an idle machine.", u.Others)
}

// speedup is how many times faster be indexed in s than in the batch-1 scenario of the same
// backends, and that scenario's N; 0 when there is none.
func (r *IngestReport) speedup(s *ScenarioResult, be BackendResult) (float64, int) {
	if s.BatchSize == 1 {
		return 0, 0
	}
	for i := range r.Scenarios {
		o := &r.Scenarios[i]
		if o.BatchSize != 1 || !slices.Equal(o.backendList(), s.backendList()) {
			continue
		}
		if ob := o.Backend(be.Name); ob != nil && ob.RecordsPerSec > 0 {
			return be.RecordsPerSec / ob.RecordsPerSec, o.Records
		}
	}
	return 0, 0
}

// versusTarget describes how s compares with the targets that concern it.
func (r *IngestReport) versusTarget(s *ScenarioResult) string {
	var out []string
	switch s.Name {
	case ScenarioPipeline:
		if t := r.Target(TargetPipeline); t != nil {
			out = append(out, fmt.Sprintf("%.2f× of %s rec/s %s", t.Ratio, fmtNum(PipelineTarget), check(t.Met)))
		}
		if t := r.Target(TargetPipelineRiver); t != nil {
			out = append(out, fmt.Sprintf("%.0f %% of the River ceiling (goal ≥ %.0f %%) %s", 100*t.Measured, 100*PipelineRiverShareTarget, check(t.Met)))
		}
		if t := r.Target(TargetPipelineInline); t != nil {
			out = append(out, fmt.Sprintf("%.0f %% of the inline ceiling (goal ≥ %.0f %%) %s", 100*t.Measured, 100*PipelineInlineShareTarget, check(t.Met)))
		}
	case ScenarioBoth:
		if il := r.InlineBoth; il != nil && il.RecordsPerSec > 0 {
			out = append(out, fmt.Sprintf("%.0f %% of the inline ceiling", 100*s.everyBackendPerSec()/il.RecordsPerSec))
		}
	case ScenarioVector:
		if t := r.Target(TargetVector); t != nil {
			out = append(out, fmt.Sprintf("%.0f %% of raw %s rows/s (goal ≥ %.0f %%) %s", 100*t.Measured, fmtNum(r.Raw.RowsPerSec),
				100*VectorShareTarget, check(t.Met)))
		}
	}
	if s.EmbedCalls > 0 && s.BatchSize > 1 {
		// Batches of one embed one text per call by construction: no target there.
		ok := s.EmbedCallsPerRecord <= EmbedCallsPerRecordTarget
		out = append(out, fmt.Sprintf("1/%s calls/record (goal ≤ 1/50) %s", fmtNum(1/s.EmbedCallsPerRecord), check(ok)))
	}
	return strings.Join(out, "; ")
}

func (s *ScenarioResult) backendList() []string {
	names := make([]string, len(s.Backends))
	for i, b := range s.Backends {
		names[i] = b.Name
	}
	return names
}

func (s *ScenarioResult) backendNames() string { return strings.Join(s.backendList(), " + ") }

func (t Target) format(v float64) string {
	switch t.Unit {
	case "share":
		return fmt.Sprintf("%.0f %%", 100*v)
	case "calls/record":
		if v == 0 {
			return "0"
		}
		return fmt.Sprintf("%.4f (1/%s)", v, fmtNum(1/v))
	default:
		return fmtNum(v) + " " + t.Unit
	}
}

func (t Target) formatGoal() string {
	op := "≥ "
	if t.AtMost {
		op = "≤ "
	}
	if t.Unit == "calls/record" {
		return op + fmt.Sprintf("%.2f (1/%s)", t.Goal, fmtNum(1/t.Goal))
	}
	return op + t.format(t.Goal)
}

// fmtNum formats v rounded to a whole number with thousands separators (12,345); values under
// 10 keep one decimal.
func fmtNum(v float64) string {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return "–"
	case math.Abs(v) < 10 && v != math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtRatio(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func check(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗ (missed)"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// plural returns "1 writer", "4 writers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// inlineMarkdown writes the section of the inline ceilings, if any was measured.
func (r *IngestReport) inlineMarkdown(w func(format string, args ...any)) {
	if r.Inline == nil && r.InlineBoth == nil {
		return
	}
	w("## Inline ceiling\n\n")
	w("The end state the pipeline reaches, written synchronously without River in a fresh database on the same server, right after the "+
		"scenario it bounds: for each transaction of %d records, one multi-row statement for `records` and `record_versions`, one for "+
		"`record_events`, then per backend its own batch write (keyword: the row with both `to_tsvector`s and the BM25 statistics' change; "+
		"vector: the hash embedding, computed in the timed part, and the HNSW insert) and one `index_state` statement (indexed), from as "+
		"many writers as the machine has cores. What the pipeline spends beyond it is the cost of its guarantees (transactional enqueue, "+
		"per-record and per-backend status and retries, crash safety, fairness).\n\n", inlineBatch)
	w("CPU per record is the CPU time of the benchmark's process and its PostgreSQL server (not of other processes) divided by the records: " +
		"less sensitive than records/s to other work on the machine, and on a CPU-bound run the inverse of the rate an idle machine would give. " +
		"The share by CPU is the inline ceiling's CPU per record over the scenario's.\n\n")
	w("| backends | bounds scenario | writers | records | seconds | records/s | mean batch ms | CPU | scenario as %% of it | River no-op share | " +
		"CPU µs/record: inline / scenario | share by CPU |\n|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, il := range []*InlineResult{r.Inline, r.InlineBoth} {
		if il == nil {
			continue
		}
		pct, river, cpu, cpuShare := "–", "–", "–", "–"
		ilCPU := cpuMicrosPerRecord(il.CPU, r.Machine.NumCPU, il.Seconds, il.Records)
		if s := r.Scenario(il.Scenario); s != nil && il.RecordsPerSec > 0 {
			pct = fmt.Sprintf("%.0f %%", 100*s.everyBackendPerSec()/il.RecordsPerSec)
			if scCPU := cpuMicrosPerRecord(s.CPU, r.Machine.NumCPU, s.Seconds, s.Records); ilCPU > 0 && scCPU > 0 {
				cpu, cpuShare = fmt.Sprintf("%.0f / %.0f", ilCPU, scCPU), fmt.Sprintf("%.0f %%", 100*ilCPU/scCPU)
			}
		}
		if t := r.Target(TargetPipelineRiver); t != nil && il.Scenario == ScenarioPipeline {
			river = fmt.Sprintf("%.0f %%", 100*t.Measured)
		}
		w("| %s | %s | %d | %s | %.1f | **%s** | %.0f | %s | %s | %s | %s | %s |\n", strings.Join(il.Backends, " + "), il.Scenario, il.Writers,
			fmtNum(float64(il.Records)), il.Seconds, fmtNum(il.RecordsPerSec), il.MeanBatchMillis, il.CPU, pct, river, cpu, cpuShare)
	}
	w("\n")
}

// cpuMicrosPerRecord is the CPU time the benchmark and its PostgreSQL server spent per record
// over seconds on cpus CPUs, in microseconds; 0 when it is not known (u not attributed).
func cpuMicrosPerRecord(u CPUUse, cpus int, seconds float64, records int) float64 {
	if !u.Attributed || cpus < 1 || records < 1 {
		return 0
	}
	return u.Ours / 100 * float64(cpus) * seconds / float64(records) * 1e6
}

// everyBackendPerSec is the scenario's records/s in every backend: the slowest backend's.
func (s *ScenarioResult) everyBackendPerSec() float64 {
	out := 0.0
	for i, b := range s.Backends {
		if i == 0 || b.RecordsPerSec < out {
			out = b.RecordsPerSec
		}
	}
	return out
}

// fmtJobs formats a number of jobs per record: "2", "1.002".
func fmtJobs(x float64) string { return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64) }
