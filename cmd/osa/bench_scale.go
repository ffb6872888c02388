package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchScaleCmd(g *globalFlags) *cobra.Command {
	var (
		records, queries int
		smoke            bool
		out              string
	)
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Load a million records through the bulk path and measure sizes, recall, latency and memory, vector beside halfvec",
		Long: `scale loads --records generated records (fixed seed, clustered topics; hash embedder, 384 dims) into a
scratch database through the bulk path, the way a rebuild loads, 1,000 at a time so that memory stays
flat: every record published through the record store (its row and its event), each backend's shadow
table written without its search index, then one index build per backend (HNSW, GIN) and a swap. Two
vector backends are built from the same records and the same vectors (embedded once): vector (4-byte
floats) and vector_half (hnsw.type: halfvec, 2-byte floats), beside keyword. It reports:

  the time of each phase: drawing the records, the records, embedding, each shadow table's writes,
    each index build, each swap, and the index_state rows written afterwards
  PostgreSQL's notices during the load: pgvector's "hnsw graph no longer fits into
    maintenance_work_mem" says a build outgrew maintenance_work_mem (the report names the setting,
    and max_parallel_maintenance_workers)
  the size per record of every table and index (pg_table_size, pg_relation_size)
  for each vector backend: recall@10 against full-precision exact search at search.ef_search and
    at 40..1000, vector, hybrid and similar-records p50/p99 at 1 client, table and HNSW index size
  keyword search and the search features (where + facets, highlights, browse pages 1 and 50, the
    web search page) at 1 client
  this process's peak resident memory (VmHWM: the in-process server and the harness)

Targets at 1,000,000 records on 2 cores: recall@10 >= 0.95, vector p99 <= 50 ms, hybrid p99 <= 100 ms
at 1 client, peak RSS <= 1 GB. The whole run takes about 40 minutes at 1,000,000 records on 2 cores: run it on
an idle machine, with maintenance_work_mem large enough for the HNSW graph (OSA_DEV__MAINTENANCE_WORK_MEM
on the private cluster; the report says whether it was). --smoke runs 1,000 records and 10 queries to
check in a few seconds that every part works. Database and output as for osa bench ingest.`,
		Example: `  OSA_DEV__MAINTENANCE_WORK_MEM=4GB osa bench scale --out bench/results/scale
  OSA_DEV__PORT=0 osa bench scale --records 100000
  osa bench scale --smoke`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := bench.ScaleOpts{Records: records, Queries: queries, Progress: cmd.ErrOrStderr()}
			if smoke && !cmd.Flags().Changed("records") {
				opts.Records = bench.ScaleRecordsSmokeDefault
			}
			if smoke && !cmd.Flags().Changed("queries") {
				opts.Queries = bench.ScaleQueriesSmokeDefault
			}
			if err := opts.Check(); err != nil { // before a cluster is started for nothing
				return err
			}
			return onBenchServer(cmd, g, func(adminURL string, _ *slog.Logger) error {
				opts.AdminURL = adminURL
				rep, err := bench.Scale(cmd.Context(), opts)
				if err != nil {
					return err
				}
				rep.Command = commandLine()
				return printBenchReport(cmd, out, rep)
			})
		},
	}
	cmd.Flags().IntVar(&records, "records", bench.ScaleRecordsDefault, fmt.Sprintf("records in the corpus; with --smoke %d", bench.ScaleRecordsSmokeDefault))
	cmd.Flags().IntVar(&queries, "queries", bench.ScaleQueriesDefault, fmt.Sprintf("distinct queries; with --smoke %d", bench.ScaleQueriesSmokeDefault))
	cmd.Flags().BoolVar(&smoke, "smoke", false, "a small run: does every part work?")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}
