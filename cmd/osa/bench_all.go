package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchAllCmd(g *globalFlags) *cobra.Command {
	var (
		flags                                                                      ingestFlags
		searchRecords, searchQueries, rebuildRecords, exportRecords, importRecords int
		feed                                                                       feedFlags
		out                                                                        string
	)
	cmd := &cobra.Command{
		Use:   "all",
		Short: "Run the ingest, provider, search, rebuild, export, import and feed benchmarks, on one PostgreSQL",
		Long: `all runs osa bench ingest (every scenario with its raw River, HNSW and COPY ceilings, and the
freshness scenario), then osa bench provider (vector ingest against embedding providers shaped
like hosted APIs), then osa bench search (recall, latency and throughput of every mode beside
the raw kNN query), then osa bench rebuild (a new generation of the vector backend beside the
bulk path), then osa bench export (an export beside COPY of the same rows, and its memory), then
osa bench import (an import until indexed, beside the bulk path), then osa bench feed (the
changefeed's latency beside its cursor rule's own), on one PostgreSQL: database.url, or else the
private cluster of osa dev, started once for all. See the --help of each for what it measures and
its targets. The ingest flags are those of osa bench ingest; --search-records and --search-queries
are the --records and --queries of osa bench search, --rebuild-records the --records of osa bench
rebuild, --export-records and --import-records those of osa bench export and import,
--feed-duration, --feed-rate and --feed-poll-interval the --duration, --rate and --poll-interval
of osa bench feed.

The Markdown reports go to stdout, progress to stderr. --out PREFIX writes

  PREFIX-ingest.md, PREFIX-ingest.json, PREFIX-ingest.svg   the ingest report and its chart
  PREFIX-provider.md, PREFIX-provider.json                  the provider report
  PREFIX-search.md, PREFIX-search.json                      the search report
  PREFIX-rebuild.md, PREFIX-rebuild.json                    the rebuild report
  PREFIX-export.md, PREFIX-export.json                      the export report
  PREFIX-import.md, PREFIX-import.json                      the import report
  PREFIX-feed.md, PREFIX-feed.json                          the feed report

each as soon as its benchmark is done.

--smoke shrinks them (ingest as with osa bench ingest --smoke; provider as with osa bench provider --smoke; search on 2,000 records and 20
queries; rebuild and export on 2,000 records, import on 1,000, feed for 3 s) so that the whole run takes about 1½ minutes on 2 cores: it checks
only that every part works. Any error exits non-zero; the targets are never enforced, in either mode. make bench-smoke
runs it on a throw-away cluster, and make test runs make bench-smoke.`,
		Example: `  osa bench all --out bench/results/all      # make bench
  osa bench all --smoke                       # make bench-smoke, on the private cluster
  OSA_DEV__PORT=0 osa bench all --smoke --out /tmp/bench/all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, logger *slog.Logger) error {
				return runBenchAll(cmd, &flags, adminURL, logger, searchRecords, searchQueries, rebuildRecords, exportRecords, importRecords, &feed, out)
			})
		},
	}
	flags.register(cmd)
	cmd.Flags().IntVar(&searchRecords, "search-records", bench.SearchRecordsDefault,
		fmt.Sprintf("records in the search corpus; with --smoke %d", bench.SearchRecordsSmokeDefault))
	cmd.Flags().IntVar(&searchQueries, "search-queries", bench.SearchQueriesDefault,
		fmt.Sprintf("distinct search queries; with --smoke %d", bench.SearchQueriesSmokeDefault))
	cmd.Flags().IntVar(&rebuildRecords, "rebuild-records", bench.RebuildRecordsDefault,
		fmt.Sprintf("records of the rebuild benchmark; with --smoke %d", bench.RebuildRecordsSmokeDefault))
	cmd.Flags().IntVar(&exportRecords, "export-records", bench.ExportRecordsDefault,
		fmt.Sprintf("records of the export benchmark; with --smoke %d", bench.ExportRecordsSmokeDefault))
	cmd.Flags().IntVar(&importRecords, "import-records", bench.ImportRecordsDefault,
		fmt.Sprintf("records of the import benchmark; with --smoke %d", bench.ImportRecordsSmokeDefault))
	cmd.Flags().DurationVar(&feed.duration, "feed-duration", bench.FeedDurationDefault,
		fmt.Sprintf("how long the feed benchmark publishes; with --smoke %s", bench.FeedDurationSmokeDefault))
	cmd.Flags().IntVar(&feed.rate, "feed-rate", bench.FeedRateDefault, "records/s of the feed benchmark")
	cmd.Flags().DurationVar(&feed.pollInterval, "feed-poll-interval", 0, "events.poll_interval of the feed benchmark's server (0: its default)")
	cmd.Flags().StringVar(&out, "out", "", "also write PREFIX-ingest.{md,json,svg}, PREFIX-provider.{md,json}, PREFIX-search.{md,json}, PREFIX-rebuild.{md,json}, "+
		"PREFIX-export.{md,json}, PREFIX-import.{md,json} and PREFIX-feed.{md,json}")
	return cmd
}

// runBenchAll runs the ingest, provider, search, rebuild, export, import and feed benchmarks, in that
// order, on the server of adminURL.
func runBenchAll(cmd *cobra.Command, flags *ingestFlags, adminURL string, logger *slog.Logger, searchRecords, searchQueries, rebuildRecords,
	exportRecords, importRecords int, feed *feedFlags, out string) error {
	ingestOut := ""
	if out != "" {
		ingestOut = out + "-ingest"
	}
	if _, err := runBenchIngest(cmd, flags.opts(cmd, adminURL, logger), ingestOut); err != nil {
		return fmt.Errorf("ingest benchmark: %w", err)
	}

	providerOut := ""
	if out != "" {
		providerOut = out + "-provider"
	}
	fmt.Fprintln(cmd.OutOrStdout())
	popts := bench.ProviderOpts{AdminURL: adminURL, Shapes: bench.ProviderShapes(flags.smoke), Progress: cmd.ErrOrStderr()}
	if err := runBenchProvider(cmd, popts, providerOut); err != nil {
		return fmt.Errorf("provider benchmark: %w", err)
	}

	sopts := bench.SearchOpts{AdminURL: adminURL, Records: searchRecords, Queries: searchQueries, Progress: cmd.ErrOrStderr()}
	if flags.smoke {
		if !cmd.Flags().Changed("search-records") {
			sopts.Records = bench.SearchRecordsSmokeDefault
		}
		if !cmd.Flags().Changed("search-queries") {
			sopts.Queries = bench.SearchQueriesSmokeDefault
		}
	}
	searchOut := ""
	if out != "" {
		searchOut = out + "-search"
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if err := runBenchSearch(cmd, sopts, searchOut); err != nil {
		return fmt.Errorf("search benchmark: %w", err)
	}

	ropts := bench.RebuildOpts{AdminURL: adminURL, Records: rebuildRecords, Progress: cmd.ErrOrStderr()}
	if flags.smoke && !cmd.Flags().Changed("rebuild-records") {
		ropts.Records = bench.RebuildRecordsSmokeDefault
	}
	rebuildOut := ""
	if out != "" {
		rebuildOut = out + "-rebuild"
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if err := runBenchRebuild(cmd, ropts, rebuildOut); err != nil {
		return fmt.Errorf("rebuild benchmark: %w", err)
	}

	eopts := bench.ExportOpts{AdminURL: adminURL, Records: exportRecords, Progress: cmd.ErrOrStderr()}
	if flags.smoke && !cmd.Flags().Changed("export-records") {
		eopts.Records = bench.ExportRecordsSmokeDefault
	}
	exportOut := ""
	if out != "" {
		exportOut = out + "-export"
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if err := runBenchExport(cmd, eopts, exportOut); err != nil {
		return fmt.Errorf("export benchmark: %w", err)
	}

	iopts := bench.ImportOpts{AdminURL: adminURL, Records: importRecords, Progress: cmd.ErrOrStderr()}
	if flags.smoke && !cmd.Flags().Changed("import-records") {
		iopts.Records = bench.ImportRecordsSmokeDefault
	}
	importOut := ""
	if out != "" {
		importOut = out + "-import"
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if err := runBenchImport(cmd, iopts, importOut); err != nil {
		return fmt.Errorf("import benchmark: %w", err)
	}

	fopts := feed.opts(cmd, adminURL, flags.smoke, "feed-duration")
	feedOut := ""
	if out != "" {
		feedOut = out + "-feed"
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if err := runBenchFeed(cmd, fopts, feedOut); err != nil {
		return fmt.Errorf("feed benchmark: %w", err)
	}
	return nil
}
