package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchRebuildCmd(g *globalFlags) *cobra.Command {
	var (
		records int
		smoke   bool
		out     string
	)
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Measure a backend change that needs a new generation, beside the bulk path",
		Long: `rebuild loads a generated corpus into a scratch database (as osa bench search does), then applies,
with ApplyBackends to a running in-process server, a change of the vector backend that needs a new
generation (hnsw.ef_construction), while a vector search runs every 50 ms and 1 % of the records
have their text changed through the API. It reports:

  the rebuild's records/s (apply to swap) beside the bulk path's ceiling in the same run: one COPY
    of the live table's rows into a table of the same shape, then one HNSW build with the new settings
  the new generation's embedding inputs (osa_embed_inputs_total, less the live generation's share,
    measured first with as many changes and no rebuild) beside the records whose text changed
  the search p99 during the rebuild beside its idle p99, and any failed or empty search

Targets: at least 70 % of the ceiling; no more embedding inputs than changed records; search p99
at most 2x idle. --smoke runs it on 2,000 records to check that it works. Database and output as
for osa bench ingest.`,
		Example: `  osa bench rebuild --out bench/results/rebuild
  OSA_DEV__PORT=0 osa bench rebuild --records 20000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, _ *slog.Logger) error {
				opts := bench.RebuildOpts{AdminURL: adminURL, Records: records, Progress: cmd.ErrOrStderr()}
				if smoke && !cmd.Flags().Changed("records") {
					opts.Records = bench.RebuildRecordsSmokeDefault
				}
				return runBenchRebuild(cmd, opts, out)
			})
		},
	}
	cmd.Flags().IntVar(&records, "records", bench.RebuildRecordsDefault,
		fmt.Sprintf("records in the corpus; with --smoke %d", bench.RebuildRecordsSmokeDefault))
	cmd.Flags().BoolVar(&smoke, "smoke", false, "a small run: does every part work?")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}

// runBenchRebuild runs the rebuild benchmark and prints its Markdown report; with out set, it
// also writes out.md and out.json.
func runBenchRebuild(cmd *cobra.Command, opts bench.RebuildOpts, out string) error {
	rep, err := bench.Rebuild(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rep.Command = commandLine()
	return printBenchReport(cmd, out, rep)
}
