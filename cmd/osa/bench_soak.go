package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
	"github.com/osa-archive/osa/internal/devpg"
)

func newBenchSoakCmd(g *globalFlags) *cobra.Command {
	var (
		opts bench.SoakOpts
		out  string
	)
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Run OSA's processes for a long time under steady load and faults: RSS, goroutines, connections, queue, freshness per minute",
		Long: `soak runs OSA as users run it — an API process and a worker process, each this binary's osa serve
(--role api, --role worker) with the built-in configuration — on a scratch database for --duration,
under a steady load: --rate records/s published (half of them new versions of earlier records, their
title changed), --search-rate searches/s. On the way come three faults:

  at 25 %   a rebuild of the vector backend (what osa reindex vector does)
  at 45 %   SIGKILL of the worker process, restarted at once; its jobs come back through the
            heartbeat rescue (worker.dead_after, default 15 s)
  at 70 %   a restart of PostgreSQL (fast shutdown, start)

Every --sample-every it records each process's RSS (VmRSS), goroutines (go_goroutines of its
/metrics) and database connections (pg_stat_activity), and River's queue depth (available + running
+ retryable jobs); it measures every record version's freshness (commit → indexed in every
backend). The report gives them per minute with the faults marked, and a verdict per target:

  after --warm-up, RSS and goroutines of each process grow less than 10 %
  no request fails except during the database restart (until 5 s after it accepts connections)
  freshness p95 is back under 300 ms within 30 s of the worker kill and of the database restart

The database restart needs a PostgreSQL that soak may stop and start: the private cluster of osa dev
(dev.data_dir, dev.port; OSA_DEV__PORT=0 for any free port), started and stopped here. With
database.url set, or when another osa dev owns that cluster, soak refuses to run.

--smoke runs 50 s with a 10 s warm-up and the faults at the same shares, to check that every part
works. Progress goes to stderr, the Markdown report to stdout; --out PREFIX also writes PREFIX.md,
PREFIX.json and PREFIX.svg (the chart, linked from PREFIX.md).`,
		Example: `  OSA_DEV__PORT=0 osa bench soak --out bench/results/soak
  OSA_DEV__PORT=0 osa bench soak --smoke
  OSA_DEV__PORT=0 OSA_DEV__DATA_DIR=/tmp/soak-pg osa bench soak --duration 1h --rate 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := g.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			// The flags, before a cluster is started for nothing.
			if err := opts.Check(); err != nil {
				return err
			}
			if cfg.Database.URL != "" {
				return errors.New("osa bench soak restarts the database, so it cannot run on database.url: unset database.url " +
					"(and OSA_DATABASE__URL) to let it start the private cluster of osa dev (dev.data_dir, dev.port)")
			}
			if opts.Binary, err = os.Executable(); err != nil {
				return fmt.Errorf("finding the osa binary to run as the processes: %w", err)
			}
			cluster, err := startDevCluster(cmd.Context(), cmd.ErrOrStderr(), cfg.Dev.DataDir, cfg.Dev.Port, map[string]string{
				"shared_buffers":         cfg.Dev.SharedBuffers,
				"maintenance_work_mem":   cfg.Dev.MaintenanceWorkMem,
				"work_mem":               cfg.Dev.WorkMem,
				"track_commit_timestamp": "on",
			})
			if err != nil {
				return err
			}
			if cluster.Found() == devpg.FoundShared {
				return fmt.Errorf("osa bench soak restarts the database, but the cluster in dev.data_dir %s belongs to another running "+
					"osa dev (pid %d): stop it, or set OSA_DEV__DATA_DIR to another folder", cfg.Dev.DataDir, cluster.Owner())
			}
			defer func() {
				fmt.Fprintln(cmd.ErrOrStderr(), "osa bench: stopping PostgreSQL")
				if err := cluster.Stop(context.WithoutCancel(cmd.Context())); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "osa bench:", err)
				}
			}()
			opts.AdminURL = cluster.URL("postgres")
			opts.RestartDatabase = cluster.Restart
			opts.Command = commandLine()
			opts.Progress = cmd.ErrOrStderr()
			return runBenchSoak(cmd, opts, out)
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&opts.Duration, "duration", bench.SoakDurationDefault, fmt.Sprintf("how long the load runs; with --smoke %s", bench.SoakDurationSmokeDefault))
	fs.DurationVar(&opts.WarmUp, "warm-up", bench.SoakWarmUpDefault, fmt.Sprintf("start of the run the growth targets leave out; with --smoke %s", bench.SoakWarmUpSmokeDefault))
	fs.IntVar(&opts.Rate, "rate", bench.SoakRateDefault, "records/s published, half of them new versions of earlier records")
	fs.IntVar(&opts.SearchRate, "search-rate", bench.SoakSearchRateDefault, "searches/s")
	fs.DurationVar(&opts.SampleEvery, "sample-every", bench.SoakSampleEveryDefault, "how often RSS, goroutines, connections and the queue are sampled")
	fs.BoolVar(&opts.Smoke, "smoke", false, fmt.Sprintf("a %s run with the faults at the same shares: does every part work?", bench.SoakDurationSmokeDefault))
	fs.StringVar(&opts.LogDir, "log-dir", "", "keep the processes' config files and logs (api.yaml, api.log, worker.yaml, worker.log) in this folder")
	fs.StringVar(&out, "out", "", "also write the report to PREFIX.md, PREFIX.json and PREFIX.svg")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) {
		// Flags left unset take the defaults of bench.SoakOpts.WithDefaults (the smoke ones with --smoke).
		for name, zero := range map[string]func(){
			"duration": func() { opts.Duration = 0 },
			"warm-up":  func() { opts.WarmUp = 0 },
		} {
			if !cmd.Flags().Changed(name) {
				zero()
			}
		}
	}
	return cmd
}

// runBenchSoak runs the soak, prints its Markdown report and, with out set, writes out.md,
// out.json and out.svg.
func runBenchSoak(cmd *cobra.Command, opts bench.SoakOpts, out string) error {
	start := time.Now()
	rep, err := bench.Soak(cmd.Context(), opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "osa bench: soak took %s\n", time.Since(start).Round(time.Second))
	if out == "" {
		fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
		return nil
	}
	svg := rep.SVG()
	if svg != "" {
		rep.Chart = filepath.Base(out) + ".svg"
	}
	md := rep.Markdown()
	fmt.Fprint(cmd.OutOrStdout(), md)
	if err := writeBenchReport(cmd.ErrOrStderr(), out, rep, md); err != nil {
		return err
	}
	if svg != "" {
		if err := os.WriteFile(out+".svg", []byte(svg), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "osa bench: wrote %s.svg\n", out)
	}
	return nil
}
