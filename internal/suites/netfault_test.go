package suites

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
)

// Settings of the network fault suite.
const (
	// netfaultApp is the application_name of the osa process's connections, which go through
	// the fault proxy; pg_stat_activity counts them by it.
	netfaultApp = "osa_netfault"
	// probeApp is the application_name of the suite's own connection through the proxy, which
	// checks that a fault holds.
	probeApp = "osa_netfault_probe"
	// callTimeout is each publish's deadline, sent to the server as Connect-Timeout-Ms.
	callTimeout = 5 * time.Second
	// publishers publish concurrently, each a call of publishSize records every publishEvery.
	publishers   = 3
	publishSize  = 10
	publishEvery = 250 * time.Millisecond
	// outageNotice bounds how long /readyz may answer 200 once the database is unreachable: a
	// ping that hangs for readyTimeout (2s, server/health.go), and a margin.
	outageNotice = 4 * time.Second
	// readyzAnswer bounds how long /readyz may take to answer at all, fault or not.
	readyzAnswer = 3 * time.Second
	// readyBound bounds how long after a fault /readyz may take to answer 200 again.
	readyBound = 15 * time.Second
	// goroutineSlack is how many more goroutines than before the fault the process may run once
	// settled again: idle keep-alive connections of the suite's HTTP clients (two goroutines
	// each) and River's background work. Measured: 3 to 10 more. A leak of one goroutine per
	// failed call or cut connection would be hundreds.
	goroutineSlack = 20
	// leakWait bounds how long the goroutines and connections may take to come back down.
	leakWait = 15 * time.Second
)

// netFault is one fault of [TestNetFault].
type netFault struct {
	// duration is how long the fault lasts.
	duration time.Duration
	// outage says the database is unreachable all through the fault: /readyz must report it
	// within outageNotice and keep reporting it, and no publish sent during it may succeed.
	outage bool
	// inject starts the fault, checks that it holds with probe (a connection through the proxy,
	// made before the fault) and returns the function that ends it.
	inject func(t *testing.T, s *suite, fp *faultProxy, probe *pgx.Conn) (end func())
	// during, when set, runs every 2s while the fault lasts (the reset fault's resets).
	during func(t *testing.T, s *suite, fp *faultProxy)
}

