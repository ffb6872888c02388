package suites

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestScaleOut runs one api and three worker processes on one database. Half the records are
// published as fast as the api takes them: each worker must do more than 15% of the jobs. The
// other half is published while one worker is stopped gracefully (SIGTERM): nothing may be
// lost, and no record may be indexed twice at the same version — every job is worked exactly
// once, by one process, at its first attempt, and marks its record indexed once.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	scaleOut(t, false)
}

// scaleOut is [TestScaleOut]; with updates, the second half also publishes new versions of
// records published a moment before, so batches on different workers often hold the same
// record (scaleout_updates_test.go).
func scaleOut(t *testing.T, updates bool) {
	s := newSuite(t, pgtest.NewURL(t))
	n := suiteRecords(t)
	// Small per-process budgets (32 jobs per index queue, 16 fan-outs), so no process can take
	// a whole backlog in one fetch.
	cfg := s.writeConfig("osa", configOpts{totalWorkers: 64, fanoutWorkers: 16, batchSize: 32})
	api := s.newProc("api", roleAPI, cfg)
	api.mustStart(t)
	s.countIndexWrites()
	workers := make([]*proc, 3)
	var (
		wg       sync.WaitGroup
		startErr = make([]error, len(workers))
	)
	for i := range workers {
		workers[i] = s.newProc(fmt.Sprintf("worker-%d", i+1), roleWorker, cfg)
		wg.Go(func() { startErr[i] = workers[i].start() }) // at once, as a deployment starts them
	}
	wg.Wait()
	for i, err := range startErr {
		if err != nil {
			t.Fatalf("%v\n%s", err, workers[i].logTail(40))
		}
	}
	ctx := t.Context()
	pub := newPublisher(api.url)

	// Phase 1: the work spreads.
	start := time.Now()
	for published := 0; published < n/2; published += 250 {
		if err := pub.send(ctx, pub.newBatch(min(250, n/2-published))); err != nil {
			t.Fatal(err)
		}
	}
	s.waitSettled(backlogTimeout(n / 2))
	t.Logf("%d records published and indexed by three workers in %v", n/2, time.Since(start).Round(time.Millisecond))
	shares := s.jobShares(workers)
	t.Logf("jobs by worker: %s", shares)
	for i, w := range workers {
		if shares.share(i) <= 0.15 {
			t.Errorf("%s did %.1f%% of the jobs, want more than 15%%", w.name, 100*shares.share(i))
		}
	}

	// Phase 2: worker-3 stops gracefully while records keep coming.
	pubErr := make(chan error, 1)
	go func() {
		var prev *pubBatch
		for published := 0; published < n-n/2; published += 100 {
			b := pub.newBatch(min(100, n-n/2-published))
			if err := pub.send(ctx, b); err != nil {
				pubErr <- err
				return
			}
			if updates && prev != nil {
				if err := pub.send(ctx, pub.updateOf(prev)); err != nil {
					pubErr <- err
					return
				}
			}
			prev = b
			time.Sleep(50 * time.Millisecond)
		}
		pubErr <- nil
	}()
	time.Sleep(time.Second)
	running := s.mustCount(`SELECT count(*) FROM river_job WHERE state = 'running' AND attempted_by[cardinality(attempted_by)] = ANY($1)`,
		workers[2].riverIDs())
	stopping := time.Now()
	if err := workers[2].stop(20 * time.Second); err != nil {
		t.Errorf("stopping %s: %v", workers[2].name, err)
	}
	t.Logf("%s stopped gracefully in %v, with %d jobs running in it at SIGTERM", workers[2].name,
		time.Since(stopping).Round(time.Millisecond), running)
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	s.waitSettled(backlogTimeout(n - n/2))
	t.Logf("jobs by worker in the end: %s", s.jobShares(workers))

	s.checkConsistent()
	if committed, absent := checkPublished(t, s, pub); committed+absent != 0 {
		t.Errorf("%d calls were not acknowledged", committed+absent)
	}
	var jobs, once int
	err := s.pool.QueryRow(ctx, `SELECT count(*)::int,
		count(*) FILTER (WHERE attempt = 1 AND cardinality(attempted_by) = 1 AND COALESCE(cardinality(errors), 0) = 0)::int
		FROM river_job`).Scan(&jobs, &once)
	if err != nil {
		t.Fatal(err)
	}
	if once != jobs {
		t.Errorf("%d of %d jobs were worked more than once or failed an attempt; errors by kind: %v\n%s", jobs-once, jobs, s.jobErrors(), s.jobReport())
	}
	if pairs, repeats := s.repeatedIndexWrites(); pairs != 0 {
		t.Errorf("%d record versions were indexed twice in a backend (%d repeats)", pairs, repeats)
	}
}

// shares counts the jobs each worker completed.
type shares struct {
	names  []string
	counts []int
	other  int // by no known worker
	total  int
}

func (sh shares) share(i int) float64 { return float64(sh.counts[i]) / float64(max(sh.total, 1)) }

func (sh shares) String() string {
	var parts []string
	for i, name := range sh.names {
		parts = append(parts, fmt.Sprintf("%s %d (%.1f%%)", name, sh.counts[i], 100*sh.share(i)))
	}
	if sh.other > 0 {
		parts = append(parts, fmt.Sprintf("unknown %d", sh.other))
	}
	return strings.Join(parts, ", ")
}

// jobShares counts the completed jobs by the worker whose River client completed them (the last
// of river_job.attempted_by).
func (s *suite) jobShares(workers []*proc) shares {
	s.t.Helper()
	owner := map[string]int{}
	sh := shares{counts: make([]int, len(workers))}
	for i, w := range workers {
		sh.names = append(sh.names, w.name)
		for _, id := range w.riverIDs() {
			owner[id] = i
		}
	}
	rows, err := s.pool.Query(context.Background(), `SELECT attempted_by[cardinality(attempted_by)], count(*)::int
		FROM river_job WHERE state = 'completed' GROUP BY 1`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			s.t.Fatal(err)
		}
		sh.total += n
		if i, ok := owner[id]; ok {
			sh.counts[i] += n
		} else {
			sh.other += n
		}
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return sh
}
