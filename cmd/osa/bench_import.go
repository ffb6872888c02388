package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchImportCmd(g *globalFlags) *cobra.Command {
	var (
		records int
		smoke   bool
		out     string
	)
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Measure an import until every backend indexed it, beside the bulk path",
		Long: `import exports --records generated records (1 % of them with an earlier version) from one scratch
database, imports the file with the SDK (ImportRecords) into an empty archive served in this
process, and measures the time from its first byte until the rebuild of every backend that the
import starts has swapped in, beside the bulk path's ceiling in the same run: COPY (binary, from
memory) of the imported rows of records, record_versions and each backend's table into tables of
the same shape, and one build of each backend's index (GIN, HNSW). It checks that exporting the
imported archive gives the file's bytes.

Target: at least 50 % of the ceiling. --smoke runs it on 1,000 records to check that it works.
Database and output as for osa bench ingest.`,
		Example: `  osa bench import --out bench/results/import
  OSA_DEV__PORT=0 osa bench import --records 100000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, _ *slog.Logger) error {
				opts := bench.ImportOpts{AdminURL: adminURL, Records: records, Progress: cmd.ErrOrStderr()}
				if smoke && !cmd.Flags().Changed("records") {
					opts.Records = bench.ImportRecordsSmokeDefault
				}
				return runBenchImport(cmd, opts, out)
			})
		},
	}
	cmd.Flags().IntVar(&records, "records", bench.ImportRecordsDefault,
		fmt.Sprintf("records imported; with --smoke %d", bench.ImportRecordsSmokeDefault))
	cmd.Flags().BoolVar(&smoke, "smoke", false, "a small run: does every part work?")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}

// runBenchImport runs the import benchmark and prints its Markdown report; with out set, it
// also writes out.md and out.json.
func runBenchImport(cmd *cobra.Command, opts bench.ImportOpts, out string) error {
	rep, err := bench.Import(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rep.Command = commandLine()
	return printBenchReport(cmd, out, rep)
}
