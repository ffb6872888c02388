package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/domainerr"
)

// Defaults and bounds of a [Feed].
const (
	PageLimitDefault         = 100
	PageLimitMaxDefault      = 1000
	PollIntervalDefault      = 20 * time.Millisecond
	KeepAliveIntervalDefault = 15 * time.Second
	RetentionDefault         = 30 * 24 * time.Hour
)

// Config configures a [Feed].
type Config struct {
	// PageLimitMax is the most events one page may hold (events.page_limit_max); a larger limit
	// is refused. Defaults to 1000.
	PageLimitMax int
	// PollInterval is how often the feed's poller reads the head for its watches
	// (events.poll_interval). Defaults to 20ms.
	PollInterval time.Duration
	// KeepAliveInterval is how long [Feed.Watch] stays silent before it sends a page with no
	// events (events.keep_alive_interval). Defaults to 15s.
	KeepAliveInterval time.Duration
	// Retention is how long events are kept (events.retention); only the messages of refused
	// cursors name it here, the prune job applies it. Defaults to 720h (30 days).
	Retention time.Duration
	// ReadPool, when set, returns the pool a [Feed.List] runs on, from its context: the replica
	// the server pinned to the request (package replicas, whose doc says why the cursor holds
	// on a standby), or the primary. [Feed.Watch] always reads the feed's pool. Nil: the feed's
	// pool.
	ReadPool func(context.Context) *pgxpool.Pool
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c Config) WithDefaults() Config {
	if c.PageLimitMax == 0 {
		c.PageLimitMax = PageLimitMaxDefault
	}
	if c.PollInterval == 0 {
		c.PollInterval = PollIntervalDefault
	}
	if c.KeepAliveInterval == 0 {
		c.KeepAliveInterval = KeepAliveIntervalDefault
	}
	if c.Retention == 0 {
		c.Retention = RetentionDefault
	}
	return c
}

// Feed reads the changefeed. It holds no connection between reads (every read is one
// statement), so it works behind a transaction pooler. It is safe for concurrent use.
type Feed struct {
	cfg  Config
	pool *pgxpool.Pool
	// naive reads by id alone and exposes every committed event: the unsound cursor that the
	// tests show to lose events. Only tests set it.
	naive bool
	// head is the place of the last exposed event, polled for every Watch at once.
	head head
	// lists counts the page reads, for tests.
	lists atomic.Int64
}

// New returns a feed of the events in pool's database; cfg gets its defaults.
func New(pool *pgxpool.Pool, cfg Config) *Feed {
	return &Feed{cfg: cfg.WithDefaults(), pool: pool}
}

// Config returns the feed's configuration, with its defaults.
func (f *Feed) Config() Config { return f.cfg }

// ListParams selects the events of [Feed.List] and [Feed.Watch].
type ListParams struct {
	// After is the place to read after; the zero Cursor starts at the oldest event kept.
	After Cursor
	// Types keeps only the events of these types; empty keeps every type.
	Types []Type
	// Limit is the most events of a page, 1..Config.PageLimitMax; 0 means 100.
	Limit int
}

// Page is one read of the feed.
type Page struct {
	// Events are in cursor order, all after the cursor read after.
	Events []Event
	// Next is where the next read starts: the cursor of the last event when the page is full,
	// else the feed's head as the read saw it, beyond which no event is final yet (skipping the
	// events the types filtered out). It is never before the cursor read after.
	Next Cursor
}

// ErrCursorExpired is the kind of the error of a cursor older than the events kept: the events
// after it may have been pruned. errors.Is(err, domainerr.ErrFailedPrecondition) holds too.
var ErrCursorExpired = errors.New("cursor expired")

// expiredError is the error of a cursor below the horizon.
type expiredError struct{ msg string }

func (e *expiredError) Error() string { return e.msg }

func (e *expiredError) Is(target error) bool {
	return target == ErrCursorExpired || target == domainerr.ErrFailedPrecondition
}

