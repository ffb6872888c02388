package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

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
	cmd.AddCommand(newBenchIngestCmd(g), newBenchSearchCmd(g))
	return cmd
}

func newBenchIngestCmd(g *globalFlags) *cobra.Command {
	var (
		records, smallRecords, vectorRecords, publishers int
		out                                              string
		serverLog                                        bool
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Measure the ingest pipeline: records/s per backend, embedding calls, batch sizes",
		Long: `ingest publishes generated records through the API of an in-process server (batches of 500) and
waits until every backend has indexed them, in five scenarios run one after the other:

  pipeline        the keyword backend alone, default batch size (128): the pipeline itself
                  (fan-out, queues, gatherer, status), target 1,500 records/s
  keyword_batch1  the keyword backend alone, batch size 1
  vector          the pgvector backend alone (hash embedder, 384 dims), default batch size
  vector_batch1   the pgvector backend alone, batch size 1
  both            both backends together, default batch size

and, right after the vector scenario, the raw ceiling of vector ingest: batched inserts (128 rows
from unnest) of the same texts' hash embeddings into a table with the same HNSW index, by one
writer and by as many writers as the vector scenario runs batches at once. The vector backend's
target is 80 % of the one-writer rate, and 50 times fewer embedding calls than records.

Each scenario runs in a fresh database osa_bench_<random>, created on the server of database.url
(its user must be allowed to CREATE DATABASE) and dropped afterwards. Without database.url, ingest
starts the private PostgreSQL of osa dev (dev.data_dir, dev.port, dev.shared_buffers, ...) and
stops it at the end. The scenarios use the built-in configuration, not the config file: only
database.url and dev.* are read from it.

Progress goes to stderr, the Markdown report to stdout; --out PREFIX also writes PREFIX.md and
PREFIX.json. The machine's load average is recorded with every scenario: run it on an idle machine.`,
		Example: `  osa bench ingest
  osa bench ingest --records 20000 --small-records 2000 --out bench/results/ingest
  osa bench ingest --records 20000 --vector-records 5000     # fewer records where HNSW is slow
  OSA_DEV__PORT=0 osa bench ingest                            # private cluster on any free port
  OSA_DATABASE__URL=postgres://postgres@db/postgres osa bench ingest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, logger, err := g.load()
			if err != nil {
				return err
			}
			adminURL, stop, err := benchAdminURL(ctx, cfg)
			if err != nil {
				return err
			}
			defer stop()
			var serverLogger *slog.Logger // nil: the servers' logs are discarded
			if serverLog {
				serverLogger = logger
			}
			rep, err := bench.Ingest(ctx, bench.IngestOpts{
				AdminURL:      adminURL,
				Records:       records,
				SmallRecords:  smallRecords,
				VectorRecords: vectorRecords,
				Publishers:    publishers,
				Command:       commandLine(),
				Logger:        serverLogger,
				Progress:      os.Stderr,
			})
			if err != nil {
				if rep != nil && len(rep.Scenarios) > 0 {
					fmt.Fprint(cmd.OutOrStdout(), rep.Markdown()) // what finished before the error
				}
				return err
			}
			md := rep.Markdown()
			fmt.Fprint(cmd.OutOrStdout(), md)
			if out != "" {
				return writeBenchReport(out, rep, md)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&records, "records", bench.RecordsDefault, "records of the pipeline scenario (and of the vector ones unless --vector-records)")
	cmd.Flags().IntVar(&smallRecords, "small-records", bench.SmallRecordsDefault, "records of the batch-size-1 scenarios")
	cmd.Flags().IntVar(&vectorRecords, "vector-records", 0, "records of the vector scenarios with the default batch and of the raw HNSW ceiling (default --records)")
	cmd.Flags().IntVar(&publishers, "publishers", bench.PublishersDefault, "concurrent publishing clients")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	cmd.Flags().BoolVar(&serverLog, "server-log", false, "show the scenario servers' logs (log.level, log.format) on stderr")
	return cmd
}

// benchAdminURL returns the server benchmarks create their scratch databases on: database.url,
// or else the private cluster of osa dev, started here; stop stops that cluster.
func benchAdminURL(ctx context.Context, cfg *config.Config) (adminURL string, stop func(), err error) {
	if cfg.Database.URL != "" {
		return cfg.Database.URL, func() {}, nil
	}
	cluster, err := startDevCluster(ctx, cfg.Dev.DataDir, cfg.Dev.Port, map[string]string{
		"shared_buffers":       cfg.Dev.SharedBuffers,
		"maintenance_work_mem": cfg.Dev.MaintenanceWorkMem,
		"work_mem":             cfg.Dev.WorkMem,
	})
	if err != nil {
		return "", nil, err
	}
	return cluster.URL("postgres"), func() {
		fmt.Fprintln(os.Stderr, "osa bench: stopping PostgreSQL")
		if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintln(os.Stderr, "osa bench:", err)
		}
	}, nil
}

// writeBenchReport writes prefix.json and prefix.md, creating prefix's folder when missing.
func writeBenchReport(prefix string, rep any, md string) error {
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
	fmt.Fprintf(os.Stderr, "osa bench: wrote %s.md and %s.json\n", prefix, prefix)
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
		args[i] = redactArg(a)
	}
	return strings.Join(append(env, args...), " ")
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
