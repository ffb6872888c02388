package suites

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/osa-archive/osa/internal/devpg"
	"github.com/osa-archive/osa/internal/pgtest"
)

// outageRetryMax is worker.outage_retry_max of the provider outage suite: the longest an index
// job waits between two tries while the provider is down.
const outageRetryMax = 5 * time.Second

// riverSchedulerInterval is how often River's scheduler (v0.51) makes scheduled jobs available:
// a job snoozed for longer than that waits for its next run.
const riverSchedulerInterval = 5 * time.Second

// outageRecoveryBound bounds how long after the provider comes back every record waiting for it
// is indexed when worker.outage_retry_max is retryMax: the longest snooze, River's scheduler
// interval when that snooze is longer than it, and 5s for the fetch poll (200ms), the batch
// delay, the batches themselves and a loaded machine.
func outageRecoveryBound(retryMax time.Duration) time.Duration {
	bound := retryMax + 5*time.Second
	if retryMax > riverSchedulerInterval {
		bound += riverSchedulerInterval
	}
	return bound
}

// setWorkerKey sets worker.<key> to value in the config file at path, as written by
// suite.writeConfig.
func setWorkerKey(t *testing.T, path, key, value string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("\nworker:\n")) {
		t.Fatalf("%s has no worker section", path)
	}
	data = bytes.Replace(data, []byte("\nworker:\n"), []byte("\nworker:\n  "+key+": "+value+"\n"), 1)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOutageProvider takes the embedding provider down (HTTP 500) while records are published,