// listSQL reads a page. In one statement, so in one snapshot: the feed's horizon in the
// snapshot ([horizonSQL]: every transaction with a smaller xid has ended or writes no events,
// and no new one can get such an xid), the horizon of pruned events, and the events after the
// cursor whose xid is below the feed's horizon. See doc.go for why no event can later appear
// before an event this returns.
var listSQL = `
SELECT s.xmin::text, s.hxid::text, s.hid,
       e.xid::text, e.id, e.type, e.record_id, e.version, COALESCE(e.source, ''), COALESCE(e.source_id, ''), e.committed_at
FROM (
    SELECT ` + horizonSQL + ` AS xmin, h.xid AS hxid, h.id AS hid,
           -- the read starts after the cursor, or after the horizon when that is later
           CASE WHEN ($1::text::xid8, $2::bigint) > (h.xid, h.id) THEN $1::text::xid8 ELSE h.xid END AS bxid,
           CASE WHEN ($1::text::xid8, $2::bigint) > (h.xid, h.id) THEN $2::bigint ELSE h.id END AS bid
    -- one row; LIMIT 1 tells the planner so (without it, it guesses 1,810 rows of a table never
    -- analysed, and the cost it then sees for the whole statement turns JIT compilation on:
    -- about 30 ms a poll instead of 0.1)
    FROM record_events_horizon h LIMIT 1
) s
LEFT JOIN LATERAL (
    SELECT * FROM record_events e
    WHERE (e.xid, e.id) > (s.bxid, s.bid)
      AND e.xid < s.xmin
      AND (cardinality($3::text[]) = 0 OR e.type = ANY($3::text[]))
      -- an export's cursor: skip the events of transactions its snapshot shows
      AND ($5::text IS NULL OR NOT pg_visible_in_snapshot(e.xid, $5::text::pg_snapshot))
    ORDER BY e.xid, e.id
    LIMIT $4
) e ON true`

// naiveListSQL is the unsound read the tests compare against: events after an id taken from a
// sequence, every committed one exposed. A transaction that took a smaller id and commits
// after a reader passed a larger one is never read.
const naiveListSQL = `
SELECT '0', '0', 0::bigint,
       CASE WHEN e.id IS NOT NULL THEN '0' END, e.id, e.type, e.record_id, e.version, COALESCE(e.source, ''), COALESCE(e.source_id, ''), e.committed_at
FROM (SELECT 1) s
LEFT JOIN LATERAL (
    SELECT * FROM record_events e
    WHERE e.id > $2 AND $1::text IS NOT NULL AND ($5::text IS NULL OR true) -- $5, a snapshot, is not read
      AND (cardinality($3::text[]) = 0 OR e.type = ANY($3::text[]))
    ORDER BY e.id
    LIMIT $4
) e ON true`

// List returns the page of events after p.After. A cursor older than the events kept is
// [ErrCursorExpired] (a FailedPrecondition); a bad limit or type is a
// [*domainerr.ValidationError] naming "limit" or "types[i]".
func (f *Feed) List(ctx context.Context, p ListParams) (Page, error) {
	limit, types, err := f.check(p)
	if err != nil {
		return Page{}, err
	}
	pool := f.pool
	if f.cfg.ReadPool != nil {
		pool = f.cfg.ReadPool(ctx)
	}
	return f.list(ctx, pool, p.After, types, limit)
}

// check validates p and returns its limit and types as the statement takes them.
func (f *Feed) check(p ListParams) (int, []string, error) {
	limit := p.Limit
	switch {
	case limit < 0 || limit > f.cfg.PageLimitMax:
		return 0, nil, domainerr.Invalid("limit", "must be between 0 and %d (events.page_limit_max), got %d; 0 means %d",
			f.cfg.PageLimitMax, limit, PageLimitDefault)
	case limit == 0:
		limit = min(PageLimitDefault, f.cfg.PageLimitMax)
	}
	types := make([]string, 0, len(p.Types))
	for i, t := range p.Types {
		if !t.valid() {
			return 0, nil, domainerr.Invalid(fmt.Sprintf("types[%d]", i), "%q is not an event type: send %s, %s or %s",
				t, TypePublished, TypeDeleted, TypeRestored)
		}
		types = append(types, string(t))
	}
	return limit, types, nil
}

