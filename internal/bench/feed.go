package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/events"
)

// Defaults and target of the feed benchmark (issue 20's feed latency).
const (
	FeedDurationDefault      = 30 * time.Second
	FeedDurationSmokeDefault = 3 * time.Second
	FeedRateDefault          = 100
	// TargetFeedP95Ms bounds the p95 of commit → delivered to a WatchEvents consumer, in ms,
	// at [FeedRateDefault] records/s.
	TargetFeedP95Ms = 100
	// FeedCeilingPoll is how often the ceiling's follower reads the feed: ten times as often as
	// the feed's default poll interval, so that it adds at most 5 ms.
	FeedCeilingPoll = 5 * time.Millisecond
	// feedDrainTimeout is how long the benchmark waits, after the last publish, for both
	// followers to have every event; what is still missing then counts as missed.
	feedDrainTimeout = 30 * time.Second
	// feedHoldSample is how often the oldest transaction holding an xid is sampled.
	feedHoldSample = 10 * time.Millisecond
	// feedSource is the source of the published records.
	feedSource = "bench_feed"
)

// Methods of [FeedReport.CommitTime]: where an event's commit time comes from.
const (
	// FeedCommitTimestamp is pg_xact_commit_timestamp of the event's transaction (its xid):
	// exact; it needs track_commit_timestamp = on, which osa bench sets on the cluster it starts.
	FeedCommitTimestamp = "commit_timestamp"
	// FeedCommittedAt is the event's committed_at, clock_timestamp() when the event row was
	// written, just before its transaction committed: early by the rest of the transaction (a
	// publish of two records: a few ms), so the latencies read slightly high.
	FeedCommittedAt = "committed_at"
)

