package events

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/internal/pgtest"
)

type testBundle struct {
	feed    *Feed
	pool    *pgxpool.Pool
	lastXID string // of the last write
}

func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	pool := pgtest.New(t)
	return &testBundle{feed: New(pool, cfg), pool: pool, lastXID: "0"}
}

// write commits changes in one transaction and returns their record ids; settle waits until the
// feed exposes them.
func (b *testBundle) write(t *testing.T, types ...Type) []uuid.UUID {
	t.Helper()
	changes := make([]Change, len(types))
	ids := make([]uuid.UUID, len(types))
	for i, typ := range types {
		ids[i] = uuid.New()
		changes[i] = Change{Type: typ, RecordID: ids[i], Version: 1, Source: "lab", SourceID: ids[i].String()}
	}
	err := pgx.BeginFunc(context.Background(), b.pool, func(tx pgx.Tx) error {
		if err := InsertTx(context.Background(), tx, changes); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), `SELECT pg_current_xact_id()::text`).Scan(&b.lastXID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// settle waits until the feed exposes every event written so far: until no transaction that
// began before the last write is still running. The xmin is the cluster's, so transactions of
// the other tests, in other databases, hold it back too (which is why the tests wait instead
// of reading at once).
func (b *testBundle) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var done bool
		if err := b.pool.QueryRow(context.Background(), `SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8`,
			b.lastXID).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a transaction begun before %s is still running after 30s", b.lastXID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCursorText(t *testing.T) {
	t.Parallel()
	for _, c := range []Cursor{{}, {XID: 1, ID: 0}, {XID: 1 << 40, ID: 7}, {XID: ^uint64(0), ID: 1 << 62},
		{XID: 5, Snapshot: &Snapshot{Xmax: 9}}, {XID: 5, ID: 2, Snapshot: &Snapshot{Xmax: 9, Xip: []uint64{5, 7}}}} {
		got, err := ParseCursor("after", c.String())
		if err != nil || !got.Equal(c) {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{"x", b64([]byte("e2:1:1")), b64([]byte("e1:x:1")), b64([]byte("e1:1:-1")), "e1:1:1",
		b64([]byte("e1:5:0:5:")), b64([]byte("e1:5:0:9:7,6")), b64([]byte("e1:5:0:9:4")), b64([]byte("e1:5:0:9:9")), b64([]byte("e1:5:0:9")),
		Cursor{XID: 1, ID: 1}.String() + "A"} {
		var ve *domainerr.ValidationError
		if _, err := ParseCursor("after", s); !errors.As(err, &ve) || ve.Field != "after" {
			t.Errorf("ParseCursor(%q) = %v, want a ValidationError on after", s, err)
		}
	}
}

func TestList(t *testing.T) {
	t.Parallel()

	t.Run("BadParams", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PageLimitMax: 10})
		for _, tc := range []struct {
			p     ListParams
			field string
		}{
			{ListParams{Limit: 11}, "limit"},
			{ListParams{Limit: -1}, "limit"},
			{ListParams{Types: []Type{TypeDeleted, "record.updated"}}, "types[1]"},
		} {
			var ve *domainerr.ValidationError
			if _, err := b.feed.List(context.Background(), tc.p); !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("List(%+v) = %v, want a ValidationError on %s", tc.p, err, tc.field)
			}
		}
	})

	t.Run("PagesAndTypes", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := setup(t, Config{})
		ids := b.write(t, TypePublished, TypeDeleted, TypePublished)
		ids = append(ids, b.write(t, TypeRestored)...)
		b.settle(t)

		var got []uuid.UUID
		var after Cursor
		for {
			page, err := b.feed.List(ctx, ListParams{After: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Events {
				got = append(got, e.RecordID)
			}
			if len(page.Events) == 0 {
				break
			}
			after = page.Next
		}
		if len(got) != 4 || got[0] != ids[0] || got[1] != ids[1] || got[2] != ids[2] || got[3] != ids[3] {
			t.Fatalf("pages = %v, want %v", got, ids)
		}

		page, err := b.feed.List(ctx, ListParams{Types: []Type{TypeDeleted}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 1 || page.Events[0].RecordID != ids[1] || page.Events[0].Type != TypeDeleted ||
			page.Events[0].Source != "lab" || page.Events[0].SourceID != ids[1].String() {
			t.Fatalf("deleted events = %+v", page.Events)
		}
		// The filtered page's Next is past the events it left out: nothing of any type follows.
		page, err = b.feed.List(ctx, ListParams{After: page.Next})
		if err != nil || len(page.Events) != 0 {
			t.Fatalf("after the filtered page: %+v, %v; want nothing", page.Events, err)
		}
	})

	// An open transaction's events are not exposed, nor any event after them, until it ends;
	// a rolled-back one's never are.
	t.Run("OpenTransactionHoldsTheFeed", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := setup(t, Config{})
		tx, err := b.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		open := uuid.New()
		if err := InsertTx(ctx, tx, []Change{{Type: TypePublished, RecordID: open, Version: 1}}); err != nil {
			t.Fatal(err)
		}
		later := b.write(t, TypePublished)[0]
		page, err := b.feed.List(ctx, ListParams{})
		if err != nil || len(page.Events) != 0 {
			t.Fatalf("with a transaction open before it, the later event was exposed: %+v, %v", page.Events, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		b.settle(t)
		page, err = b.feed.List(ctx, ListParams{})
		if err != nil || len(page.Events) != 2 || page.Events[0].RecordID != open || page.Events[1].RecordID != later {
			t.Fatalf("after the commit: %+v, %v; want the open transaction's event, then the later one", page.Events, err)
		}
	})
}

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Config{Retention: 24 * time.Hour})
	for range 5 {
		b.write(t, TypePublished)
	}
	b.settle(t)
	all, err := b.feed.List(ctx, ListParams{})
	if err != nil || len(all.Events) != 5 {
		t.Fatalf("List = %+v, %v", all, err)
	}
	// The first three are two days old.
	if _, err := b.pool.Exec(ctx, `UPDATE record_events SET committed_at = now() - interval '2 days' WHERE id <= $1`,
		all.Events[2].Cursor.ID); err != nil {
		t.Fatal(err)
	}
	n, err := Prune(ctx, b.pool, time.Now().Add(-24*time.Hour), 2)
	if err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3 deleted in batches of 2", n, err)
	}
	for i, c := range []Cursor{all.Events[0].Cursor, all.Events[1].Cursor} {
		_, err := b.feed.List(ctx, ListParams{After: c})
		if !errors.Is(err, ErrCursorExpired) || !errors.Is(err, domainerr.ErrFailedPrecondition) {
			t.Errorf("List after pruned event %d = %v, want ErrCursorExpired", i, err)
		}
	}
	for _, c := range []Cursor{{}, all.Events[2].Cursor} {
		page, err := b.feed.List(ctx, ListParams{After: c})
		if err != nil || len(page.Events) != 2 || page.Events[0].Cursor != all.Events[3].Cursor {
			t.Errorf("List after %+v = %+v, %v; want the two events kept", c, page.Events, err)
		}
	}
	if n, err := Prune(ctx, b.pool, time.Now().Add(-24*time.Hour), 2); err != nil || n != 0 {
		t.Fatalf("second Prune = %d, %v; want nothing left to delete", n, err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()

	t.Run("KeepAlives", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{KeepAliveInterval: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ids := b.write(t, TypePublished)
		b.settle(t)
		var pages []Page
		err := b.feed.Watch(ctx, ListParams{}, func(p Page) error {
			pages = append(pages, p)
			if len(pages) == 4 {
				return errStop
			}
			return nil
		})
		if err != errStop {
			t.Fatal(err)
		}
		// The replay, then keep-alives with the same head.
		if len(pages[0].Events) != 1 || pages[0].Events[0].RecordID != ids[0] {
			t.Fatalf("first page = %+v, want the event written before", pages[0])
		}
		for _, p := range pages[1:] {
			if len(p.Events) != 0 || p.Next.Compare(pages[0].Next) < 0 {
				t.Fatalf("keep-alive = %+v after %+v", p, pages[0].Next)
			}
		}
	})

	// Idle watches do not each poll the database: one poller follows the head for all of them,
	// and each reads only when an event passed its cursor.
	t.Run("SharedPoll", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PollInterval: 10 * time.Millisecond, KeepAliveInterval: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const watchers = 20
		got := make(chan uuid.UUID, watchers)
		var wg sync.WaitGroup
		for range watchers {
			wg.Go(func() {
				_ = b.feed.Watch(ctx, ListParams{}, func(p Page) error {
					if len(p.Events) > 0 {
						got <- p.Events[0].RecordID
						return errStop
					}
					return nil
				})
			})
		}
		time.Sleep(time.Second) // 100 poll intervals
		idle := b.feed.lists.Load()
		id := b.write(t, TypePublished)[0]
		for range watchers {
			select {
			case g := <-got:
				if g != id {
					t.Errorf("a watch delivered %s, want %s", g, id)
				}
			case <-ctx.Done():
				t.Fatal("not every watch delivered the event")
			}
		}
		wg.Wait()
		// Each watch's first read, perhaps a few more: not one per watch and poll interval (2,000).
		if idle > 3*watchers {
			t.Fatalf("%d watches idle for 100 poll intervals made %d reads", watchers, idle)
		}
		t.Logf("%d watches idle for 100 poll intervals made %d page reads", watchers, idle)
	})

	// TestLongTransaction measures what a transaction holding an xid does to the feed: events
	// written after it began wait for its end, then arrive in order; nothing is lost.
	t.Run("LongTransactionDelays", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PollInterval: 10 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		long, err := b.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := long.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // takes an xid, as any write does
			_ = long.Rollback(ctx)
			t.Fatal(err)
		}
		written := time.Now()
		id := b.write(t, TypePublished)[0]
		const hold = 500 * time.Millisecond
		ended := make(chan struct{})
		t.Cleanup(func() { <-ended })
		go func() {
			defer close(ended)
			time.Sleep(hold)
			_ = long.Rollback(ctx)
		}()
		var delivered time.Time
		err = b.feed.Watch(ctx, ListParams{}, func(p Page) error {
			if len(p.Events) > 0 {
				if p.Events[0].RecordID != id {
					t.Errorf("delivered %+v, want %s", p.Events, id)
				}
				delivered = time.Now()
				return errStop
			}
			return nil
		})
		if err != errStop {
			t.Fatal(err)
		}
		if d := delivered.Sub(written); d < hold {
			t.Fatalf("the event was delivered %v after it was written, while a transaction begun before it held an xid for %v", d, hold)
		} else {
			t.Logf("an event written while a transaction held an xid for %v was delivered %v after it was written", hold, d)
		}
	})
}

