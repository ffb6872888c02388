package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchExportCmd(g *globalFlags) *cobra.Command {
	var (
		records int
		smoke   bool
		out     string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Measure an export beside COPY of the same rows, and its memory",
		Long: `export writes --records generated records into a scratch database (one INSERT; 1 % of them at
version 2), runs a server (all roles) in this process, and measures:

  the ceiling: COPY (the export's own SELECT) TO STDOUT, read to the end
  osa export (this binary, as a child process) writing the JSONL file: records/s beside the
    ceiling, and its peak resident memory (getrusage)
  the server's process resident memory before and at its peak during that export
  GET /export/records.jsonl read to the end

Targets: at least 50 % of the ceiling; less than 200 MiB of resident memory in the server and in
the CLI for 1,000,000 records (run --records 1000000 for the figure itself; a smaller run shows
whether memory grows with the size). --smoke runs it on 2,000 records to check that it works.
Database and output as for osa bench ingest.`,
		Example: `  osa bench export --out bench/results/export
  OSA_DEV__PORT=0 osa bench export --records 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, _ *slog.Logger) error {
				opts := bench.ExportOpts{AdminURL: adminURL, Records: records, Progress: cmd.ErrOrStderr()}
				if smoke && !cmd.Flags().Changed("records") {
					opts.Records = bench.ExportRecordsSmokeDefault
				}
				return runBenchExport(cmd, opts, out)
			})
		},
	}
	cmd.Flags().IntVar(&records, "records", bench.ExportRecordsDefault,
		fmt.Sprintf("records exported; with --smoke %d", bench.ExportRecordsSmokeDefault))
	cmd.Flags().BoolVar(&smoke, "smoke", false, "a small run: does every part work?")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}

// runBenchExport runs the export benchmark with this binary as the CLI and prints its Markdown
// report; with out set, it also writes out.md and out.json.
func runBenchExport(cmd *cobra.Command, opts bench.ExportOpts, out string) error {
	var err error
	if opts.Binary, err = os.Executable(); err != nil {
		return err
	}
	rep, err := bench.Export(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rep.Command = commandLine()
	return printBenchReport(cmd, out, rep)
}
