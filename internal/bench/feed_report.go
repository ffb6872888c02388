package bench

import (
	"fmt"
	"strings"
)

// Markdown renders the report with its target.
func (r *FeedReport) Markdown() string {
	var b strings.Builder
	r.Machine.writeHeader(&b, "Feed benchmark", r.Command, r.Date, "track_commit_timestamp "+orDash(r.Machine.Postgres.TrackCommitTimestamp))
	fmt.Fprintf(&b, "A server with the default configuration (the `vector` backend with the `hash` embedder, and `keyword`, both indexing "+
		"what is published) in the benchmark's process; %d records published through the API at %d records/s for %.0f s "+
		"(one PublishRecords call every %.0f ms; %.1f records/s reached), one event each. One `WatchEvents` stream (the Connect client, "+
		"from the feed's start) receives them; events.poll_interval is %.0f ms.\n\n",
		r.Published, r.Rate, r.DurationSeconds, durationMillis(FreshnessTick), r.PublishedPerSec, r.PollIntervalMs)
	fmt.Fprintf(&b, "Latency is commit → received, per event. The commit is %s. Received is this process's clock when the message "+
		"(or the page) arrived; both clocks are this machine's: the database's read %+.3f ms from this process's (± %.3f ms, half the "+
		"fastest of 50 round trips of `SELECT clock_timestamp()`), and every figure is corrected by it.\n\n",
		commitTimeMethod(r.CommitTime), r.ClockOffsetMs, r.ClockBoundMs)

	b.WriteString("## Target\n\n| target | measured | goal | met |\n|---|---:|---:|:-:|\n")
	fmt.Fprintf(&b, "| feed latency, commit → delivered to a `WatchEvents` consumer, p95 at %d records/s | %.1f ms | ≤ %d ms | %s |\n",
		r.Rate, r.Feed.P95Ms, TargetFeedP95Ms, yesNo(r.Feed.P95Ms <= TargetFeedP95Ms && r.Feed.Missed == 0 && r.Feed.Doubled == 0))
	fmt.Fprintf(&b, "| every event delivered once, in cursor order | %d of %d; %d missed, %d twice, %d out of order | all, once | %s |\n",
		r.Feed.Delivered, r.Events, r.Feed.Missed, r.Feed.Doubled, r.Feed.OutOfOrder,
		yesNo(r.Feed.Delivered == r.Events && r.Feed.Missed == 0 && r.Feed.Doubled == 0 && r.Feed.OutOfOrder == 0))

	b.WriteString("\n## Figures\n\n| commit → received, ms | events | missed | twice | mean | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		l    FeedLatency
	}{
		{"`WatchEvents` (Connect client, one stream)", r.Feed},
		{fmt.Sprintf("ceiling: the feed's read (`events.Feed.List`) every %.0f ms, straight on PostgreSQL", r.CeilingPollMs), r.Ceiling},
	} {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", row.name, row.l.Delivered, row.l.Missed, row.l.Doubled,
			row.l.MeanMs, row.l.P50Ms, row.l.P95Ms, row.l.P99Ms, row.l.MaxMs)
	}
	fmt.Fprintf(&b, "\nThe ceiling is the feed's own statement, with its cursor rule (an event is exposed once every transaction with a smaller "+
		"xid has ended or is quiet), polled %.0f times as often as the feed polls, with no poller, stream or HTTP between: what the rule itself costs on "+
		"this machine under this load, plus at most %.0f ms. The feed adds its poll (a read of the head every events.poll_interval, "+
		"%.0f ms: %.0f ms on average), a read of the page and the stream's hop.\n",
		r.PollIntervalMs/r.CeilingPollMs, r.CeilingPollMs, r.PollIntervalMs, r.PollIntervalMs/2)

	h := r.Holds
	fmt.Fprintf(&b, "\n## What held the feed back\n\nThe oldest transaction holding an xid on the server, quiet ones aside (index batches and rebuild "+
		"chunks, which write no events and say so: `events.QuietTx`), sampled every %.0f ms while publishing "+
		"(%d samples): while it runs, no event of a later transaction is exposed. Its age (now − xact_start): p50 %.1f ms, p95 %.1f ms, max %.1f ms.\n",
		durationMillis(feedHoldSample), h.Samples, h.P50Ms, h.P95Ms, h.MaxMs)
	if len(h.Top) > 0 {
		b.WriteString("\nIts statement (current or last), in the samples where it was at least 10 ms old:\n\n| statement | samples | max age, ms |\n|---|---:|---:|\n")
		for _, t := range h.Top {
			fmt.Fprintf(&b, "| `%s` | %d | %.1f |\n", strings.ReplaceAll(t.Query, "|", `\|`), t.Samples, t.MaxMs)
		}
	}
	fmt.Fprintf(&b, "\nAfter the run: %s.\n", r.Machine.CPUAfter)
	return b.String()
}

// commitTimeMethod says where the commit times came from.
func commitTimeMethod(method string) string {
	if method == FeedCommitTimestamp {
		return "the commit timestamp of the event's transaction (`pg_xact_commit_timestamp` of its xid; track_commit_timestamp = on), exact"
	}
	return "the event's `committed_at` (`clock_timestamp()` as the row was written, a few ms before the commit: track_commit_timestamp is " +
		"off on this server), so the figures read slightly high; start the server with track_commit_timestamp = on for exact ones " +
		"(osa bench does on the cluster it starts)"
}
