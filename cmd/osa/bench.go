package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/bench"
)

func newBenchCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure OSA on this machine",
		Long:  `bench runs benchmarks of OSA against a real PostgreSQL and reports their figures.`,
	}
	cmd.AddCommand(newBenchIngestCmd(g), newBenchSearchCmd(g), newBenchAllCmd(g), newBenchRelevanceCmd(g), newBenchRebuildCmd(g), newBenchExportCmd(g), newBenchImportCmd(g), newBenchFeedCmd(g), newBenchProviderCmd(g), newBenchSoakCmd(g), newBenchScaleCmd(g))
	return cmd
}

// ingestFlags are the flags of bench ingest, shared with bench all.
type ingestFlags struct {
	records, smallRecords, vectorRecords, publishers, freshnessRate int
	freshness                                                       time.Duration
	smoke, serverLog                                                bool
}

// register adds the flags to cmd.
func (f *ingestFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&f.records, "records", bench.RecordsDefault, fmt.Sprintf(
		"records of the pipeline scenario (and of the vector ones unless --vector-records); with --smoke %d", bench.RecordsSmokeDefault))
	fs.IntVar(&f.smallRecords, "small-records", bench.SmallRecordsDefault, fmt.Sprintf(
		"records of the batch-size-1 scenarios; with --smoke %d", bench.SmallRecordsSmokeDefault))
	fs.IntVar(&f.vectorRecords, "vector-records", 0, fmt.Sprintf(
		"records of the vector scenarios with the default batch and of the raw HNSW ceilings (default --records; with --smoke %d)", bench.VectorRecordsSmokeDefault))
	fs.IntVar(&f.publishers, "publishers", bench.PublishersDefault, "concurrent publishing clients")
	fs.DurationVar(&f.freshness, "freshness", bench.FreshnessDurationDefault, fmt.Sprintf(
		"how long the freshness scenario publishes; with --smoke %s", bench.FreshnessDurationSmokeDefault))
	fs.IntVar(&f.freshnessRate, "freshness-rate", bench.FreshnessRateDefault, "the freshness scenario's steady publishing rate, records/s")
	fs.BoolVar(&f.smoke, "smoke", false, "a short run (under 30 s on 2 idle cores) that checks every part works: figures too small to mean much, targets never enforced")
	fs.BoolVar(&f.serverLog, "server-log", false, "show the scenario servers' logs (log.level, log.format) on stderr")
}

// opts returns the options of [bench.Ingest]: the flags given on the command line; the others
// are left zero, so that [bench.IngestOpts.WithDefaults] picks the defaults (with --smoke, the
// smoke ones).
func (f *ingestFlags) opts(cmd *cobra.Command, adminURL string, logger *slog.Logger) bench.IngestOpts {
	set := func(name string, v int) int {
		if cmd.Flags().Changed(name) {
			return v
		}
		return 0
	}
	o := bench.IngestOpts{
		AdminURL:      adminURL,
		Records:       set("records", f.records),
		SmallRecords:  set("small-records", f.smallRecords),
		VectorRecords: set("vector-records", f.vectorRecords),
		Publishers:    set("publishers", f.publishers),
		FreshnessRate: set("freshness-rate", f.freshnessRate),
		Smoke:         f.smoke,
		Command:       commandLine(),
		Progress:      cmd.ErrOrStderr(),
	}
	if cmd.Flags().Changed("freshness") {
		o.FreshnessDuration = f.freshness
	}
	if f.serverLog {
		o.Logger = logger // otherwise nil: the servers' logs are discarded
	}
	return o
}

