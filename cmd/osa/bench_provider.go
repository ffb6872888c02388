package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

func newBenchProviderCmd(g *globalFlags) *cobra.Command {
	var (
		smoke bool
		out   string
	)
	cmd := &cobra.Command{
		Use:   "provider",
		Short: "Measure vector ingest against embedding providers shaped like hosted APIs",
		Long: `provider runs vector ingest against fake embedding providers that behave like hosted APIs: a
latency per call plus a cost per input, at most C calls at once (beyond them a 429 with
Retry-After), a token limit per call (a 400 beyond it) and 1 % of calls answered 500. Two shapes,
each run for about 100 calls or more:
C 4 with 40 ms + 0.3 ms per input, and C 1 with 500 ms + 5 ms per input. For each it reports the
records/s from the first publish to the last record indexed beside the provider's physical limit
(C × inputs per call ÷ call time), the calls answered 429, the concurrency the process learned and
the records that ended failed.

Targets: at least 90 % of the limit, at most 2 % of calls answered 429, no record failed. --smoke
runs 3 % of the records. Database and output as for osa bench ingest.`,
		Example: `  osa bench provider --out bench/results/provider
  OSA_DEV__PORT=0 osa bench provider --smoke`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, _ *slog.Logger) error {
				return runBenchProvider(cmd, bench.ProviderOpts{AdminURL: adminURL, Shapes: bench.ProviderShapes(smoke), Progress: cmd.ErrOrStderr()}, out)
			})
		},
	}
	cmd.Flags().BoolVar(&smoke, "smoke", false, "a small run: does every part work?")
	cmd.Flags().StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}

// runBenchProvider runs the provider benchmark and prints (and with out, writes) its report.
func runBenchProvider(cmd *cobra.Command, opts bench.ProviderOpts, out string) error {
	rep, err := bench.Provider(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rep.Command = commandLine()
	return printBenchReport(cmd, out, rep)
}
