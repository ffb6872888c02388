package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchSearchCmd(g *globalFlags) *cobra.Command {
	var (
		records, queries int
		out              string
	)
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Measure search: recall@10, latency and throughput of every mode",
		Long: `search loads a generated corpus (fixed seed, clustered topics; hash embedder, 384 dims) into a
scratch database the way a rebuild does, then measures through the API of an in-process server:

  recall@10 of vector search against an exact scan (enable_indexscan = off), over --queries queries
  p50/p95/p99 latency and queries/s of vector, keyword and hybrid search at 1 and 8 clients
  the same kNN query as raw SQL in the same run, so the API's overhead is a ratio

Targets on 2 cores: recall@10 >= 0.95, vector p99 <= 25 ms, hybrid p99 <= 40 ms, API overhead
<= 1.3x raw SQL. Database and output as for osa bench ingest.`,
		Example: `  osa bench search
  osa bench search --records 100000 --out bench/results/search
  OSA_DEV__PORT=0 osa bench search --records 20000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, _ *slog.Logger) error {
				return runBenchSearch(cmd, bench.SearchOpts{AdminURL: adminURL, Records: records, Queries: queries, Progress: cmd.ErrOrStderr()}, out)
			})
		},
	}
	cmd.Flags().IntVar(&records, "records", bench.SearchRecordsDefault, "records in the corpus")
	cmd.Flags().IntVar(&queries, "queries", bench.SearchQueriesDefault, "distinct queries")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}