func newBenchIngestCmd(g *globalFlags) *cobra.Command {
	var (
		flags ingestFlags
		out   string
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Measure the ingest pipeline: records/s per backend against its ceilings, freshness, embedding calls, batch sizes",
		Long: `ingest publishes generated records through the API of an in-process server (batches of 500) and
waits until every backend has indexed them, in six scenarios run one after the other:

  pipeline        the keyword backend alone, default batch size (128): the pipeline itself
                  (fan-out, queues, gatherer, status), target 1,500 records/s
  keyword_batch1  the keyword backend alone, batch size 1
  vector          the pgvector backend alone (hash embedder, 384 dims), default batch size
  vector_batch1   the pgvector backend alone, batch size 1
  both            both backends together, default batch size
  freshness       both backends, a steady --freshness-rate records/s (one small PublishRecords
                  every 20 ms) for --freshness: each record's time from its commit until every
                  backend has indexed it, target p95 <= 300 ms at 100 records/s

In the same run it measures the raw ceilings, each in a fresh database on the same server:

  raw River       right after the pipeline: as many no-op jobs as the pipeline ran (a fan-out
                  job per publish call, an index job per record), inserted up front, worked by a
                  River client with the pipeline's queues, workers and fetch settings. Target:
                  the pipeline reaches 35 % of jobs/s ÷ the jobs per record.
  inline          right after the pipeline (keyword backend) and after both (both backends): the
                  same records' end state (records, versions, events, the backends' rows,
                  index_state indexed) written without River by batched statements, 128 records
                  a transaction, from as many writers as cores. Target: the pipeline reaches
                  50 % of it.
  raw HNSW        right after the vector scenario: the same texts' hash embeddings written into a
                  table with the same HNSW index, by batched inserts (128 rows from unnest) with
                  one writer and with as many writers as the vector scenario runs batches at once,
                  and by one COPY. Target: the vector backend reaches 80 % of the one-writer insert
                  rate (and makes 50 times fewer embedding calls than records).

The report prints each OSA figure as a share of its ceiling. The freshness figures are exact when
the server has track_commit_timestamp = on (set on the private cluster bench starts); otherwise
they use transaction start times, and the report says so.

Each scenario runs in a fresh database osa_bench_<random>, created on the server of database.url
(its user must be allowed to CREATE DATABASE) and dropped afterwards. Without database.url, ingest
starts the private PostgreSQL of osa dev (dev.data_dir, dev.port, dev.shared_buffers, ...) and
stops it at the end. The scenarios use the built-in configuration, not the config file: only
database.url and dev.* are read from it.

--smoke shrinks everything (1,000 records, 300 vector records, 30 batch-size-1 records, 5 s of
freshness) to check in about 20 s that every part works; explicit flags still win.

Progress goes to stderr, the Markdown report to stdout; --out PREFIX also writes PREFIX.md,
PREFIX.json and PREFIX.svg (throughput and freshness over time of the pipeline and freshness
scenarios, linked from PREFIX.md). The machine's load average is recorded with every scenario:
run it on an idle machine.`,
		Example: `  osa bench ingest
  osa bench ingest --records 20000 --small-records 2000 --out bench/results/ingest
  osa bench ingest --records 20000 --vector-records 5000     # fewer records where HNSW is slow
  osa bench ingest --smoke                                    # does it work? (~20 s)
  OSA_DEV__PORT=0 osa bench ingest                            # private cluster on any free port
  OSA_DATABASE__URL=postgres://postgres@db/postgres osa bench ingest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, logger *slog.Logger) error {
				_, err := runBenchIngest(cmd, flags.opts(cmd, adminURL, logger), out)
				return err
			})
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md, PREFIX.json and PREFIX.svg")
	return cmd
}

// runBenchIngest runs the ingest benchmark, prints its Markdown report to stdout and, when out is
// set, writes out.md, out.json and out.svg. On error it prints what finished before it.
func runBenchIngest(cmd *cobra.Command, opts bench.IngestOpts, out string) (*bench.IngestReport, error) {
	rep, err := bench.Ingest(cmd.Context(), opts)
	if err != nil {
		if rep != nil && len(rep.Scenarios) > 0 {
			fmt.Fprint(cmd.OutOrStdout(), rep.Markdown()) // what finished before the error
		}
		return nil, err
	}
	if out == "" {
		fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
		return rep, nil
	}
	svg := rep.SVG()
	if svg != "" {
		rep.Chart = filepath.Base(out) + ".svg" // beside the Markdown that links it
	}
	md := rep.Markdown()
	fmt.Fprint(cmd.OutOrStdout(), md)
	if err := writeBenchReport(cmd.ErrOrStderr(), out, rep, md); err != nil {
		return nil, err
	}
	if svg != "" {
		if err := os.WriteFile(out+".svg", []byte(svg), 0o644); err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "osa bench: wrote %s.svg\n", out)
	}
	return rep, nil
}

func newBenchRelevanceCmd(g *globalFlags) *cobra.Command {
	var (
		opts      bench.RelevanceOpts
		variants  []string
		bm25      bench.BM25Params
		out       string
		serverLog bool
	)
	cmd := &cobra.Command{
		Use:   "relevance",
		Short: "Measure search relevance on a BEIR dataset: nDCG@10, Recall@100, MRR@10 per mode and config variant",
		Long: `relevance measures how well search ranks a dataset in BEIR's layout (--dataset DIR):

  DIR/corpus.jsonl                                     {"_id", "title", "text"} a line
  DIR/queries_<split>.jsonl or else DIR/queries.jsonl  {"_id", "text"} a line
  DIR/qrels_<split>.tsv or else DIR/qrels/<split>.tsv  query-id, corpus-id, integer score (graded),
                                                       tab-separated, after a header line

Every document is published through the API of an in-process server with the built-in
configuration (backends vector: pgvector with the hash embedder, and keyword) as a record
{"title": title, "summary": text, "bench": {"doc_id": _id}}, 1,000 per PublishRecords call, and
relevance waits until every backend has indexed all of them. Every judged query of the split, as
written, then goes to Search with limit 100 in the keyword, vector and hybrid modes, one call at a
time. Per mode the report gives nDCG@10 (trec_eval's ndcg_cut.10), Recall@100, MRR@10, the queries
without hits and the p50/p99 latency of a call.

--variant NAME=key=value[,key=value...] (repeatable) restarts the server on the same database, the
records kept, with those overrides applied as osa serve --set applies them, and measures the three
modes again; the built-in configuration is always measured first, as "default". Every variant's
configuration is checked before anything is published: a bad key fails the run with config's
message.

Last comes a reference BM25 computed in the harness over the tokens PostgreSQL's to_tsvector gives
each document (title and text) and query, with the keyword backend's language: Lucene's formula
with --bm25-k1 and --bm25-b, the top 100, ties by document id. BEIR's published BM25 on SciFact's
test split, nDCG@10 0.665, is in the report as a note.

--smoke measures the first 30 judged queries over 500 documents (those judged for them, then
others), with at most one variant: a check that every part works, in a few seconds.

The run uses a scratch database osa_bench_<random> on the server of database.url (its user must
be allowed to CREATE DATABASE), dropped at the end; without database.url, the private PostgreSQL
of osa dev, started and stopped here. Only database.url and dev.* are read from the config; the
servers run the built-in configuration and the variants' overrides. Progress goes to stderr, the
Markdown report to stdout; --out PREFIX also writes PREFIX.md and PREFIX.json (aggregate figures).`,
		Example: `  osa bench relevance --dataset ../shared/bench/scifact --out bench/results/relevance-scifact-train
  osa bench relevance --dataset ../shared/bench/scifact --smoke
  osa bench relevance --dataset DIR --variant k20=search.rrf_k=20 --variant k120=search.rrf_k=120
  OSA_DATABASE__URL=postgres://postgres@db/postgres osa bench relevance --dataset DIR --split test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Dataset == "" {
				return errors.New("--dataset is required: the folder of a dataset in BEIR's layout")
			}
			for _, s := range variants {
				v, err := bench.ParseRelevanceVariant(s)
				if err != nil {
					return fmt.Errorf("--variant: %w", err)
				}
				opts.Variants = append(opts.Variants, v)
			}
			opts.BM25 = &bm25
			opts.Command = commandLine()
			opts.Progress = cmd.ErrOrStderr()
			// The dataset and the variants' configurations, before a cluster is started for nothing.
			if err := opts.Check(); err != nil {
				return err
			}
			return onBenchServer(cmd, g, func(adminURL string, logger *slog.Logger) error {
				opts.AdminURL = adminURL
				if serverLog {
					opts.Logger = logger // otherwise nil: the servers' logs are discarded
				}
				return runBenchRelevance(cmd, opts, out)
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Dataset, "dataset", "", "folder of the dataset, in BEIR's layout (required)")
	fs.StringVar(&opts.Split, "split", bench.RelevanceSplitDefault, "split of the queries and judgements")
	fs.StringArrayVar(&variants, "variant", nil, "NAME=key=value[,key=value...]: also measure the built-in configuration with these overrides (repeatable)")
	fs.Float64Var(&bm25.K1, "bm25-k1", bench.BM25K1Default, "k1 of the reference BM25")
	fs.Float64Var(&bm25.B, "bm25-b", bench.BM25BDefault, "b of the reference BM25")
	fs.BoolVar(&opts.Smoke, "smoke", false, "measure 30 queries over 500 documents, at most one variant: does every part work?")
	fs.DurationVar(&opts.IndexTimeout, "index-timeout", bench.RelevanceIndexTimeoutDefault, "longest wait for every backend to index every document")
	fs.BoolVar(&serverLog, "server-log", false, "show the servers' logs (log.level, log.format) on stderr")
	fs.StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}

// runBenchRelevance runs the relevance benchmark and prints its Markdown report; with out set,
// it also writes out.md and out.json.
func runBenchRelevance(cmd *cobra.Command, opts bench.RelevanceOpts, out string) error {
	rep, err := bench.Relevance(cmd.Context(), opts)
	if err != nil {
		return err
	}
	return printBenchReport(cmd, out, rep)
}

// onBenchServer loads the configuration and runs fn with the admin URL of the server the
// benchmarks create their scratch databases on (see benchAdminURL) and the logger, then stops
// the cluster started for it, if any.
func onBenchServer(cmd *cobra.Command, g *globalFlags, fn func(adminURL string, logger *slog.Logger) error) error {
	cfg, logger, err := g.load(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	adminURL, stop, err := benchAdminURL(cmd.Context(), cmd.ErrOrStderr(), cfg)
	if err != nil {
		return err
	}
	defer stop()
	return fn(adminURL, logger)
}

// runBenchSearch runs the search benchmark and prints its Markdown report; with out set, it
// also writes out.md and out.json.
func runBenchSearch(cmd *cobra.Command, opts bench.SearchOpts, out string) error {
	rep, err := bench.Search(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rep.Command = commandLine()
	return printBenchReport(cmd, out, rep)
}

// markdownReport is a benchmark report that renders itself as Markdown.
type markdownReport interface{ Markdown() string }

// printBenchReport prints rep's Markdown report; with out set, it also writes out.md and
// out.json (writeBenchReport).
func printBenchReport(cmd *cobra.Command, out string, rep markdownReport) error {
	md := rep.Markdown()
	fmt.Fprint(cmd.OutOrStdout(), md)
	if out == "" {
		return nil
	}
	return writeBenchReport(cmd.ErrOrStderr(), out, rep, md)
}

// benchAdminURL returns the server benchmarks create their scratch databases on: database.url,
// or else the private cluster of osa dev, started here; stop stops that cluster.
func benchAdminURL(ctx context.Context, w io.Writer, cfg *config.Config) (adminURL string, stop func(), err error) {
	if cfg.Database.URL != "" {
		return cfg.Database.URL, func() {}, nil
	}
	cluster, err := startDevCluster(ctx, w, cfg.Dev.DataDir, cfg.Dev.Port, map[string]string{
		"shared_buffers":       cfg.Dev.SharedBuffers,
		"maintenance_work_mem": cfg.Dev.MaintenanceWorkMem,
		"work_mem":             cfg.Dev.WorkMem,
		// Exact freshness figures: the commit time of every transaction (a few bytes per
		// commit, no measurable cost).
		"track_commit_timestamp": "on",
	})
	if err != nil {
		return "", nil, err
	}
	return cluster.URL("postgres"), func() {
		fmt.Fprintln(w, "osa bench: stopping PostgreSQL")
		if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintln(w, "osa bench:", err)
		}
	}, nil
}

// writeBenchReport writes prefix.json and prefix.md, creating prefix's folder when missing, and says so on w.
func writeBenchReport(w io.Writer, prefix string, rep any, md string) error {
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("error encoding the report: %w", err)
	}
	if err := os.WriteFile(prefix+".json", append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.WriteFile(prefix+".md", []byte(md), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(w, "osa bench: wrote %s.md and %s.json\n", prefix, prefix)
	return nil
}

// commandLine is the command as typed, with the OSA_* variables that shape the run in front and
// any database password hidden.
func commandLine() string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OSA_DEV__") || k == "OSA_CONFIG_FILE" {
			env = append(env, kv)
		}
	}
	if os.Getenv("OSA_DATABASE__URL") != "" {
		env = append(env, "OSA_DATABASE__URL=…")
	}
	args := make([]string, len(os.Args))
	for i, a := range os.Args {
		args[i] = shellQuote(redactArg(a))
	}
	return strings.Join(append(env, args...), " ")
}

// shellQuote quotes a for a POSIX shell when it holds anything but letters, digits and
// -_./=:,@%+ (a --variant with spaces or brackets), so the command line can be pasted.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+…") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// redactArg hides the password of a URL in a command-line argument ("--database-url=URL",
// "database.url=URL" or the URL itself).
func redactArg(a string) string {
	i := strings.Index(a, "://")
	if i < 0 {
		return a
	}
	start := strings.LastIndexByte(a[:i], '=') + 1
	u, err := url.Parse(a[start:])
	if err != nil {
		return a[:start] + "…"
	}
	return a[:start] + u.Redacted()
}