// FeedOpts configures [Feed].
type FeedOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; the benchmark runs in a
	// scratch database there, dropped at the end.
	AdminURL string
	// Duration is how long records are published. Defaults to 30s.
	Duration time.Duration
	// Rate is the records/s published. Defaults to 100.
	Rate int
	// PollInterval, when set, is the server's events.poll_interval; 0 keeps its default.
	PollInterval time.Duration
	// Logger gets the server's log; nil discards it.
	Logger *slog.Logger
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// FeedReport is the outcome of [Feed].
type FeedReport struct {
	Command string    `json:"command,omitempty"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// Rate is the records/s asked for, for DurationSeconds; Published the records published
	// and PublishedPerSec the rate reached (first publish to last answer).
	Rate            int     `json:"rate"`
	DurationSeconds float64 `json:"duration_seconds"`
	Published       int     `json:"published"`
	PublishedPerSec float64 `json:"published_per_sec"`
	// PollIntervalMs is the server's events.poll_interval; CeilingPollMs the ceiling's
	// ([FeedCeilingPoll]).
	PollIntervalMs float64 `json:"poll_interval_ms"`
	CeilingPollMs  float64 `json:"ceiling_poll_ms"`
	// CommitTime is [FeedCommitTimestamp] or [FeedCommittedAt].
	CommitTime string `json:"commit_time"`
	// ClockOffsetMs is the database's clock minus this process's, read as clock_timestamp()
	// against the midpoint of the round trip that read it (the fastest of 50), and
	// ClockBoundMs half that round trip: the offset is known to within it. Every latency is
	// corrected by the offset.
	ClockOffsetMs float64 `json:"clock_offset_ms"`
	ClockBoundMs  float64 `json:"clock_bound_ms"`
	// Events is the number of events written (record_events rows), one per record published.
	Events int `json:"events"`
	// Feed is commit → received by a WatchEvents consumer (the Connect client, one stream).
	Feed FeedLatency `json:"feed"`
	// Ceiling is commit → returned by the feed's own read ([events.Feed.List], the statement
	// WatchEvents reads) polled every CeilingPollMs straight on PostgreSQL: the delay of the
	// cursor rule itself, with no poller, no stream and no HTTP.
	Ceiling FeedLatency `json:"ceiling"`
	// Holds is what held the feed back: the oldest transaction holding an xid on the server,
	// quiet ones aside.
	Holds HoldStats `json:"holds"`
}

// FeedLatency is one follower's delivery of the events, latencies in milliseconds.
type FeedLatency struct {
	// Delivered counts the distinct events received; Missed those written but never received
	// (within 30 s of the last publish); Doubled the events received more than once;
	// OutOfOrder the events received with a cursor not after the one before.
	Delivered  int     `json:"delivered"`
	Missed     int     `json:"missed"`
	Doubled    int     `json:"doubled"`
	OutOfOrder int     `json:"out_of_order"`
	MeanMs     float64 `json:"mean_ms"`
	P50Ms      float64 `json:"p50_ms"`
	P95Ms      float64 `json:"p95_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

// HoldStats samples, every 10 ms during the publishing, the oldest transaction holding an xid
// on the whole server that is not quiet ([events.QuietTx]): while it runs, the feed exposes no
// event of a later transaction.
type HoldStats struct {
	Samples int `json:"samples"`
	// P50Ms ... MaxMs are that transaction's age (now − xact_start), 0 when none held an xid.
	P50Ms float64 `json:"p50_ms"`
	P95Ms float64 `json:"p95_ms"`
	MaxMs float64 `json:"max_ms"`
	// Top are the statements most often seen as that transaction's current (or last) one in
	// the samples where it was at least 10 ms old, most frequent first.
	Top []Holder `json:"top"`
}

// Holder is one statement seen holding the feed back.
type Holder struct {
	// Query is the statement's first 70 characters, spaces folded.
	Query   string  `json:"query"`
	Samples int     `json:"samples"`
	MaxMs   float64 `json:"max_ms"`
}

// delivery is one event as a follower received it.
type delivery struct {
	at     time.Time
	cursor events.Cursor
}

// follower collects what one follower received.
type follower struct {
	mu  sync.Mutex
	got []delivery
}

func (f *follower) add(at time.Time, c events.Cursor) {
	f.mu.Lock()
	f.got = append(f.got, delivery{at: at, cursor: c})
	f.mu.Unlock()
}

// distinct returns the number of distinct events received.
func (f *follower) distinct() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := make(map[events.Cursor]bool, len(f.got))
	for _, d := range f.got {
		seen[events.Cursor{XID: d.cursor.XID, ID: d.cursor.ID}] = true
	}
	return len(seen)
}

