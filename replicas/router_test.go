package replicas_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/replicas"
)

// TestMain fails the package's tests when they leave goroutines running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quiet drops the routers' logs.
var quiet = slog.New(slog.DiscardHandler)

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// counts records the reads a router routed, by "target/reason".
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) onRead(target, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[target+"/"+reason]++
}

func (c *counts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// waitFor probes r until cond holds, failing t after within.
func waitFor(t *testing.T, r *replicas.Router, within time.Duration, what string, cond func(replicas.Status) bool) replicas.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.Probe(t.Context())
		st := r.Status()[0]
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s still does not hold: %+v", within, what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// onStandby reports whether pool's server is in recovery.
func onStandby(t *testing.T, ctx context.Context, pool *pgxpool.Pool) bool {
	t.Helper()
	var standby bool
	if err := pool.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		t.Fatal(err)
	}
	return standby
}

// TestRouter runs a router over a real primary and a streaming standby of it: reads go to the
// standby once a probe measured it; an idle primary does not make it lag; with its replay paused
// behind a write, its lag grows past the bound and reads go to the primary, until it replays
// again; when it stops, a read that failed on it is asked of the primary and the next ones go
// there directly, until it is back. A "replica" that is not a standby takes no reads.
func TestRouter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pg := pgtest.NewReplicated(t)
	primary, standby := newPool(t, pg.URL), newPool(t, pg.StandbyURL)
	const maxLag = time.Second
	c := &counts{n: map[string]int{}}
	r := replicas.New(primary, []replicas.Replica{{Name: "standby", Pool: standby}},
		replicas.Config{MaxLag: maxLag, ProbeInterval: 100 * time.Millisecond, OnRead: c.onRead, Logger: quiet})

	if got := r.ReplicaOf(r.Read(ctx)); got != "" {
		t.Fatalf("a read before any probe went to %q, want the primary", got)
	}
	waitFor(t, r, 10*time.Second, "the standby is routable", func(st replicas.Status) bool { return st.Routable })
	read := r.Read(ctx)
	if r.ReplicaOf(read) != "standby" || !onStandby(t, ctx, r.Pool(read)) {
		t.Fatalf("a read went to %q, want the standby", r.ReplicaOf(read))
	}
	if onStandby(t, ctx, r.Pool(ctx)) {
		t.Fatal("a context no read was pinned to has the standby's pool, want the primary's")
	}
	if c.get("standby/replica") != 1 || c.get("primary/no_replica") != 1 {
		t.Fatalf("reads counted %v, want one on the standby and one on the primary (before the first probe)", c.n)
	}

	t.Run("IdlePrimary", func(t *testing.T) {
		// Nothing is committed for longer than the bound: the last transaction the standby
		// replayed grows old, but it misses nothing.
		time.Sleep(maxLag + 500*time.Millisecond)
		st := waitFor(t, r, time.Second, "a probe answered", func(replicas.Status) bool { return true })
		if !st.Routable || st.Lag > maxLag/2 {
			t.Fatalf("after %v without writes the standby is %+v, want routable with a lag under %v", maxLag, st, maxLag/2)
		}
	})

	t.Run("LagBeyondBound", func(t *testing.T) {
		if _, err := standby.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
			t.Fatal(err)
		}
		resume := sync.OnceFunc(func() {
			if _, err := standby.Exec(context.WithoutCancel(ctx), "SELECT pg_wal_replay_resume()"); err != nil {
				t.Error(err)
			}
		})
		defer resume()
		if _, err := primary.Exec(ctx, "CREATE TABLE lag_probe (id int); INSERT INTO lag_probe VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		wrote := time.Now()
		st := waitFor(t, r, 5*time.Second, "the standby is out of the routing", func(st replicas.Status) bool { return !st.Routable })
		// The lag counts from the last probe of the primary before the write, up to a probe
		// interval (100ms) earlier; the margins are for a loaded machine.
		const margin = 500 * time.Millisecond
		if since := time.Since(wrote); since < maxLag-margin || !st.Up || st.Lag <= maxLag || st.Lag > since+margin {
			t.Fatalf("%v after the write the standby is %+v: want up, lagging more than %v and about as long as since the write",
				since, st, maxLag)
		}
		read := r.Read(ctx)
		var n int
		if err := r.Pool(read).QueryRow(read, "SELECT count(*) FROM lag_probe").Scan(&n); r.ReplicaOf(read) != "" || err != nil || n != 1 {
			t.Fatalf("a read while the standby lags went to %q and read %d rows (%v), want the primary and 1 row", r.ReplicaOf(read), n, err)
		}
		resume()
		waitFor(t, r, 5*time.Second, "the standby caught up", func(st replicas.Status) bool { return st.Routable })
		read = r.Read(ctx)
		if err := r.Pool(read).QueryRow(read, "SELECT count(*) FROM lag_probe").Scan(&n); r.ReplicaOf(read) != "standby" || err != nil || n != 1 {
			t.Fatalf("a read after the standby caught up went to %q and read %d rows (%v), want the standby and 1 row", r.ReplicaOf(read), n, err)
		}
	})

	t.Run("StandbyDown", func(t *testing.T) {
		read := r.Read(ctx)
		if r.ReplicaOf(read) != "standby" {
			t.Fatalf("a read went to %q, want the standby", r.ReplicaOf(read))
		}
		if err := pg.Standby.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		// The read pinned before the stop fails on the standby and is asked of the primary.
		err := r.Pool(read).QueryRow(read, "SELECT 1").Scan(new(int))
		if !replicas.Down(err) {
			t.Fatalf("a read on the stopped standby: %v, want a connection fault", err)
		}
		retry, ok := r.Retry(read, err)
		if !ok || r.ReplicaOf(retry) != "" || onStandby(t, ctx, r.Pool(retry)) {
			t.Fatalf("Retry after the standby's fault: %v, %q; want the primary", ok, r.ReplicaOf(retry))
		}
		if got := r.Routable(); len(got) != 0 {
			t.Fatalf("after a connection fault the routable replicas are %v, want none until a probe finds it up", got)
		}
		if got := r.ReplicaOf(r.Read(ctx)); got != "" {
			t.Fatalf("a read after the fault went to %q, want the primary", got)
		}
		st := waitFor(t, r, 3*time.Second, "a probe sees the standby down", func(st replicas.Status) bool { return !st.Up })
		if st.Err == "" {
			t.Errorf("a down standby's status has no error: %+v", st)
		}
		if err := pg.Standby.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, r, 10*time.Second, "the restarted standby is routable", func(st replicas.Status) bool { return st.Routable })
		read = r.Read(ctx)
		if r.ReplicaOf(read) != "standby" || !onStandby(t, ctx, r.Pool(read)) {
			t.Fatalf("a read after the standby came back went to %q, want the standby", r.ReplicaOf(read))
		}
		if c.get("primary/retry") != 1 {
			t.Errorf("reads counted %v, want one retry on the primary", c.n)
		}
	})

	t.Run("Run", func(t *testing.T) {
		// Run probes by itself, and returns when its context ends.
		r := replicas.New(primary, []replicas.Replica{{Name: "standby", Pool: newPool(t, pg.StandbyURL)}},
			replicas.Config{ProbeInterval: 50 * time.Millisecond, Logger: quiet})
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for len(r.Routable()) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("Run did not make the standby routable: %+v", r.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	})

	t.Run("NotAStandby", func(t *testing.T) {
		// A replica URL that points at a primary (or a promoted replica) takes no reads.
		r := replicas.New(primary, []replicas.Replica{{Name: "primary-again", Pool: newPool(t, pg.URL)}}, replicas.Config{Logger: quiet})
		defer r.Close()
		r.Probe(ctx)
		if st := r.Status()[0]; st.Up || st.Routable || !strings.Contains(st.Err, "not a standby") {
			t.Fatalf("a replica that is not in recovery: %+v, want down, not a standby", st)
		}
	})
}

func TestDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&pgconn.PgError{Code: "57P01"}, true}, // admin_shutdown
		{fmt.Errorf("search: %w", &pgconn.PgError{Code: "08006"}), true}, // connection_failure
		{&pgconn.PgError{Code: "57P03"}, true},                           // cannot_connect_now
		{&pgconn.PgError{Code: "40001"}, false},                          // a conflict with recovery: the replica answers
		{&pgconn.PgError{Code: "42P01"}, false},                          // a migration not replayed yet
		{&pgconn.PgError{Code: "22P02"}, false},                          // bad input
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{&net.OpError{Op: "dial", Err: fmt.Errorf("connection refused")}, true},
		{context.DeadlineExceeded, false}, // the request's own deadline
		{fmt.Errorf("no rows"), false},
	} {
		if got := replicas.Down(tc.err); got != tc.want {
			t.Errorf("Down(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