// netFaults are the faults of issue 18, each injected between the osa process and PostgreSQL
// during an ingest.
var netFaults = map[string]netFault{
	// 64 KB/s each way, per connection (toxiproxy's bandwidth toxic limits each connection).
	"bandwidth": {
		duration: 20 * time.Second,
		inject: func(t *testing.T, s *suite, fp *faultProxy, probe *pgx.Conn) func() {
			fp.addBoth("bandwidth", "bandwidth", map[string]any{"rate": 64})
			// 128 KiB at 64 KB/s: two seconds.
			start := time.Now()
			var b []byte
			if err := probe.QueryRow(t.Context(), `SELECT convert_to(repeat('x', 131072), 'UTF8')`).Scan(&b); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 1500*time.Millisecond || len(b) != 131072 {
				t.Fatalf("the bandwidth limit does not hold: 128 KiB through the proxy in %v", d)
			}
			return func() { fp.removeBoth("bandwidth") }
		},
	},
	// The proxy accepts and reads, but forwards nothing either way; its end closes the
	// connections it held.
	"blackhole": {
		duration: 10 * time.Second,
		outage:   true,
		inject: func(t *testing.T, s *suite, fp *faultProxy, probe *pgx.Conn) func() {
			fp.addBoth("blackhole", "timeout", map[string]any{"timeout": 0})
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			if _, err := probe.Exec(ctx, `SELECT 1`); err == nil {
				t.Fatal("the blackhole does not hold: a query went through")
			}
			return func() { fp.removeBoth("blackhole") }
		},
	},
	// 200 ms each way: 400 ms more for every round trip.
	"latency": {
		duration: 20 * time.Second,
		inject: func(t *testing.T, s *suite, fp *faultProxy, probe *pgx.Conn) func() {
			fp.addBoth("latency", "latency", map[string]any{"latency": 200})
			start := time.Now()
			if _, err := probe.Exec(t.Context(), `SELECT 1`); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 400*time.Millisecond {
				t.Fatalf("the latency does not hold: a round trip through the proxy took %v", d)
			}
			return func() { fp.removeBoth("latency") }
		},
	},
	// Every connection cut with a TCP RST every 2 s.
	"reset": {
		duration: 20 * time.Second,
		inject: func(t *testing.T, s *suite, fp *faultProxy, probe *pgx.Conn) func() {
			return func() {}
		},
		during: func(t *testing.T, s *suite, fp *faultProxy) {
			// The connections waiting for the process: a backend reading from its client sees the RST
			// at once and ends (one running a statement sees it only when it answers).
			var before []int32
			if err := s.pool.QueryRow(t.Context(), `SELECT COALESCE(array_agg(pid), '{}') FROM pg_stat_activity
				WHERE application_name = $1 AND datname = current_database() AND state LIKE 'idle%'`, netfaultApp).Scan(&before); err != nil {
				t.Fatal(err)
			}
			if len(before) == 0 {
				t.Fatal("no idle connection of the process to reset (River's LISTEN connection is always one)")
			}
			fp.reset()
			deadline := time.Now().Add(time.Second)
			for {
				n := s.mustCount(`SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, before)
				if n == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of the %d idle connections of the process survived a reset of the proxy by 1s:\n%s", n, len(before), s.connReport(netfaultApp))
				}
				time.Sleep(20 * time.Millisecond)
			}
		},
	},
}

// TestNetFault puts a real TCP fault proxy (toxiproxy, in this test process) between an
// `osa serve` process and PostgreSQL and injects each fault of [netFaults] during an ingest:
// publishers call PublishRecords before, during and after it. Each subtest asserts that
//   - every publish either succeeded or failed with Unavailable or DeadlineExceeded, and one that
//     failed left all of its records or none (a client that timed out cannot know whether the
//     commit happened);
//   - nothing acknowledged was lost and nothing was doubled: every record in every backend
//     exactly once at its latest version, one fan-out per version and one index job per version
//     and backend;
//   - /readyz always answers within readyzAnswer; it reports an outage within outageNotice and
//     until it ends, and only an outage: while the database stays reachable (slow, throttled, or
//     its connections cut) it answers 200; after the fault, 200 again within readyBound;
//   - the process recovers by itself: the same life, every publish a second after /readyz is
//     200 again succeeds, every record indexed within [backlogTimeout];
//   - nothing leaks: its goroutines (go_goroutines) come back down, it keeps no PostgreSQL
//     connection (pg_stat_activity) outside its pool but those it had before the fault, and no
//     more of the pool's in use (osa_db_pool_connections).
//
// The times to recover (/readyz ready, first publish acknowledged, every record indexed) are
// logged.
func TestNetFault(t *testing.T) {
	t.Parallel()
	for _, name := range slices.Sorted(maps.Keys(netFaults)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runNetFault(t, netFaults[name])
		})
	}
}

// publishCall is one PublishRecords call of the ingest.
type publishCall struct {
	batch      *pubBatch
	start, end time.Time
	code       connect.Code // 0: acknowledged
}

// readyzProbe is one GET /readyz during the ingest.
type readyzProbe struct {
	start, end time.Time
	code       int    // 0: no answer
	reason     string // the body of an answer other than 200, or the error
}

// ingest runs the publishers and a /readyz prober until stop.
type ingest struct {
	mu       sync.Mutex
	calls    []publishCall
	probes   []readyzProbe
	stopping chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// startIngest starts publishers goroutines publishing through pub, and one probing srv's
// /readyz every 200 ms.
func startIngest(ctx context.Context, pub *publisher, srv *proc) *ingest {
	in := &ingest{stopping: make(chan struct{})}
	for range publishers {
		in.done.Go(func() {
			tick := time.NewTicker(publishEvery)
			defer tick.Stop()
			for !isClosed(in.stopping) && ctx.Err() == nil {
				b := pub.newBatch(publishSize)
				callCtx, cancel := context.WithTimeout(ctx, callTimeout)
				c := publishCall{batch: b, start: time.Now()}
				err := pub.send(callCtx, b)
				cancel()
				c.end = time.Now()
				if err != nil {
					c.code = connect.CodeOf(err)
				}
				in.mu.Lock()
				in.calls = append(in.calls, c)
				in.mu.Unlock()
				select {
				case <-in.stopping:
				case <-tick.C:
				}
			}
		})
	}
	in.done.Go(func() {
		for !isClosed(in.stopping) {
			p := readyzProbe{start: time.Now()}
			p.code, p.reason = readyz(srv)
			p.end = time.Now()
			in.mu.Lock()
			in.probes = append(in.probes, p)
			in.mu.Unlock()
			select {
			case <-in.stopping:
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	return in
}

// readyz returns the status of GET /readyz on p, and its body when the status is not 200 (the
// error when there was no answer).
func readyz(p *proc) (int, string) {
	resp, err := probeClient.Get(p.url() + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// stop stops the publishers and the prober and waits for their last calls to end.
func (in *ingest) stop() {
	in.stopOnce.Do(func() { close(in.stopping) })
	in.done.Wait()
}

// processFigures are what the leak check counts of the osa process.
type processFigures struct {
	goroutines int // go_goroutines
	conns      int // its connections in pg_stat_activity
	pooled     int // the connections its pool holds (osa_db_pool_connections)
	acquired   int // of those, the ones in use
}

// outside is how many of the process's connections its pool does not hold (the heartbeat's).
func (f processFigures) outside() int { return f.conns - f.pooled }

func (f processFigures) String() string {
	return fmt.Sprintf("%d goroutines, %d connections (%d in the pool, %d of them in use)", f.goroutines, f.conns, f.pooled, f.acquired)
}

func (s *suite) processFigures(srv *proc) processFigures {
	s.t.Helper()
	m, err := srv.scrape()
	if err != nil {
		s.t.Fatal(err)
	}
	var f processFigures
	for _, k := range []string{"go_goroutines", `osa_db_pool_connections{state="acquired"}`, `osa_db_pool_connections{state="idle"}`,
		`osa_db_pool_connections{state="constructing"}`} {
		if _, ok := m[k]; !ok {
			s.t.Fatalf("/metrics has no %s", k)
		}
	}
	f.goroutines = int(m["go_goroutines"])
	f.acquired = int(m[`osa_db_pool_connections{state="acquired"}`])
	f.pooled = f.acquired + int(m[`osa_db_pool_connections{state="idle"}`]) + int(m[`osa_db_pool_connections{state="constructing"}`])
	f.conns = s.mustCount(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, netfaultApp)
	return f
}

func runNetFault(t *testing.T, f netFault) {
	ctx := t.Context()
	s := newSuite(t, pgtest.NewURL(t))
	fp := newFaultProxy(t, s.dbURL)
	// The default timeouts of a job and of a batch write (2m, 60s), not the crash suites' short
	// ones: a batch that a fault slows past 4s is no failure in production, and on a loaded
	// machine the backlog after the fault would time out again and again, each retry waiting
	// longer (River's backoff, attempt⁴ s).
	srv := s.newProc("osa", roleAll, s.writeConfig("osa", configOpts{databaseURL: fp.url(s.dbURL, netfaultApp),
		jobTimeout: config.JobTimeoutDefault, batchTimeout: config.BatchTimeoutDefault}))
	srv.mustStart(t)
	s.countIndexWrites()
	pub := newPublisher(srv.url)
	for range 2 {
		if err := pub.send(ctx, pub.newBatch(50)); err != nil {
			t.Fatal(err)
		}
	}
	s.waitSettled(30 * time.Second)
	time.Sleep(time.Second)
	before := s.processFigures(srv)
	probe, err := pgx.Connect(ctx, fp.url(s.dbURL, probeApp))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(context.Background())

	in := startIngest(ctx, pub, srv)
	t.Cleanup(in.stop)
	time.Sleep(2 * time.Second)
	faultStart := time.Now()
	end := f.inject(t, s, fp, probe)
	for time.Since(faultStart) < f.duration {
		wait := min(2*time.Second, f.duration-time.Since(faultStart))
		time.Sleep(wait)
		if f.during != nil && time.Since(faultStart) < f.duration {
			f.during(t, s, fp)
		}
	}
	end()
	faultEnd := time.Now()
	t.Logf("fault from %s for %v", faultStart.Format(time.TimeOnly), faultEnd.Sub(faultStart).Round(time.Millisecond))

	// Ready again, then three more seconds of publishing.
	deadline := faultEnd.Add(readyBound)
	for {
		code, err := srv.get("/readyz")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d %v %v after the fault, want 200", code, err, readyBound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	readyAgain := time.Now()
	time.Sleep(3 * time.Second)
	in.stop()
	settled := s.waitSettled(backlogTimeout(pub.ackedRecords()))
	settledAt := time.Now()

	// Publishes: acknowledged, Unavailable or DeadlineExceeded; all of one or none of it.
	codes := map[string]int{}
	var firstAck time.Time
	during := map[connect.Code]int{}
	for _, c := range in.calls {
		name := "ok"
		if c.code != 0 {
			name = c.code.String()
		}
		codes[name]++
		switch c.code {
		case 0, connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		default:
			t.Errorf("batch %s (%s → %s) failed with %v, want success, %v or %v: %v", c.batch.ID,
				c.start.Format(time.TimeOnly), c.end.Format(time.TimeOnly), c.code, connect.CodeUnavailable,
				connect.CodeDeadlineExceeded, c.batch.Err)
		}
		if c.start.After(faultStart) && c.end.Before(faultEnd) {
			during[c.code]++
			if f.outage && c.code == 0 {
				t.Errorf("batch %s was acknowledged though the database was unreachable all through its call", c.batch.ID)
			}
		}
		if c.code == 0 && c.start.After(faultEnd) && (firstAck.IsZero() || c.end.Before(firstAck)) {
			firstAck = c.end
		}
		if c.code != 0 && c.start.After(readyAgain.Add(time.Second)) {
			t.Errorf("batch %s failed with %v, sent %v after /readyz was 200 again", c.batch.ID, c.code,
				c.start.Sub(readyAgain).Round(time.Millisecond))
		}
	}
	t.Logf("%d calls of %d records: %v; of those sent and answered during the fault: %v", len(in.calls), publishSize, codes, during)
	if !f.outage && during[0] == 0 {
		t.Errorf("no publish sent during the fault succeeded, though the database stayed reachable")
	}
	if firstAck.IsZero() {
		t.Error("no publish sent after the fault was acknowledged")
	}
	committed, absent := checkPublished(t, s, pub)
	t.Logf("unacknowledged calls: %d committed all their records, %d none", committed, absent)

	// Nothing lost or doubled.
	s.checkConsistent()
	// Jobs the process took but never learned of, when a fault swallowed the answer of River's
	// fetch: its heartbeat retries them (jobs/heartbeat Working).
	orphans := s.mustCount(`SELECT count(*) FROM river_job, unnest(errors) AS e WHERE e->>'error' LIKE '%is not working it%'`)
	t.Logf("%d jobs orphaned by a lost fetch answer and retried by the heartbeat", orphans)
	pairs, repeats := s.repeatedIndexWrites()
	t.Logf("%d record versions were marked indexed more than once in a backend (%d repeats; harmless by the version guard); job errors: %v",
		pairs, repeats, s.jobErrors())

	// /readyz: always an answer; through an outage, not ready within outageNotice and until it
	// ends; through a fault that leaves the database reachable, ready (but for a check that
	// reconnected at the very moment of a reset, when the proxy did not listen).
	var notReady, answered int
	reasons := map[string]int{}
	var firstNotReady time.Time
	for _, p := range in.probes {
		if d := p.end.Sub(p.start); d > readyzAnswer {
			t.Errorf("/readyz took %v to answer (%d) at %s", d.Round(time.Millisecond), p.code, p.start.Format(time.TimeOnly))
		}
		if p.start.Before(faultStart) || p.end.After(faultEnd) {
			continue
		}
		answered++
		into := p.start.Sub(faultStart).Round(time.Millisecond)
		switch {
		case p.code != http.StatusOK:
			notReady++
			reasons[p.reason]++
			if firstNotReady.IsZero() {
				firstNotReady = p.end
			}
			if !f.outage && !fp.resetDuring(p.start, p.end) {
				t.Errorf("/readyz answered %d %q %v into the fault, though the database stayed reachable", p.code, p.reason, into)
			}
		case f.outage && p.start.After(faultStart.Add(outageNotice)):
			t.Errorf("/readyz answered 200 %v into the outage", into)
		}
	}
	t.Logf("/readyz during the fault: %d of %d probes not ready %v", notReady, answered, reasons)
	if f.outage {
		if firstNotReady.IsZero() || firstNotReady.Sub(faultStart) > outageNotice {
			t.Errorf("/readyz did not report the outage within %v", outageNotice)
		} else {
			t.Logf("/readyz reported the outage %v after it began", firstNotReady.Sub(faultStart).Round(time.Millisecond))
		}
	}

	// Recovered by itself.
	if !srv.running() || len(srv.riverIDs()) != 1 {
		t.Errorf("the process did not live through the fault: running %v, %d River clients started", srv.running(), len(srv.riverIDs()))
	}
	t.Logf("recovery after the fault: /readyz 200 after %v, first publish acknowledged after %v, every record indexed after %v (%v after the ingest stopped)",
		readyAgain.Sub(faultEnd).Round(time.Millisecond), firstAck.Sub(faultEnd).Round(time.Millisecond),
		settledAt.Sub(faultEnd).Round(time.Millisecond), settled.Round(time.Millisecond))

	// No leak: the goroutines back down, no connection open outside the pool but those that were
	// before (PostgreSQL sees every connection the process left open, through the proxy), and
	// no more of the pool's in use than before.
	var after processFigures
	leakDeadline := time.Now().Add(leakWait)
	for {
		after = s.processFigures(srv)
		if after.goroutines <= before.goroutines+goroutineSlack && after.outside() == before.outside() && after.acquired <= before.acquired {
			break
		}
		if time.Now().After(leakDeadline) {
			t.Errorf("%v after settling: %v; before the fault: %v\n%s", leakWait, after, before, s.connReport(netfaultApp))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("before the fault: %v; after: %v", before, after)
	if n := s.mustCount(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND state LIKE 'idle in transaction%'`, netfaultApp); n != 0 {
		t.Errorf("%d connections of the process left idle in a transaction:\n%s", n, s.connReport(netfaultApp))
	}
}

// connReport lists the PostgreSQL connections of application app, for failure messages.
func (s *suite) connReport(app string) string {
	rows, err := s.pool.Query(context.Background(), `
		SELECT pid, client_port, COALESCE(state, '') || ' ' || COALESCE(wait_event_type || ':' || wait_event, ''), backend_start,
		       COALESCE(xact_start, 'epoch'), COALESCE(state_change, 'epoch'), left(query, 120)
		FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() ORDER BY backend_start`, app)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	var (
		pid, port                 int
		state, query              string
		started, xact, stateSince time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&pid, &port, &state, &started, &xact, &stateSince, &query}, func() error {
		fmt.Fprintf(&b, "  pid %d port %d %-30s since %s, connected %s, transaction from %s: %s\n", pid, port, state,
			stateSince.Format(time.TimeOnly), started.Format(time.TimeOnly), xact.Format(time.TimeOnly), query)
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return b.String()
}
