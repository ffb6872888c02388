package suites

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
)

// minKills is how many times each crash suite kills its process.
const minKills = 5

// randDuration returns a duration in [lo, hi).
func randDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// TestCrashWorker publishes records (and new versions of some of them) at a steady pace through
// an api process while the worker process is SIGKILLed at random points at least five times and
// restarted each time. Once River has rescued the dead processes' jobs, every record must be in
// every backend exactly once at its latest version, index_state must agree, and no job may be
// left running, retryable, discarded or cancelled.
func TestCrashWorker(t *testing.T) {
	t.Parallel()
	s := newSuite(t, pgtest.NewURL(t))
	crashWorker(t, s, configOpts{})
}

// crashWorker is TestCrashWorker on the suite s, its processes configured by o.
func crashWorker(t *testing.T, s *suite, o configOpts) {
	n := suiteRecords(t)
	cfg := s.writeConfig("osa", o)
	api := s.newProc("api", roleAPI, cfg)
	api.mustStart(t)
	worker := s.newProc("worker", roleWorker, cfg)
	worker.mustStart(t)
	s.countIndexWrites()

	// 80 calls of new records, 250ms apart (20s), and every fourth call followed by an update
	// of an earlier call's records, so some records reach version 2 or 3 while older versions
	// are still being indexed.
	const calls, interval = 80, 250 * time.Millisecond
	size := max(10, (n+calls-1)/calls)
	pub := newPublisher(api.url)
	pubRng := rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()))
	pubDone := make(chan error, 1)
	go func() {
		ctx := t.Context()
		var sent []*pubBatch
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for published := 0; published < n; {
			b := pub.newBatch(min(size, n-published))
			if err := pub.send(ctx, b); err != nil {
				pubDone <- err
				return
			}
			published += len(b.SourceIDs)
			sent = append(sent, b)
			if len(sent)%4 == 0 {
				u := pub.updateOf(sent[pubRng.IntN(len(sent))])
				if err := pub.send(ctx, u); err != nil {
					pubDone <- err
					return
				}
				sent = append(sent, u)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				pubDone <- ctx.Err()
				return
			}
		}
		pubDone <- nil
	}()

	start := time.Now()
	kills := 0
	var lastKill time.Time
	for publishing := true; publishing || kills < minKills; {
		select {
		case err := <-pubDone:
			if err != nil {
				t.Fatalf("publishing (the api process was never killed): %v", err)
			}
			publishing, pubDone = false, nil
			t.Logf("%v: all %d records published", time.Since(start).Round(time.Millisecond), n)
			continue
		case <-time.After(randDuration(s.rng, time.Second, 4*time.Second)):
		}
		ids := append([]string{""}, worker.riverIDs()...)
		running := s.mustCount(`SELECT count(*) FROM river_job WHERE state = 'running' AND attempted_by[cardinality(attempted_by)] = $1`, ids[len(ids)-1])
		if err := worker.kill(); err != nil {
			t.Fatal(err)
		}
		kills++
		lastKill = time.Now()
		t.Logf("%v: SIGKILL %d of the worker, with %d jobs running in it", time.Since(start).Round(time.Millisecond), kills, running)
		time.Sleep(randDuration(s.rng, 0, 500*time.Millisecond))
		worker.mustStart(t)
	}

	ids := worker.riverIDs()
	s.waitRescued(ids[:len(ids)-1], lastKill.Add(rescueWindow))
	t.Logf("every job of the killed lives taken again %v after the last kill (rescue window %v)",
		time.Since(lastKill).Round(time.Millisecond), rescueWindow)
	s.waitSettled(backlogTimeout(n))
	t.Logf("settled %v after the last kill", time.Since(lastKill).Round(time.Millisecond))
	s.checkConsistent()
	if committed, absent := checkPublished(t, s, pub); committed+absent != 0 {
		t.Errorf("%d batches were not acknowledged, though the api process was never killed", committed+absent)
	}
	if got := len(worker.riverIDs()); got != kills+1 {
		t.Errorf("the worker started River %d times, want %d (one per life)", got, kills+1)
	}
	if n := s.mustCount(`SELECT count(*) FROM river_job WHERE kind = 'osa_index_record' AND attempt > 1`); n > 0 {
		t.Logf("%d index jobs ran more than once (rescued after a kill)", n)
	}
	t.Logf("job errors by kind: %v", s.jobErrors())
	pairs, repeats := s.repeatedIndexWrites()
	// Expected, and harmless by the version guards: batches re-run after a kill, and jobs of an
	// older version writing the record's current version (see TestScaleOutUpdates).
	t.Logf("%d records were marked indexed again at a version they had (%d repeats)", pairs, repeats)
}

// TestCrashAPI publishes records through an api process that is SIGKILLed at least five times
// while PublishRecords calls are in flight, and restarted each time. Every acknowledged record
// must be stored and indexed; every unacknowledged call must be all or nothing.
func TestCrashAPI(t *testing.T) {
	t.Parallel()
	s := newSuite(t, pgtest.NewURL(t))
	n := suiteRecords(t)
	cfg := s.writeConfig("osa", configOpts{})
	api := s.newProc("api", roleAPI, cfg)
	api.mustStart(t)
	worker := s.newProc("worker", roleWorker, cfg)
	worker.mustStart(t)

	// Two publishers send calls of 100 new records, paced so that n records take about 8s; they
	// go on until n records are acknowledged and the killer is done. A failed call is not sent
	// again: it stays unacknowledged, and the database must hold all of it or none.
	const publishers, size = 2, 100
	interval := time.Duration(float64(8*time.Second) * publishers * size / float64(n))
	pub := newPublisher(api.url)
	var (
		inFlight   atomic.Int32
		killerDone atomic.Bool
		wg         sync.WaitGroup
		failures   atomic.Int32
	)
	ctx := t.Context()
	for range publishers {
		wg.Go(func() {
			for ctx.Err() == nil && (pub.ackedRecords() < n || !killerDone.Load()) {
				b := pub.newBatch(size)
				inFlight.Add(1)
				err := pub.send(ctx, b)
				inFlight.Add(-1)
				if err != nil {
					failures.Add(1)
				}
				time.Sleep(interval)
			}
		})
	}

	start := time.Now()
	for kills := 1; kills <= minKills; kills++ {
		time.Sleep(randDuration(s.rng, 500*time.Millisecond, 1500*time.Millisecond))
		// Strike while a call is in flight, at a random point of it.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if inFlight.Load() == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			time.Sleep(randDuration(s.rng, 0, 15*time.Millisecond))
			if inFlight.Load() > 0 {
				break
			}
		}
		calls := inFlight.Load()
		if err := api.kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: SIGKILL %d of the api, %d calls in flight", time.Since(start).Round(time.Millisecond), kills, calls)
		time.Sleep(randDuration(s.rng, 0, 300*time.Millisecond))
		api.mustStart(t)
	}
	killerDone.Store(true)
	wg.Wait()
	t.Logf("%v: %d records acknowledged, %d calls failed", time.Since(start).Round(time.Millisecond), pub.ackedRecords(), failures.Load())

	s.waitSettled(backlogTimeout(n))
	s.checkConsistent()
	committed, absent := checkPublished(t, s, pub)
	t.Logf("unacknowledged calls: %d committed in full, %d absent in full", committed, absent)
	if committed+absent == 0 {
		t.Error("no call was interrupted: the kills missed every call in flight")
	}
}
