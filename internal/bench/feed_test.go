package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/internal/pgtest"
)

// TestFeedSmoke runs the feed benchmark for 2 s: both followers get every event once, in
// order, each with a latency, and the report renders. The latency figures themselves are for
// osa bench feed.
func TestFeedSmoke(t *testing.T) {
	t.Parallel()
	rep, err := Feed(context.Background(), FeedOpts{AdminURL: pgtest.AdminURL(t), Duration: 2 * time.Second, Rate: 50, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Published != 100 || rep.Events != rep.Published {
		t.Fatalf("published %d records, %d events; want 100 of each", rep.Published, rep.Events)
	}
	for name, l := range map[string]FeedLatency{"WatchEvents": rep.Feed, "ceiling": rep.Ceiling} {
		if l.Delivered != rep.Events || l.Missed+l.Doubled+l.OutOfOrder != 0 || l.P50Ms <= 0 || l.MaxMs < l.P95Ms {
			t.Errorf("%s: %+v", name, l)
		}
	}
	if rep.ClockBoundMs <= 0 || rep.Holds.Samples == 0 || rep.PollIntervalMs != 20 {
		t.Errorf("clock bound %.3f ms, %d hold samples, poll interval %.0f ms", rep.ClockBoundMs, rep.Holds.Samples, rep.PollIntervalMs)
	}
	if md := rep.Markdown(); !strings.Contains(md, "| every event delivered once, in cursor order | 100 of 100;") {
		t.Fatalf("markdown:\n%s", md)
	}
}

// TestLatencyOf: an event received twice counts once, as doubled; one never received is
// missed; one received before an earlier place is out of order; the latency is taken from the
// first receipt, corrected by the clock offset.
func TestLatencyOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, c := events.Cursor{XID: 10, ID: 1}, events.Cursor{XID: 10, ID: 2}, events.Cursor{XID: 11, ID: 3}
	commits := map[events.Cursor]time.Time{a: t0, b: t0, c: t0}
	got := []delivery{
		{at: t0.Add(10 * time.Millisecond), cursor: b},
		{at: t0.Add(20 * time.Millisecond), cursor: a},
		{at: t0.Add(30 * time.Millisecond), cursor: b},
	}
	// The database's clock runs 2 ms ahead of ours: a commit at t0 on it was at t0 − 2 ms here.
	l := latencyOf(got, commits, 2*time.Millisecond)
	if l.Delivered != 2 || l.Doubled != 1 || l.Missed != 1 || l.OutOfOrder != 1 || l.P50Ms != 12 || l.MaxMs != 22 {
		t.Fatalf("latencyOf = %+v", l)
	}
}