// TestQuietTransaction: a transaction marked quiet ([QuietTx]) holds an xid without holding
// the feed back, whether it was marked before or after it took its xid; the events written
// after it began are delivered while it still runs.
func TestQuietTransaction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		markedFirst bool
	}{{"MarkedBeforeItsXID", true}, {"MarkedAfterItsXID", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{PollInterval: 10 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			quiet, err := b.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer quiet.Rollback(context.WithoutCancel(ctx))           //nolint:errcheck // rolled back below
			steps := []string{quietSQL, `SELECT pg_current_xact_id()`} // the second takes an xid, as any write does
			if !tc.markedFirst {
				steps[0], steps[1] = steps[1], steps[0]
			}
			for _, q := range steps {
				if _, err := quiet.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			id := b.write(t, TypePublished)[0]

			// Other tests' transactions on the same cluster may hold the feed for a while, never
			// for long: the event must come while the quiet transaction still runs.
			err = b.feed.Watch(ctx, ListParams{}, func(p Page) error {
				if len(p.Events) > 0 {
					if p.Events[0].RecordID != id {
						t.Errorf("delivered %+v, want %s", p.Events, id)
					}
					return errStop
				}
				return nil
			})
			if err != errStop {
				t.Fatalf("Watch while a quiet transaction holds an xid: %v", err)
			}
			var running bool
			if err := quiet.QueryRow(ctx, `SELECT pg_current_xact_id_if_assigned() IS NOT NULL`).Scan(&running); err != nil || !running {
				t.Fatalf("the quiet transaction no longer holds its xid (%v): the test shows nothing", err)
			}

			// A transaction that is not quiet holds the feed: the event of a later one waits.
			plain, err := b.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // never committed
			if _, err := plain.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
				t.Fatal(err)
			}
			b.write(t, TypePublished)
			page, err := b.feed.List(ctx, ListParams{})
			if err != nil || len(page.Events) != 1 || page.Events[0].RecordID != id {
				t.Fatalf("List while a plain transaction holds an xid = %+v, %v; want only the first event", page, err)
			}
		})
	}
}

func TestSnapshotCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Config{})
	before := b.write(t, TypePublished)[0]
	b.settle(t)

	// A takes an xid and keeps running; B, younger, commits before the snapshot. The snapshot's
	// xmin is at most A's xid, so B's event lies after the cursor's place although the
	// snapshot shows B: the cursor must skip it.
	txA, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx) //nolint:errcheck // committed below
	early := uuid.New()
	if err := InsertTx(ctx, txA, []Change{{Type: TypePublished, RecordID: early, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	shown := b.write(t, TypePublished)[0]

	var c Cursor
	err = pgx.BeginTxFunc(ctx, b.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		c, err = SnapshotCursor(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Snapshot == nil || len(c.Snapshot.Xip) == 0 {
		t.Fatalf("the cursor of a snapshot taken while A runs carries no running xid: %+v", c)
	}
	if got, err := ParseCursor("after", c.String()); err != nil || !got.Equal(c) {
		t.Fatalf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	later := b.write(t, TypeDeleted)[0]
	b.settle(t)

	page, err := b.feed.List(ctx, ListParams{After: c})
	if err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	for _, e := range page.Events {
		got = append(got, e.RecordID)
	}
	// A's event and the later one, in xid order; not B's (shown), not the one before.
	if len(got) != 2 || got[0] != early || got[1] != later {
		t.Fatalf("after the snapshot's cursor: %v, want A's event %v then the later %v (not %v, which the snapshot shows, nor %v)",
			got, early, later, shown, before)
	}
	// Resuming after A's event, as a client that handled it does, still skips B.
	rest, err := b.feed.List(ctx, ListParams{After: page.Events[0].Cursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Events) != 1 || rest.Events[0].RecordID != later {
		t.Fatalf("after A's event: %+v, want only the later event", rest.Events)
	}
	// A cursor past the snapshot's xmax carries nothing more.
	if last := rest.Events[0].Cursor; last.Snapshot != nil {
		t.Errorf("the cursor of an event after the snapshot's xmax still carries it: %+v", last.Snapshot)
	}
}