// list reads the page after the cursor after on pool.
func (f *Feed) list(ctx context.Context, pool *pgxpool.Pool, after Cursor, types []string, limit int) (Page, error) {
	f.lists.Add(1)
	q := listSQL
	if f.naive {
		q = naiveListSQL
	}
	rows, err := pool.Query(ctx, q, strconv.FormatUint(after.XID, 10), after.ID, types, limit, after.snapshotText())
	if err != nil {
		return Page{}, fmt.Errorf("error reading events: %w", err)
	}
	defer rows.Close()
	var (
		page         = Page{Events: []Event{}}
		xmin, hxid   string
		hid          int64
		exid         *string
		eid, version *int64
		typ          *string
		recordID     *uuid.UUID
		src, srcID   *string
		committedAt  *time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&xmin, &hxid, &hid, &exid, &eid, &typ, &recordID, &version, &src, &srcID, &committedAt); err != nil {
			return Page{}, fmt.Errorf("error reading events: %w", err)
		}
		if exid == nil {
			continue // the LEFT JOIN's row of an empty page
		}
		x, err := strconv.ParseUint(*exid, 10, 64)
		if err != nil {
			return Page{}, fmt.Errorf("error reading events: xid %q: %w", *exid, err)
		}
		page.Events = append(page.Events, Event{
			Cursor: after.at(Cursor{XID: x, ID: *eid}), Type: Type(*typ), RecordID: *recordID, Version: int(*version),
			Source: *src, SourceID: *srcID, CommittedAt: *committedAt,
		})
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("error reading events: %w", err)
	}
	horizon, err := parseCursor(hxid, hid)
	if err != nil {
		return Page{}, err
	}
	if !after.IsZero() && after.Compare(horizon) < 0 {
		return Page{}, &expiredError{msg: fmt.Sprintf("after: the cursor is older than the events kept (events.retention, %s), "+
			"so events after it may have been pruned; re-sync: read the records again (an export, or ListRecords), then "+
			"follow from a cursor taken before that read", shortDuration(f.cfg.Retention))}
	}
	page.Next = max2(after, horizon)
	if n := len(page.Events); n > 0 {
		page.Next = page.Events[n-1].Cursor
	}
	if len(page.Events) < limit && !f.naive {
		// Every place below (xmin, 0) is final: the next read may start there.
		head, err := parseCursor(xmin, 0)
		if err != nil {
			return Page{}, err
		}
		page.Next = max2(page.Next, head)
	}
	page.Next = after.at(page.Next)
	return page, nil
}

// shortDuration formats d as the config writes it: 720h, not 720h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseCursor builds a cursor from an xid8 as text and an id.
func parseCursor(xid string, id int64) (Cursor, error) {
	x, err := strconv.ParseUint(xid, 10, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("error reading events: xid %q: %w", xid, err)
	}
	return Cursor{XID: x, ID: id}, nil
}

// max2 returns the later of a and b.
func max2(a, b Cursor) Cursor {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

// snapshotSQL reads the current snapshot: its xmin, xmax and running xids.
const snapshotSQL = `
SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text,
       ARRAY(SELECT x::text FROM pg_snapshot_xip(s) x ORDER BY x)
FROM pg_current_snapshot() s`

// SnapshotCursor returns the cursor of the snapshot of q's current statement; run it in a
// REPEATABLE READ transaction to get the cursor of that transaction's snapshot, the one every
// statement of the transaction reads. A reader that holds what the snapshot shows and then
// follows the feed after this cursor gets every change the snapshot does not show, once, and
// none that it does: the cursor is the snapshot's xmin and carries the rest of the snapshot
// (its xmax and running xids), so reads after it skip the events of the transactions the
// snapshot shows (see the package doc).
func SnapshotCursor(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (Cursor, error) {
	var (
		xmin, xmax string
		xip        []string
	)
	if err := q.QueryRow(ctx, snapshotSQL).Scan(&xmin, &xmax, &xip); err != nil {
		return Cursor{}, fmt.Errorf("error reading the snapshot's cursor: %w", err)
	}
	c, err := parseCursor(xmin, 0)
	if err != nil {
		return Cursor{}, err
	}
	snap := &Snapshot{}
	if snap.Xmax, err = strconv.ParseUint(xmax, 10, 64); err != nil {
		return Cursor{}, fmt.Errorf("error reading the snapshot's cursor: xmax %q: %w", xmax, err)
	}
	for _, s := range xip {
		x, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Cursor{}, fmt.Errorf("error reading the snapshot's cursor: xip %q: %w", s, err)
		}
		snap.Xip = append(snap.Xip, x)
	}
	c.Snapshot = snap
	return c.at(c), nil
}
