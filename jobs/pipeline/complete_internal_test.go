package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/internal/pgtest"
)

// completeArgs is a job completed in its worker's transaction, by completeManyTx when Raw, else
// by river.JobCompleteTx.
type completeArgs struct {
	Raw bool `json:"raw"`
}

func (completeArgs) Kind() string { return "osa_test_complete" }

type completeWorker struct {
	river.WorkerDefaults[completeArgs]
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
}

func (w *completeWorker) Work(ctx context.Context, job *river.Job[completeArgs]) error {
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if job.Args.Raw {
			return completeManyTx(ctx, w.client, tx, []*river.Job[completeArgs]{job})
		}
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}

// The raw completion of a fan-out batch (complete.go) leaves a job exactly as the public
// river.JobCompleteTx does, and River's own completion after Work leaves both alone. It guards
// the one call of River's driver package against a River upgrade that changes what completing
// means.
func TestCompleteManyTxMatchesJobCompleteTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	w := &completeWorker{pool: pool}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.client = client
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	raw, err := client.Insert(ctx, completeArgs{Raw: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	public, err := client.Insert(ctx, completeArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := client.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	for range 2 {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("job %d (%s): %s, want completed", ev.Job.ID, ev.Job.EncodedArgs, ev.Kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the jobs did not complete within 10 s")
		}
	}

	// Every column a completion sets or keeps, the times as whether they are set.
	row := func(id int64) string {
		t.Helper()
		var out string
		if err := pool.QueryRow(ctx, `SELECT json_build_object('state', state, 'attempt', attempt, 'max_attempts', max_attempts,
			'errors', errors, 'metadata', metadata, 'finalized', finalized_at IS NOT NULL, 'attempted', attempted_at IS NOT NULL,
			'finalized_after_attempt', finalized_at >= attempted_at, 'attempted_by', cardinality(attempted_by),
			'priority', priority, 'queue', queue, 'tags', tags, 'unique_key', unique_key)::text
			FROM river_job WHERE id = $1`, id).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, want := row(raw.Job.ID), row(public.Job.ID)
	if got != want {
		t.Fatalf("completed by completeManyTx:\n  %s\nby river.JobCompleteTx:\n  %s", got, want)
	}
	var st struct{ State rivertype.JobState }
	if err := json.Unmarshal([]byte(got), &st); err != nil || st.State != rivertype.JobStateCompleted {
		t.Fatalf("state %q (%v), want completed", st.State, err)
	}

	// A job that is not running is refused, and nothing is written.
	job := &river.Job[completeArgs]{JobRow: &rivertype.JobRow{ID: raw.Job.ID, State: rivertype.JobStateAvailable}}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return completeManyTx(ctx, client, tx, []*river.Job[completeArgs]{job})
	})
	if err == nil {
		t.Fatal("completeManyTx of an available job: no error")
	}
}