// then brings it back: the keyword backend must keep indexing every record within a second all
// through the outage; the vector backend's jobs must wait without using an attempt; and once
// the provider is back every record must reach the vector backend within
// [outageRecoveryBound] (worker.outage_retry_max is 5s here), at the first attempt, none ending
// failed.
func TestOutageProvider(t *testing.T) {
	t.Parallel()
	outage := suiteOutage(t)
	s := newSuite(t, pgtest.NewURL(t))
	fp := newFakeProvider(t, 2*time.Second)
	cfg := s.writeConfig("osa", configOpts{embedderURL: fp.URL()})
	setWorkerKey(t, cfg, "outage_retry_max", outageRetryMax.String())
	srv := s.newProc("osa", roleAll, cfg)
	srv.mustStart(t)
	pub := newPublisher(srv.url)
	ctx := t.Context()

	for range 2 {
		if err := pub.send(ctx, pub.newBatch(20)); err != nil {
			t.Fatal(err)
		}
	}
	s.waitSettled(30 * time.Second)
	before, err := srv.scrape()
	if err != nil {
		t.Fatal(err)
	}

	// Down: records keep coming, 50 a second.
	fp.setMode(providerDown)
	down := time.Now()
	var ids []string
	for time.Since(down) < outage {
		b := pub.newBatch(10)
		if err := pub.send(ctx, b); err != nil {
			t.Fatalf("publishing during the provider outage: %v", err)
		}
		ids = append(ids, b.ID)
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // the last call's keyword indexing

	// Still down: the keyword backend has indexed every record of the outage, each within a
	// second of its commit, and the vector backend none.
	var (
		total, kwIndexed, vecIndexed int
		kwWorstSeconds               float64
	)
	err = s.pool.QueryRow(ctx, `
		SELECT count(*)::int, count(*) FILTER (WHERE k.state = 'indexed')::int, count(*) FILTER (WHERE v.state = 'indexed')::int,
		       COALESCE(EXTRACT(EPOCH FROM max(k.indexed_at - r.updated_at)), 0)::float8
		FROM records r
		LEFT JOIN index_state k ON k.record_id = r.id AND k.backend = 'keyword'
		LEFT JOIN index_state v ON v.record_id = r.id AND v.backend = 'vector'
		WHERE r.metadata->>'batch' = ANY($1)`, ids).Scan(&total, &kwIndexed, &vecIndexed, &kwWorstSeconds)
	if err != nil {
		t.Fatal(err)
	}
	kwWorst := time.Duration(kwWorstSeconds * float64(time.Second))
	t.Logf("provider down %v: %d records published, %d indexed by keyword (slowest %v after its commit), %d by vector; %d calls answered 500",
		outage, total, kwIndexed, kwWorst.Round(time.Millisecond), vecIndexed, fp.responses(http.StatusInternalServerError))
	if kwIndexed != total || total == 0 {
		t.Errorf("keyword indexed %d of the %d records published during the outage", kwIndexed, total)
	}
	if kwWorst >= time.Second {
		t.Errorf("keyword freshness during the outage reached %v, want under 1s", kwWorst)
	}
	if vecIndexed != 0 || fp.responses(http.StatusInternalServerError) == 0 {
		t.Errorf("the outage did not hold: vector indexed %d records, %d calls answered 500", vecIndexed, fp.responses(http.StatusInternalServerError))
	}
	// The vector jobs wait: none retryable, failed or charged an attempt, each due within the cap.
	if n := s.mustCount(`SELECT count(*) FROM river_job WHERE queue = 'index_vector'
		AND (state NOT IN ('available', 'scheduled', 'running', 'completed') OR attempt > 1 OR cardinality(errors) > 0
		     OR scheduled_at > now() + make_interval(secs => $1))`, (outageRetryMax + time.Second).Seconds()); n != 0 {
		t.Errorf("%d vector jobs retried, failed, charged an attempt or scheduled beyond worker.outage_retry_max during the outage:\n%s",
			n, s.jobReport())
	}
	after, err := srv.scrape()
	if err != nil {
		t.Fatal(err)
	}
	// The histogram's bucket bounds are 0.01 × 2ⁿ s: 1.28 is the first above one second.
	n0, in0, err0 := freshness(before, "keyword", "1.28")
	n1, in1, err1 := freshness(after, "keyword", "1.28")
	if err0 != nil || err1 != nil {
		t.Fatal(err0, err1)
	}
	if n1-n0 != float64(total) || in1-in0 != n1-n0 {
		t.Errorf("osa_index_freshness_seconds{backend=keyword} during the outage: %v observations for %d records, %v of them within 1.28s",
			n1-n0, total, in1-in0)
	}

	// Up again.
	fp.setMode(providerUp)
	bound := outageRecoveryBound(outageRetryMax)
	caughtUp := s.waitSettled(bound)
	var maxAttempt, errs, snoozed, maxSnoozes int
	if err := s.pool.QueryRow(ctx, `SELECT max(attempt)::int, COALESCE(sum(cardinality(errors)), 0)::int,
		       count(*) FILTER (WHERE (metadata->>'snoozes')::int > 0)::int, COALESCE(max((metadata->>'snoozes')::int), 0)::int
		FROM river_job WHERE queue = 'index_vector'`).Scan(&maxAttempt, &errs, &snoozed, &maxSnoozes); err != nil {
		t.Fatal(err)
	}
	t.Logf("provider back: every record indexed by vector %v later (bound %v); index jobs took up to %d attempts, %d errors recorded; "+
		"%d jobs snoozed, up to %d times", caughtUp.Round(time.Millisecond), bound, maxAttempt, errs, snoozed, maxSnoozes)
	if maxAttempt != 1 || errs != 0 || snoozed < total {
		t.Errorf("vector jobs: up to %d attempts and %d errors, %d snoozed; want 1 attempt and no error each, at least the %d records of the outage snoozed",
			maxAttempt, errs, snoozed, total)
	}
	s.checkConsistent()
	if committed, absent := checkPublished(t, s, pub); committed+absent != 0 {
		t.Errorf("%d calls were not acknowledged", committed+absent)
	}
}

// TestOutageRateLimit has the provider answer 429 with Retry-After: 2 for six seconds while
// records are published: the vector backend's jobs must snooze for the advised time without
// using an attempt, and all be indexed in the end.
func TestOutageRateLimit(t *testing.T) {
	t.Parallel()
	s := newSuite(t, pgtest.NewURL(t))
	fp := newFakeProvider(t, 2*time.Second)
	srv := s.newProc("osa", roleAll, s.writeConfig("osa", configOpts{embedderURL: fp.URL()}))
	srv.mustStart(t)
	pub := newPublisher(srv.url)
	ctx := t.Context()

	fp.setMode(providerLimited)
	limited := time.Now()
	for range 4 {
		if err := pub.send(ctx, pub.newBatch(50)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(6*time.Second - time.Since(limited))
	fp.setMode(providerUp)
	s.waitSettled(30 * time.Second)
	s.checkConsistent()
	if committed, absent := checkPublished(t, s, pub); committed+absent != 0 {
		t.Errorf("%d calls were not acknowledged", committed+absent)
	}

	// Every vector job completed at its first attempt, after at least one snooze, with no error
	// recorded; the keyword backend never noticed.
	for _, q := range []struct {
		queue   string
		snoozed bool
	}{{"index_vector", true}, {"index_keyword", false}} {
		var jobs, firstAttempt, snoozed, errs, snoozes int
		err := s.pool.QueryRow(ctx, `
			SELECT count(*)::int, count(*) FILTER (WHERE attempt = 1)::int,
			       count(*) FILTER (WHERE COALESCE((metadata->>'snoozes')::int, 0) > 0)::int,
			       COALESCE(sum(cardinality(errors)), 0)::int, COALESCE(sum((metadata->>'snoozes')::int), 0)::int
			FROM river_job WHERE queue = $1`, q.queue).Scan(&jobs, &firstAttempt, &snoozed, &errs, &snoozes)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d jobs, %d completed at attempt 1, %d snoozed (%d snoozes in all), %d errors recorded",
			q.queue, jobs, firstAttempt, snoozed, snoozes, errs)
		wantSnoozed := 0
		if q.snoozed {
			wantSnoozed = jobs
		}
		if jobs != 200 || firstAttempt != jobs || snoozed != wantSnoozed || errs != 0 {
			t.Errorf("%s: want 200 jobs, all completed at attempt 1 with no error, %d snoozed", q.queue, wantSnoozed)
		}
	}
	if n := s.mustCount(`SELECT count(*) FROM index_state WHERE attempts <> 1`); n != 0 {
		t.Errorf("index_state: %d records with attempts other than 1", n)
	}
	gap, gaps := fp.gapAfterLimit()
	t.Logf("%d calls answered 429; a rate-limited text came back %v later at the soonest (%d times)",
		fp.responses(http.StatusTooManyRequests), gap.Round(time.Millisecond), gaps)
	if gaps == 0 || gap < 2*time.Second {
		t.Errorf("Retry-After: 2 not honoured: a rate-limited text came back after %v", gap)
	}
}

// TestOutageDatabase stops the database for a while (pg_ctl stop, then start on the same port)
// while records are published through an api and a worker process on a private cluster: both
// must report not ready (/readyz 503) while it is down and ready again by themselves once it is
// back, and no acknowledged record may be lost. The publisher sends a failed call again until it
// is acknowledged, as a client should: publishing by (source, source_id) makes that safe.
func TestOutageDatabase(t *testing.T) {
	t.Parallel()
	outage := suiteOutage(t)
	ctx := t.Context()
	var provisionLog bytes.Buffer
	binDir, err := devpg.Provision(ctx, &provisionLog)
	if err != nil {
		t.Fatalf("%v\n%s", err, provisionLog.String())
	}
	pgCfg := devpg.Config{
		BinDir: binDir,
		Dir:    filepath.Join(t.TempDir(), "pg"),
		Settings: map[string]string{
			"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "100",
		},
	}
	cluster, err := devpg.Start(ctx, pgCfg)
	if err != nil {
		t.Fatal(err)
	}
	stopCluster := func() {
		if err := cluster.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stopCluster)
	if err := cluster.CreateDatabase(ctx, "osa"); err != nil {
		t.Fatal(err)
	}
	s := newSuite(t, cluster.URL("osa"))
	cfg := s.writeConfig("osa", configOpts{})
	api := s.newProc("api", roleAPI, cfg)
	api.mustStart(t) // migrates the new database
	worker := s.newProc("worker", roleWorker, cfg)
	worker.mustStart(t)
	procs := []*proc{api, worker}

	// The publisher: 50 records every 100ms, each call sent again until acknowledged.
	pub := newPublisher(api.url)
	var (
		mu    sync.Mutex
		codes = map[connect.Code]int{}
	)
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for {
			select {
			case <-stopPub:
				return
			case <-ctx.Done():
				return
			default:
			}
			b := pub.newBatch(50)
			for pub.send(ctx, b) != nil && ctx.Err() == nil {
				mu.Lock()
				codes[b.Code]++
				mu.Unlock()
				time.Sleep(200 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	time.Sleep(2 * time.Second)
	open := s.mustCount(`SELECT count(*) FROM river_job WHERE state <> 'completed'`)
	stopCluster()
	stopped := time.Now()
	t.Logf("database stopped with %d records acknowledged and %d jobs not completed", pub.ackedRecords(), open)
	for _, p := range procs {
		waitReadyz(t, p, http.StatusServiceUnavailable, 5*time.Second)
	}
	for time.Since(stopped) < outage {
		for _, p := range procs {
			if code, err := p.get("/readyz"); err != nil || code != http.StatusServiceUnavailable {
				t.Errorf("%s: /readyz answered %d %v while the database was down", p.name, code, err)
			}
			if code, err := p.get("/healthz"); err != nil || code != http.StatusOK {
				t.Errorf("%s: /healthz answered %d %v while the database was down", p.name, code, err)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	pgCfg.Port = cluster.Port()
	if cluster, err = devpg.Start(ctx, pgCfg); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for _, p := range procs {
		waitReadyz(t, p, http.StatusOK, 30*time.Second)
		t.Logf("%s ready again %v after the database came back", p.name, time.Since(restarted).Round(time.Millisecond))
	}
	time.Sleep(3 * time.Second)
	close(stopPub)
	<-pubDone
	mu.Lock()
	t.Logf("%d records acknowledged; calls failed while the database was down, by code: %v", pub.ackedRecords(), codes)
	for code := range codes {
		if code != connect.CodeUnavailable {
			t.Errorf("a publish failed with %v while the database was down, want %v", code, connect.CodeUnavailable)
		}
	}
	mu.Unlock()

	settled := s.waitSettled(rescueWindow)
	t.Logf("settled %v after the publisher stopped (%v after the database came back)",
		settled.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	s.checkConsistent()
	if committed, absent := checkPublished(t, s, pub); committed+absent != 0 {
		t.Errorf("%d calls were never acknowledged", committed+absent)
	}
}

// waitReadyz waits until p's /readyz answers code.
func waitReadyz(t *testing.T, p *proc, code int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := p.get("/readyz")
		if err == nil && got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz answered %d %v after %v, want %d", p.name, got, err, timeout, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
