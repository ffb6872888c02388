package jobs_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/jobs/reindex"
	"github.com/osa-archive/osa/records"
)

// A rebuild of 10,000 records while records are published and searched: searches never fail or
// come back empty, interactive records are indexed promptly, and afterwards every record is in
// the new table at its current version.
func TestReindexWhileServing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPipeline(t, pipelineOpts{})
	vec := p.cfg.Pipeline.Backends[0].Backend
	const n = 10000
	// The records, stored without indexing; a first rebuild fills the live table (and is itself
	// checked: afterwards every record is indexed).
	quiet := records.NewStore(p.pool, func(context.Context, pgx.Tx, []records.Change, int) error { return nil }, records.StoreConfig{Domain: testDomain})
	for start := 0; start < n; start += 1000 {
		var params []records.PublishParams
		for i := start; i < start+1000; i++ {
			params = append(params, records.PublishParams{Metadata: meta(i, "")})
		}
		if _, err := quiet.Publish(ctx, params, records.PriorityBulk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO index_state (record_id, backend, version, state)
		SELECT id, 'vector', version, 'pending' FROM records`); err != nil {
		t.Fatal(err)
	}
	first, err := reindex.Start(ctx, p.client, p.pool, vec, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the first rebuild", func() bool {
		got, err := reindex.Get(ctx, p.pool, first.ID)
		return err == nil && got.State == reindex.Succeeded
	})
	p.waitSettled(t, "vector", 30*time.Second)

	start := time.Now()
	r, err := reindex.Start(ctx, p.client, p.pool, vec, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := reindex.Start(ctx, p.client, p.pool, vec, 0); err != nil || again.ID != r.ID {
		t.Fatalf("a second start = %+v, %v; want the running rebuild %d", again, err, r.ID)
	}
	if r.Total != n || r.State != reindex.Running {
		t.Fatalf("started %+v, want running over %d records", r, n)
	}

	// Searches and interactive publishes while the rebuild runs.
	var (
		stop        atomic.Bool
		searches    atomic.Int64
		wg          sync.WaitGroup
		searchErr   error
		publishWait []time.Duration
		published   int
	)
	wg.Go(func() {
		for !stop.Load() {
			hits, err := vec.Search(ctx, p.pool, backends.Query{Text: "gene expression in tissue", Limit: 10, EfSearch: 40})
			if err == nil && len(hits) == 0 {
				err = errEmpty
			}
			if err != nil {
				searchErr = err
				return
			}
			searches.Add(1)
		}
	})
	for {
		got, err := reindex.Get(ctx, p.pool, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != reindex.Running {
			r = got
			break
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("rebuild still running after 3 minutes: %+v", got)
		}
		res := p.publish(t, 1, records.PriorityInteractive)
		published++
		t0 := time.Now()
		waitFor(t, 30*time.Second, "an interactive record indexed during the rebuild", func() bool {
			return p.count(t, `SELECT count(*) FROM vec_vector WHERE record_id = $1`, res[0].Record.ID) == 1
		})
		publishWait = append(publishWait, time.Since(t0))
	}
	stop.Store(true)
	wg.Wait()
	if searchErr != nil {
		t.Fatalf("a search during the rebuild failed: %v", searchErr)
	}
	if r.State != reindex.Succeeded || r.Done < n || r.FinishedAt == nil {
		t.Fatalf("rebuild ended %+v", r)
	}
	var worst time.Duration
	for _, d := range publishWait {
		worst = max(worst, d)
	}
	t.Logf("rebuild of %d records took %v; %d searches ran meanwhile; %d interactive records indexed, slowest after %v",
		n, time.Since(start).Round(time.Millisecond), searches.Load(), published, worst)
	if published == 0 || searches.Load() == 0 {
		t.Fatal("nothing ran during the rebuild: the test proved nothing")
	}
	// One batch delay (50 ms here) plus the fan-out and the write; a rebuild must not hold them up
	// by more than a second.
	if worst > time.Second {
		t.Fatalf("an interactive record took %v to be indexed during the rebuild", worst)
	}

	if n := p.count(t, `SELECT count(*) FROM pg_class WHERE relname = 'vec_vector_shadow'`); n != 0 {
		t.Fatal("the shadow table is still there after the swap")
	}
	p.waitSettled(t, "vector", 30*time.Second)
	p.checkBackendRows(t, "vec_vector")
	if got := p.count(t, `SELECT count(*) FROM vec_vector`); got != n+published {
		t.Fatalf("vec_vector has %d rows after the rebuild, want %d", got, n+published)
	}
}

type emptyErr struct{}

func (emptyErr) Error() string { return "a search returned no hits" }

var errEmpty = emptyErr{}
