package suites

import (
	"context"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/sdk"
)

// TestCrashDuringRebuild applies, through ApplyBackends, a change that builds a new generation
// from the stored records, and SIGKILLs the worker process while the rebuild runs and records
// are being published, restarting it each time; in two cases:
//
//   - NextGeneration: the vector backend's embedder changes (dims 384 → 256), built beside the
//     live generation;
//   - Backfill: a keyword backend is added, filled from the stored records.
//
// The rebuild resumes at its chunk after each kill; once it has swapped in and everything has
// settled, every record is in every backend exactly once at its latest version, the vector
// table holds the new generation's vectors only, and index_state agrees.
func TestCrashDuringRebuild(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		doc  string
		// rebuilt is the backend the change rebuilds; added, a backend it adds (name to table).
		rebuilt string
		added   map[string]string
	}{
		{"NextGeneration", "backends:\n  - {name: vector, kind: pgvector, weight: 2, embedder: {kind: hash, model: hash-v2, dims: 256}}\n" +
			"  - {name: keyword, kind: keyword}\n", "vector", nil},
		{"Backfill", "backends:\n  - {name: vector, kind: pgvector, weight: 2}\n  - {name: keyword, kind: keyword}\n" +
			"  - {name: kw2, kind: keyword}\n", "kw2", map[string]string{"kw2": "kw_kw2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			crashDuringRebuild(t, tt.doc, tt.rebuilt, tt.added)
		})
	}
}

func crashDuringRebuild(t *testing.T, doc, rebuilt string, added map[string]string) {
	s := newSuite(t, pgtest.NewURL(t))
	n := suiteRecords(t)
	cfg := s.writeConfig("osa", configOpts{})
	api := s.newProc("api", roleAPI, cfg)
	api.mustStart(t)
	worker := s.newProc("worker", roleWorker, cfg)
	worker.mustStart(t)
	ctx := t.Context()
	pub := newPublisher(api.url)
	for published := 0; published < n; {
		b := pub.newBatch(min(500, n-published))
		if err := pub.send(ctx, b); err != nil {
			t.Fatal(err)
		}
		published += len(b.SourceIDs)
	}
	s.waitSettled(backlogTimeout(n))

	c, err := sdk.New(api.url())
	if err != nil {
		t.Fatal(err)
	}
	changes, applied, err := c.ApplyBackends(ctx, doc, sdk.ApplyOpts{})
	var reindexID int64
	for _, ch := range changes {
		if ch.Name == rebuilt {
			reindexID = ch.ReindexID
		}
	}
	if err != nil || !applied || reindexID == 0 {
		t.Fatalf("applying the change: %+v, applied %v, %v", changes, applied, err)
	}
	start := time.Now()
	var lastKill time.Time
	for kills := 0; kills < 3; kills++ {
		b := pub.newBatch(50) // published during the rebuild: written to both generations
		if err := pub.send(ctx, b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(randDuration(s.rng, 200*time.Millisecond, time.Second))
		r, err := c.ReindexJob(ctx, reindexID)
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.kill(); err != nil {
			t.Fatal(err)
		}
		lastKill = time.Now()
		t.Logf("%v: SIGKILL %d of the worker, the rebuild %s at %d of %d", time.Since(start).Round(time.Millisecond),
			kills+1, r.State, r.Done, r.Total)
		worker.mustStart(t)
	}
	wctx, cancel := context.WithTimeout(ctx, rescueWindow+backlogTimeout(n))
	defer cancel()
	if r, err := c.WaitReindex(wctx, reindexID, nil); err != nil || r.State != sdk.ReindexSucceeded {
		t.Fatalf("the rebuild after the kills: %+v, %v", r, err)
	}
	ids := worker.riverIDs()
	s.waitRescued(ids[:len(ids)-1], lastKill.Add(rescueWindow))
	s.waitSettled(backlogTimeout(n))
	s.checkConsistentWith(added)
	want := 2 // the next generation
	if added != nil {
		want = 1 // the added backend's first
	} else if bad := s.mustCount(`SELECT count(*) FROM vec_vector WHERE vector_dims(embedding) <> 256`); bad != 0 {
		t.Errorf("vec_vector: %d rows without the new generation's vectors", bad)
	}
	var gen int
	if err := s.pool.QueryRow(ctx, `SELECT generation FROM backend_catalog WHERE name = $1 AND state = 'live'`, rebuilt).Scan(&gen); err != nil || gen != want {
		t.Errorf("backend %s's live generation: %d (%v), want %d", rebuilt, gen, err, want)
	}
	t.Logf("job errors by kind: %v", s.jobErrors())
}
