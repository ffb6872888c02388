package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/bench"
)

// feedFlags are the flags of bench feed, shared with bench all (as --feed-*).
type feedFlags struct {
	duration, pollInterval time.Duration
	rate                   int
}

func newBenchFeedCmd(g *globalFlags) *cobra.Command {
	var (
		flags     feedFlags
		smoke     bool
		serverLog bool
		out       string
	)
	cmd := &cobra.Command{
		Use:   "feed",
		Short: "Measure the changefeed's latency: commit → delivered to a WatchEvents consumer, beside the cursor rule's own",
		Long: `feed publishes generated records through the API of a server with the default configuration (both
backends, indexing them meanwhile) at a steady --rate records/s for --duration (one PublishRecords
call every 20 ms), one event each, and follows the changefeed from its start with one WatchEvents
stream (the Connect client). For every event it takes the time from its transaction's commit
(pg_xact_commit_timestamp of the event's xid, with track_commit_timestamp = on, which bench sets on
the cluster it starts; otherwise the event's committed_at) until the stream delivered it, on this
machine's clock, corrected by the offset of the database's clock read in the same run. It checks
that every event arrived once, in cursor order.

The ceiling, in the same run on the same events: the feed's own read (events.Feed.List, the
statement WatchEvents runs, with its cursor rule) polled every 5 ms straight on PostgreSQL, with
no poller, stream or HTTP: the delay of the cursor rule itself. It also samples the oldest
transaction holding an xid every 10 ms (what holds the feed back) and names its statements.

Target: p95 at most 100 ms at 100 records/s. --poll-interval sets the server's
events.poll_interval (default 20ms). --smoke publishes for 3 s to check that it works. Database
and output as for osa bench ingest.`,
		Example: `  osa bench feed --out bench/results/feed
  osa bench feed --poll-interval 20ms
  OSA_DEV__PORT=0 osa bench feed --smoke`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBenchServer(cmd, g, func(adminURL string, logger *slog.Logger) error {
				opts := flags.opts(cmd, adminURL, smoke, "duration")
				if serverLog {
					opts.Logger = logger
				}
				return runBenchFeed(cmd, opts, out)
			})
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&flags.duration, "duration", bench.FeedDurationDefault, fmt.Sprintf("how long records are published; with --smoke %s", bench.FeedDurationSmokeDefault))
	fs.IntVar(&flags.rate, "rate", bench.FeedRateDefault, "records published a second")
	fs.DurationVar(&flags.pollInterval, "poll-interval", 0, "the server's events.poll_interval (0: its default, 20ms)")
	fs.BoolVar(&smoke, "smoke", false, "a short run: does every part work?")
	fs.BoolVar(&serverLog, "server-log", false, "show the server's log (log.level, log.format) on stderr")
	fs.StringVar(&out, "out", "", "also write the report to PREFIX.md and PREFIX.json")
	return cmd
}

// opts returns the options of [bench.Feed] from the flags; durationFlag names the flag of the
// duration, which --smoke shortens unless it was given.
func (f *feedFlags) opts(cmd *cobra.Command, adminURL string, smoke bool, durationFlag string) bench.FeedOpts {
	o := bench.FeedOpts{AdminURL: adminURL, Duration: f.duration, Rate: f.rate, PollInterval: f.pollInterval, Progress: cmd.ErrOrStderr()}
	if smoke && !cmd.Flags().Changed(durationFlag) {
		o.Duration = bench.FeedDurationSmokeDefault
	}
	return o
}

// runBenchFeed runs the feed benchmark and prints its Markdown report; with out set, it also
// writes out.md and out.json.
func runBenchFeed(cmd *cobra.Command, opts bench.FeedOpts, out string) error {
	rep, err := bench.Feed(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rep.Command = commandLine()
	return printBenchReport(cmd, out, rep)
}
