package events

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestNoGaps is issue 20's test of the cursor: 16 concurrent publishers, half of them holding
// their transaction open for a random 0–200 ms after writing (and one in ten rolling back),
// and 4 writers of quiet transactions ([QuietTx]) holding theirs for as long, while one
// consumer follows Watch and another pages List. With the feed's cursor both see
// every committed event exactly once, in cursor order, and no rolled-back one. The same load
// and the same consumers on a naive sequence cursor lose events: a straggler transaction
// takes an id, then commits only after both consumers have read past it, so the naive
// readers miss it every time (and, usually, others of the random load too).
func TestNoGaps(t *testing.T) {
	t.Parallel()

	t.Run("Cursor", func(t *testing.T) {
		t.Parallel()
		checkNoGaps(t, runNoGapsLoad(t, loadCursor))
	})

	// The List consumer reads the primary and a streaming standby of it in turn (Config.ReadPool),
	// as a reader whose reads are routed to replicas may: the standby's snapshots expose the same
	// final events below their xmin (doc.go, "On a standby").
	t.Run("Standby", func(t *testing.T) {
		t.Parallel()
		res := runNoGapsLoad(t, loadStandby)
		checkNoGaps(t, res)
		t.Logf("List delivered %d of %d events from pages read on the standby", res.fromStandby, res.committed)
		if res.fromStandby == 0 {
			t.Error("List delivered no event from a page read on the standby: the test does not read it")
		}
	})

	t.Run("Naive", func(t *testing.T) {
		t.Parallel()
		res := runNoGapsLoad(t, loadNaive)
		for _, c := range res.consumers {
			t.Logf("naive %s: %d of %d committed events missing", c.name, len(c.missing), res.committed)
			if !c.missing[res.straggler] {
				t.Errorf("naive %s did not miss the straggler: the test no longer shows the naive cursor's gap", c.name)
			}
			if c.duplicates > 0 || c.unexpected > 0 {
				t.Errorf("naive %s: %d duplicates, %d not committed", c.name, c.duplicates, c.unexpected)
			}
		}
	})
}

// checkNoGaps fails t unless every consumer of res delivered every committed event once, in
// cursor order, and nothing else.
func checkNoGaps(t *testing.T, res noGapsResult) {
	t.Helper()
	for _, c := range res.consumers {
		if len(c.missing) > 0 || c.duplicates > 0 || c.unordered > 0 || c.unexpected > 0 {
			t.Errorf("%s: %d of %d committed events missing (e.g. %v), %d duplicates, %d out of cursor order, %d not committed",
				c.name, len(c.missing), res.committed, first(c.missing), c.duplicates, c.unordered, c.unexpected)
		}
	}
}

// How runNoGapsLoad's feed reads: its cursor, its cursor with List on the primary and a standby
// in turn, or the naive sequence cursor.
const (
	loadCursor = iota
	loadStandby
	loadNaive
)

// noGapsResult is what each consumer of a load saw.
type noGapsResult struct {
	committed int
	straggler uuid.UUID
	consumers []*consumer
	// fromStandby counts the events List delivered from pages read on the standby.
	fromStandby int
}

// consumer collects the events one reader delivered.
type consumer struct {
	name string
	mu   sync.Mutex
	got  []Event
	// done is closed when the consumer has delivered the sentinel.
	done chan struct{}

	missing                           map[uuid.UUID]bool
	duplicates, unordered, unexpected int
}

func newConsumer(name string) *consumer { return &consumer{name: name, done: make(chan struct{})} }

// add records delivered events and reports whether the sentinel was among them.
func (c *consumer) add(evs []Event, sentinel uuid.UUID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, evs...)
	for _, e := range evs {
		if e.RecordID == sentinel {
			return true
		}
	}
	return false
}

// lastID returns the id of the last event delivered, 0 before any.
func (c *consumer) lastID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		return 0
	}
	return c.got[len(c.got)-1].Cursor.ID
}

// check compares what c delivered with the committed events.
func (c *consumer) check(committed map[uuid.UUID]bool) {
	c.missing = map[uuid.UUID]bool{}
	seen := map[uuid.UUID]bool{}
	for i, e := range c.got {
		if seen[e.RecordID] {
			c.duplicates++
		}
		seen[e.RecordID] = true
		if !committed[e.RecordID] {
			c.unexpected++
		}
		if i > 0 && c.got[i-1].Cursor.Compare(e.Cursor) >= 0 {
			c.unordered++
		}
	}
	for id := range committed {
		if !seen[id] {
			c.missing[id] = true
		}
	}
}