// Feed measures the changefeed's latency: records published at opts.Rate through the API of a
// server with both default backends (which index them meanwhile), each event's time from its
// transaction's commit until a WatchEvents consumer received it, beside the ceiling in the same
// run: the same events read by the feed's own statement polled every [FeedCeilingPoll]
// straight on PostgreSQL. It checks that both got every event once, in cursor order.
func Feed(ctx context.Context, opts FeedOpts) (*FeedReport, error) {
	if opts.Duration == 0 {
		opts.Duration = FeedDurationDefault
	}
	if opts.Rate == 0 {
		opts.Rate = FeedRateDefault
	}
	if opts.Duration < 0 || opts.Rate < 0 || opts.PollInterval < 0 {
		return nil, fmt.Errorf("feed benchmark: duration %s, rate %d and poll interval %s must not be negative",
			opts.Duration, opts.Rate, opts.PollInterval)
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	rep := &FeedReport{Date: time.Now().UTC(), Rate: opts.Rate, DurationSeconds: opts.Duration.Seconds(),
		CeilingPollMs: durationMillis(FeedCeilingPoll)}
	var (
		cpu *cpuMeter
		err error
	)
	if rep.Machine, cpu, err = machineBefore(ctx, opts.AdminURL); err != nil {
		return nil, err
	}
	rep.CommitTime = FeedCommittedAt
	if rep.Machine.Postgres.TrackCommitTimestamp == "on" {
		rep.CommitTime = FeedCommitTimestamp
	}

	db, err := createScratchDB(ctx, opts.AdminURL)
	if err != nil {
		return nil, err
	}
	defer db.drop(ctx)
	cfg := config.Default()
	cfg.Database.URL = db.url
	if opts.PollInterval > 0 {
		cfg.Events.PollInterval = opts.PollInterval
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("feed benchmark: %w", err)
	}
	rep.PollIntervalMs = durationMillis(cfg.Events.PollInterval)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base, _, stop, err := startServer(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := waitReady(ctx, http.DefaultClient, base); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, db.url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if rep.ClockOffsetMs, rep.ClockBoundMs, err = clockOffset(ctx, pool); err != nil {
		return nil, err
	}
	progress("feed: database clock − Go clock %+.3f ms (± %.3f ms); commit times from %s", rep.ClockOffsetMs, rep.ClockBoundMs, rep.CommitTime)

	corpus := Corpus(min(opts.Rate*int(opts.Duration/time.Second)+opts.Rate, 20000))
	reqs := make([]*osav1.PublishRecordRequest, int(float64(opts.Rate)*opts.Duration.Seconds()))
	for i := range reqs {
		st, err := structpb.NewStruct(corpus[i%len(corpus)])
		if err != nil {
			return nil, err
		}
		reqs[i] = &osav1.PublishRecordRequest{Metadata: st, Source: feedSource, SourceId: strconv.Itoa(i)}
	}

	fctx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	var (
		watched, raw follower
		wg           sync.WaitGroup
		errs         = make(chan error, 3)
		open         = make(chan struct{})
	)
	wg.Go(func() {
		errs <- watchFeed(fctx, osav1connect.NewEventServiceClient(http.DefaultClient, base), &watched, open)
	})
	wg.Go(func() { errs <- pollFeed(fctx, events.New(pool, events.Config{}), &raw) })
	var holds holdSampler
	wg.Go(func() { errs <- holds.run(fctx, pool) })
	defer func() { stopFollowing(); wg.Wait() }()
	select {
	case <-open:
	case err := <-errs:
		return nil, fmt.Errorf("feed benchmark: %w", err)
	case <-time.After(readyTimeout):
		return nil, errors.New("feed benchmark: WatchEvents sent nothing")
	}

	progress("feed: publishing %d records/s for %s (events.poll_interval %s)", opts.Rate, opts.Duration, cfg.Events.PollInterval)
	t0 := time.Now()
	if err := publishPaced(ctx, osav1connect.NewRecordServiceClient(http.DefaultClient, base), reqs, float64(opts.Rate), 100); err != nil {
		return nil, err
	}
	took := time.Since(t0)
	holds.stop()
	rep.Published, rep.PublishedPerSec = len(reqs), float64(len(reqs))/took.Seconds()
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM record_events`).Scan(&rep.Events); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, feedDrainTimeout, func() bool {
		return watched.distinct() >= rep.Events && raw.distinct() >= rep.Events
	}); err != nil && ctx.Err() != nil {
		return nil, err
	}
	stopFollowing()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("feed benchmark: %w", err)
		}
	}

	commits, err := commitTimes(ctx, pool, rep.CommitTime)
	if err != nil {
		return nil, err
	}
	offset := time.Duration(rep.ClockOffsetMs * float64(time.Millisecond))
	rep.Feed = latencyOf(watched.got, commits, offset)
	rep.Ceiling = latencyOf(raw.got, commits, offset)
	rep.Holds = holds.stats()
	progress("feed: %d events; WatchEvents p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (missed %d, doubled %d); "+
		"ceiling p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (missed %d, doubled %d)", rep.Events,
		rep.Feed.P50Ms, rep.Feed.P95Ms, rep.Feed.P99Ms, rep.Feed.MaxMs, rep.Feed.Missed, rep.Feed.Doubled,
		rep.Ceiling.P50Ms, rep.Ceiling.P95Ms, rep.Ceiling.P99Ms, rep.Ceiling.MaxMs, rep.Ceiling.Missed, rep.Ceiling.Doubled)
	rep.Machine.CPUAfter = cpu.sample(ctx, time.Second)
	return rep, nil
}

// watchFeed follows the feed from its start with one WatchEvents stream, recording when each
// event arrived; open is closed at the first message (a keep-alive: the stream is open).
func watchFeed(ctx context.Context, client osav1connect.EventServiceClient, f *follower, open chan<- struct{}) error {
	stream, err := client.WatchEvents(ctx, connect.NewRequest(&osav1.WatchEventsRequest{}))
	if err != nil {
		return err
	}
	defer stream.Close()
	first := true
	for stream.Receive() {
		at := time.Now()
		if first {
			close(open)
			first = false
		}
		for _, e := range stream.Msg().Events {
			c, err := events.ParseCursor("cursor", e.Cursor)
			if err != nil {
				return err
			}
			f.add(at, c)
		}
	}
	return stream.Err()
}

// pollFeed is the ceiling's follower: the feed's own read, straight on PostgreSQL, every
// [FeedCeilingPoll] (at once after a full page).
func pollFeed(ctx context.Context, feed *events.Feed, f *follower) error {
	var after events.Cursor
	for {
		page, err := feed.List(ctx, events.ListParams{After: after, Limit: events.PageLimitMaxDefault})
		if err != nil {
			return err
		}
		at := time.Now()
		for _, e := range page.Events {
			f.add(at, e.Cursor)
		}
		after = page.Next
		if len(page.Events) == events.PageLimitMaxDefault {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(FeedCeilingPoll):
		}
	}
}

// clockOffset returns the database's clock minus this process's, in ms, and its bound: half
// the round trip of the fastest of 50 reads of clock_timestamp(). Both clocks are this
// machine's realtime clock when the database runs here, so the offset is expected within the
// bound.
func clockOffset(ctx context.Context, pool *pgxpool.Pool) (offsetMs, boundMs float64, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	best := time.Duration(-1)
	for range 50 {
		var db time.Time
		t0 := time.Now()
		if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
			return 0, 0, fmt.Errorf("error reading the database's clock: %w", err)
		}
		rtt := time.Since(t0)
		if best < 0 || rtt < best {
			best = rtt
			mid := t0.Add(rtt / 2)
			offsetMs = durationMillis(db.Sub(mid))
		}
	}
	return offsetMs, durationMillis(best / 2), nil
}

// commitTimesSQL reads every event's place and its commit time; %s is the method's expression.
const commitTimesSQL = `SELECT xid::text, id, %s FROM record_events`

// commitTimes returns the commit time of every event written, by place, by method.
func commitTimes(ctx context.Context, pool *pgxpool.Pool, method string) (map[events.Cursor]time.Time, error) {
	expr := "committed_at"
	if method == FeedCommitTimestamp {
		// coalesce: a commit time is missing only for transactions older than the tracking
		expr = "coalesce(pg_xact_commit_timestamp(xid::xid), committed_at)"
	}
	rows, err := pool.Query(ctx, fmt.Sprintf(commitTimesSQL, expr))
	if err != nil {
		return nil, fmt.Errorf("error reading the events' commit times: %w", err)
	}
	out := map[events.Cursor]time.Time{}
	var (
		xid string
		id  int64
		at  time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&xid, &id, &at}, func() error {
		x, err := strconv.ParseUint(xid, 10, 64)
		if err != nil {
			return err
		}
		out[events.Cursor{XID: x, ID: id}] = at
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error reading the events' commit times: %w", err)
	}
	return out, nil
}

// latencyOf checks got against the events written (commits, by place) and computes each
// event's commit → received, its first receipt, less offset (the database's clock minus ours).
func latencyOf(got []delivery, commits map[events.Cursor]time.Time, offset time.Duration) FeedLatency {
	var (
		l    FeedLatency
		ms   []float64
		seen = make(map[events.Cursor]bool, len(got))
		last events.Cursor
	)
	for _, d := range got {
		c := events.Cursor{XID: d.cursor.XID, ID: d.cursor.ID}
		if seen[c] {
			l.Doubled++
			continue
		}
		seen[c] = true
		if c.Compare(last) <= 0 {
			l.OutOfOrder++
		}
		last = c
		at, ok := commits[c]
		if !ok {
			continue // not an event written: cannot be
		}
		ms = append(ms, durationMillis(d.at.Sub(at.Add(-offset))))
	}
	l.Delivered = len(ms)
	for c := range commits {
		if !seen[c] {
			l.Missed++
		}
	}
	slices.Sort(ms)
	l.P50Ms, l.P95Ms, l.P99Ms = percentile(ms, 0.50), percentile(ms, 0.95), percentile(ms, 0.99)
	if n := len(ms); n > 0 {
		l.MaxMs = ms[n-1]
		sum := 0.0
		for _, v := range ms {
			sum += v
		}
		l.MeanMs = sum / float64(n)
	}
	return l
}

// holdSQL reads the oldest transaction holding the feed back: the one with the oldest xid on
// the server that is not quiet (events.QuietTx), its age and its statement.
var holdSQL = fmt.Sprintf(`
SELECT extract(epoch FROM clock_timestamp() - xact_start) * 1000,
       left(btrim(regexp_replace(query, '\s+', ' ', 'g')), 70)
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL AND pid NOT IN (SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND classid = %d AND objid = %d AND objsubid = 2 AND granted)
ORDER BY age(backend_xid) DESC LIMIT 1`, events.QuietLockClass, events.QuietLockObject)

// holdSampler samples holdSQL every [feedHoldSample] until stopped.
type holdSampler struct {
	mu      sync.Mutex
	stopped bool
	ages    []float64
	top     map[string]*Holder
}

// run samples until ctx ends or stop is called.
func (h *holdSampler) run(ctx context.Context, pool *pgxpool.Pool) error {
	t := time.NewTicker(feedHoldSample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var (
			age   float64
			query string
		)
		err := pool.QueryRow(ctx, holdSQL).Scan(&age, &query)
		if errors.Is(err, pgx.ErrNoRows) {
			age, err = 0, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("error sampling pg_stat_activity: %w", err)
		}
		h.mu.Lock()
		if h.stopped {
			h.mu.Unlock()
			return nil
		}
		h.ages = append(h.ages, age)
		if age >= 10 {
			if h.top == nil {
				h.top = map[string]*Holder{}
			}
			s := h.top[query]
			if s == nil {
				s = &Holder{Query: query}
				h.top[query] = s
			}
			s.Samples++
			s.MaxMs = max(s.MaxMs, age)
		}
		h.mu.Unlock()
	}
}

// stop ends the sampling: later samples are dropped.
func (h *holdSampler) stop() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
}

// stats summarises the samples: the ages and the five most frequent holders.
func (h *holdSampler) stats() HoldStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	ages := slices.Clone(h.ages)
	slices.Sort(ages)
	st := HoldStats{Samples: len(ages), P50Ms: percentile(ages, 0.50), P95Ms: percentile(ages, 0.95)}
	if n := len(ages); n > 0 {
		st.MaxMs = ages[n-1]
	}
	for _, s := range h.top {
		st.Top = append(st.Top, *s)
	}
	slices.SortFunc(st.Top, func(a, b Holder) int {
		return cmp.Or(cmp.Compare(b.Samples, a.Samples), cmp.Compare(b.MaxMs, a.MaxMs), cmp.Compare(a.Query, b.Query))
	})
	st.Top = st.Top[:min(len(st.Top), 5)]
	return st
}
