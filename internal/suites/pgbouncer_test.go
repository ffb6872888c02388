package suites

import (
	"context"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/sdk"
)

// pgbouncerPoolSize is the server connections PgBouncer keeps for the suite's database: fewer
// than the processes' pools (database.max_conns 20 each, 40 to 60 in all), so that their
// transactions share server connections, as behind a production pooler. With 8, a loaded 2-core
// machine queued transactions long enough for jobs to time out and back off past the suite's
// windows.
const pgbouncerPoolSize = 16

// TestPgBouncerPipeline runs the whole pipeline through PgBouncer 1.18 in transaction mode
// (database.transaction_pooler): an api process, a worker that listens for jobs on a direct
// connection (database.listen_url) and one that polls. It publishes records and new versions
// of some, searches them, and rebuilds the vector backend as a next generation (an embedder
// change: a shadow table, its index built online under an advisory lock, then the swap) while
// publishing. Every record must end in every backend at its latest version, and no advisory
// lock may be left held on the server connections PgBouncer shares.
func TestPgBouncerPipeline(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	s := newSuite(t, dbURL)
	pooled := pgtest.ThroughPgBouncer(t, dbURL, pgbouncerPoolSize)
	poll := s.writeConfig("poll", configOpts{databaseURL: pooled, transactionPooler: true})
	listen := s.writeConfig("listen", configOpts{databaseURL: pooled, transactionPooler: true, listenURL: dbURL})
	api := s.newProc("api", roleAPI, poll)
	api.mustStart(t)
	for _, p := range []*proc{s.newProc("worker-listen", roleWorker, listen), s.newProc("worker-poll", roleWorker, poll)} {
		p.mustStart(t)
	}
	ctx := t.Context()
	n := suiteRecords(t)
	pub := newPublisher(api.url)
	var sent []*pubBatch
	for published := 0; published < n; {
		b := pub.newBatch(min(200, n-published))
		if err := pub.send(ctx, b); err != nil {
			t.Fatal(err)
		}
		published += len(b.SourceIDs)
		sent = append(sent, b)
	}
	for _, b := range sent[:len(sent)/2] {
		if err := pub.send(ctx, pub.updateOf(b)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("settled %v after the last publish", s.waitSettled(backlogTimeout(n)).Round(time.Millisecond))

	c, err := sdk.New(api.url())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []sdk.SearchMode{sdk.SearchVector, sdk.SearchKeyword, sdk.SearchHybrid} {
		res, err := c.Search(ctx, "record", &sdk.SearchOpts{Mode: mode, Limit: 10})
		if err != nil || len(res.Hits) == 0 {
			t.Errorf("%s search through the pooler: %d hits, %v", mode, hitCount(res), err)
		}
	}

	doc := "backends:\n  - {name: vector, kind: pgvector, weight: 2, embedder: {kind: hash, model: hash-v2, dims: 256}}\n" +
		"  - {name: keyword, kind: keyword}\n"
	changes, applied, err := c.ApplyBackends(ctx, doc, sdk.ApplyOpts{})
	var reindexID int64
	for _, ch := range changes {
		if ch.Name == "vector" {
			reindexID = ch.ReindexID
		}
	}
	if err != nil || !applied || reindexID == 0 {
		t.Fatalf("applying the embedder change: %+v, applied %v, %v", changes, applied, err)
	}
	for range 5 { // published during the rebuild: written to both generations
		if err := pub.send(ctx, pub.newBatch(50)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wctx, cancel := context.WithTimeout(ctx, backlogTimeout(n))
	defer cancel()
	if r, err := c.WaitReindex(wctx, reindexID, nil); err != nil || r.State != sdk.ReindexSucceeded {
		t.Fatalf("the rebuild through the pooler: %+v, %v", r, err)
	}
	s.waitSettled(backlogTimeout(n))
	s.checkConsistent()
	if bad := s.mustCount(`SELECT count(*) FROM vec_vector WHERE vector_dims(embedding) <> 256`); bad != 0 {
		t.Errorf("vec_vector: %d rows without the new generation's vectors", bad)
	}
	// A session outside any transaction holds only session locks: one there is a lock left on
	// a server connection that PgBouncer hands to any client. (Transaction locks, such as the
	// heartbeat's rescue lock, come and go with their transactions.)
	if held := s.mustCount(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND a.state = 'idle' AND a.datname = current_database()`); held != 0 {
		t.Errorf("%d advisory locks held by idle sessions: a session lock was left on a pooled connection", held)
	}
	t.Logf("job errors by kind: %v", s.jobErrors())
}

// TestCrashWorkerPgBouncer is [TestCrashWorker] with every process behind PgBouncer in
// transaction mode, River polling for jobs: the heartbeat rescue, the retries and the version
// guards must hold through a pooler too.
func TestCrashWorkerPgBouncer(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	s := newSuite(t, dbURL)
	crashWorker(t, s, configOpts{databaseURL: pgtest.ThroughPgBouncer(t, dbURL, pgbouncerPoolSize), transactionPooler: true})
}

func hitCount(r *sdk.SearchResult) int {
	if r == nil {
		return 0
	}
	return len(r.Hits)
}