// runNoGapsLoad runs the publishers and both consumers on a fresh database, reading as load
// says, and checks what each consumer delivered.
func runNoGapsLoad(t *testing.T, load int) noGapsResult {
	naive := load == loadNaive
	cfg := Config{PollInterval: 10 * time.Millisecond, KeepAliveInterval: time.Second}
	var (
		pool *pgxpool.Pool
		// onStandby is set when the List consumer's last page was read on the standby (only its
		// goroutine calls ReadPool).
		onStandby   bool
		fromStandby int
	)
	if load == loadStandby {
		pg := pgtest.NewReplicated(t)
		pool = newTestPool(t, pg.URL)
		standby := newTestPool(t, pg.StandbyURL)
		cfg.ReadPool = func(context.Context) *pgxpool.Pool {
			if onStandby = !onStandby; onStandby {
				return standby
			}
			return pool
		}
	} else {
		pool = pgtest.New(t)
	}
	feed := New(pool, cfg)
	feed.naive = naive
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sentinel := uuid.New()
	watcher, lister := newConsumer("Watch"), newConsumer("List")
	var consumers sync.WaitGroup
	consumers.Go(func() {
		err := feed.Watch(ctx, ListParams{Limit: 7}, func(p Page) error {
			if watcher.add(p.Events, sentinel) {
				close(watcher.done)
				return errStop
			}
			return nil
		})
		if err != errStop {
			t.Errorf("Watch: %v", err)
		}
	})
	consumers.Go(func() {
		var after Cursor
		for {
			page, err := feed.List(ctx, ListParams{After: after, Limit: 5})
			if err != nil {
				t.Errorf("List: %v", err)
				return
			}
			if onStandby {
				fromStandby += len(page.Events)
			}
			if lister.add(page.Events, sentinel) {
				close(lister.done)
				return
			}
			if page.Next.Compare(after) < 0 {
				t.Errorf("List went backwards: next %+v after %+v", page.Next, after)
			}
			after = page.Next
			if len(page.Events) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	})

	var (
		mu        sync.Mutex
		committed = map[uuid.UUID]bool{}
	)
	publish := func(ctx context.Context, hold time.Duration, rollback bool, n int) {
		changes := make([]Change, n)
		for i := range changes {
			changes[i] = Change{Type: TypePublished, RecordID: uuid.New(), Version: 1}
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if err := InsertTx(ctx, tx, changes); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(hold)
		if rollback {
			return
		}
		if err := tx.Commit(ctx); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		for _, c := range changes {
			committed[c.RecordID] = true
		}
		mu.Unlock()
	}

	// The straggler: it writes its event first, makes sure a later id commits, then commits only
	// once both consumers have delivered an event past its id (or after a second with the feed's
	// cursor, which never lets them past it while it is open).
	straggler := uuid.New()
	var publishers sync.WaitGroup
	started := make(chan struct{})
	publishers.Go(func() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := InsertTx(ctx, tx, []Change{{Type: TypePublished, RecordID: straggler, Version: 1}}); err != nil {
				return err
			}
			var id int64
			if err := tx.QueryRow(ctx, `SELECT id FROM record_events WHERE record_id = $1`, straggler).Scan(&id); err != nil {
				return err
			}
			close(started)
			publish(ctx, 0, false, 1)
			// The naive readers pass it within a poll or two; the feed's never do, so for it the
			// wait is a second of a transaction held open.
			wait := time.Second
			if naive {
				wait = time.Minute
			}
			deadline := time.Now().Add(wait)
			for time.Now().Before(deadline) && (watcher.lastID() <= id || lister.lastID() <= id) {
				time.Sleep(5 * time.Millisecond)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		committed[straggler] = true
		mu.Unlock()
	})
	<-started
	// Quiet transactions among the publishers: each holds an xid for 0–200 ms, marked before or
	// after taking it, and writes no event. The feed passes them; it must pass no publisher.
	for q := range 4 {
		publishers.Go(func() {
			for i := range 15 {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					steps := []string{quietSQL, `SELECT pg_current_xact_id()`}
					if (q+i)%2 == 0 {
						steps[0], steps[1] = steps[1], steps[0]
					}
					for _, s := range steps {
						if _, err := tx.Exec(ctx, s); err != nil {
							return err
						}
					}
					time.Sleep(rand.N(200 * time.Millisecond))
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for p := range 16 {
		publishers.Go(func() {
			for range 15 {
				var hold time.Duration
				if p%2 == 0 {
					hold = rand.N(200 * time.Millisecond)
				}
				publish(ctx, hold, rand.N(10) == 0, 1+rand.N(3))
			}
		})
	}
	publishers.Wait()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return InsertTx(ctx, tx, []Change{{Type: TypePublished, RecordID: sentinel, Version: 1}})
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	committed[sentinel] = true
	mu.Unlock()
	for _, c := range []*consumer{watcher, lister} {
		select {
		case <-c.done:
		case <-ctx.Done():
			t.Fatalf("%s never delivered the sentinel", c.name)
		}
	}
	consumers.Wait()

	res := noGapsResult{committed: len(committed), straggler: straggler, consumers: []*consumer{watcher, lister}, fromStandby: fromStandby}
	for _, c := range res.consumers {
		c.check(committed)
	}
	return res
}

// errStop ends a Watch from its send function.
var errStop = errorString("stop")

type errorString string

func (e errorString) Error() string { return string(e) }

// first returns one key of m, for messages.
func first(m map[uuid.UUID]bool) []uuid.UUID {
	for id := range m {
		return []uuid.UUID{id}
	}
	return nil
}

// newTestPool returns a pool on url, closed when t ends.
func newTestPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
