package jobs_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/jobs"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/records"
)

// The messages the indexer logs when a provider outage begins and ends.
const (
	msgProviderDown = "jobs: embedding provider down"
	msgProviderBack = "jobs: embedding provider back"
)

// Outage timing of the tests: short, so an outage of a few seconds reaches the cap.
const (
	testRetryMin = 250 * time.Millisecond
	testRetryMax = time.Second
)

// logRecorder is a slog handler that keeps the message of every record at INFO or above, and
// passes the records on to t.Log when the tests are verbose.
type logRecorder struct {
	next slog.Handler // nil: none

	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder(t *testing.T) *logRecorder {
	r := &logRecorder{mu: &sync.Mutex{}, msgs: new([]string)}
	if testing.Verbose() {
		r.next = slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	return r
}

// count returns how many records had a message starting with prefix.
func (r *logRecorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range *r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	*r.msgs = append(*r.msgs, rec.Message)
	r.mu.Unlock()
	if r.next != nil {
		return r.next.Handle(ctx, rec)
	}
	return nil
}

func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	if c.next != nil {
		c.next = c.next.WithAttrs(as)
	}
	return &c
}

func (r *logRecorder) WithGroup(name string) slog.Handler {
	c := *r
	if c.next != nil {
		c.next = c.next.WithGroup(name)
	}
	return &c
}

// snoozesBound is the most snoozes a job can take in an outage of length d when every delay is
// at least 80% of the outage so far, clamped to [minDelay, maxDelay]: the first try at the
// outage's start, then each try after the shortest delay. Two more allow for a try in flight
// when the provider came back and for rounding.
func snoozesBound(d, minDelay, maxDelay time.Duration) int {
	n := 0
	for at := time.Duration(0); at <= d; n++ {
		at += time.Duration(0.8 * float64(min(max(at, minDelay), maxDelay)))
	}
	return n + 2
}

// TestProviderOutage takes the vector backend's provider down while records are published, in
// each way a provider can be down, then brings it back. While it is down, the jobs wait
// (snoozed or running, never retryable or failed), scheduled at most the cap ahead, with the
// reason in index_state, the outage logged once. Once it is back, every record is indexed
// within the cap plus slack, at the first attempt (River's own backoff would have taken an
// attempt and 16 s), and the end of the outage is logged once.
func TestProviderOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode int
	}{
		{"ConnectionRefused", providerRefused},
		{"Status500", providerDown},
		{"Timeout", providerHung},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testProviderOutage(t, tt.mode)
		})
	}
}

func testProviderOutage(t *testing.T, mode int) {
	const (
		published = 200
		outage    = 3 * time.Second
		// slack covers River's fetch poll (200ms), the batch delay (50ms), the batch itself and
		// a loaded machine.
		slack = 3 * time.Second
	)
	ctx := context.Background()
	fp := newFakeProvider(t)
	logs := newLogRecorder(t)
	var (
		mu                    sync.Mutex
		maxOutage, lastOutage time.Duration // BatchStats.Outage of the vector batches
	)
	p := newPipeline(t, pipelineOpts{
		embedder: fp.embedder(300*time.Millisecond, 0),
		logger:   slog.New(logs),
		mutate: func(c *jobs.Config) {
			c.Pipeline.OutageRetryMin, c.Pipeline.OutageRetryMax = testRetryMin, testRetryMax
			c.RetryPolicy = nil // River's attempt⁴ backoff: a retry the outage caused would show
			c.Pipeline.OnBatch = func(st pipeline.BatchStats) {
				if st.Backend == "vector" {
					mu.Lock()
					maxOutage, lastOutage = max(maxOutage, st.Outage), st.Outage
					mu.Unlock()
				}
			}
		},
	})

	fp.setMode(t, mode)
	down := time.Now()
	res := p.publish(t, published, records.PriorityInteractive)
	p.waitSettled(t, "keyword", 30*time.Second)
	waitFor(t, 30*time.Second, "every vector record to wait for the provider", func() bool {
		return p.count(t, `SELECT count(*) FROM index_state WHERE backend = 'vector' AND state = 'pending'
			AND last_error LIKE '%embedding provider unavailable since%'`) == published
	})
	time.Sleep(outage - time.Since(down)) // the outage goes on

	// Down: nothing indexed, nothing failed, no attempt used, every job due within the cap.
	if n := p.count(t, `SELECT count(*) FROM vec_vector`); n != 0 {
		t.Fatalf("%d records indexed while the provider was down", n)
	}
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector'
		AND (state NOT IN ('available', 'scheduled', 'running') OR attempt > 1 OR cardinality(errors) > 0)`); n != 0 {
		t.Fatalf("%d vector jobs retried, failed or charged an attempt while the provider was down", n)
	}
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector'
		AND scheduled_at > now() + make_interval(secs => $1)`, (testRetryMax + 100*time.Millisecond).Seconds()); n != 0 {
		t.Fatalf("%d vector jobs scheduled further ahead than the cap %v", n, testRetryMax)
	}
	_, st, err := p.store.IndexStatus(ctx, p.store.SRN(res[0].Record), []string{"vector"})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != indexstate.Pending || st[0].Attempts != 0 || !strings.Contains(st[0].LastError, "embedding provider unavailable") {
		t.Fatalf("vector status while down: %+v, want pending, no attempt, the outage as last error", st[0])
	}
	if d, b := logs.count(msgProviderDown), logs.count(msgProviderBack); d != 1 || b != 0 {
		t.Fatalf("while down: %q logged %d times and %q %d times, want 1 and 0", msgProviderDown, d, msgProviderBack, b)
	}

	fp.setMode(t, providerUp)
	up := time.Now()
	p.waitSettled(t, "vector", testRetryMax+slack)
	recovery := time.Since(up)
	waitFor(t, 10*time.Second, "every job completed", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE state <> 'completed'`) == 0
	})
	var minSnoozes, maxSnoozes int
	if err := p.pool.QueryRow(ctx, `SELECT min(s), max(s) FROM (SELECT COALESCE((metadata->>'snoozes')::int, 0) AS s
		FROM river_job WHERE queue = 'index_vector') j`).Scan(&minSnoozes, &maxSnoozes); err != nil {
		t.Fatal(err)
	}
	calls := fp.count(500) + fp.count(0)
	t.Logf("provider down %v (%d calls failed or refused): indexed %v after it came back (cap %v); each job snoozed %d..%d times",
		up.Sub(down).Round(time.Millisecond), calls, recovery.Round(time.Millisecond), testRetryMax, minSnoozes, maxSnoozes)

	p.checkBackendRows(t, "vec_vector")
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE kind = 'osa_index_record' AND (attempt <> 1 OR cardinality(errors) > 0)`); n != 0 {
		t.Errorf("%d index jobs used more than one attempt or recorded an error", n)
	}
	if n := p.count(t, `SELECT count(*) FROM index_state WHERE attempts <> 1 OR last_error IS NOT NULL`); n != 0 {
		t.Errorf("index_state: %d records with attempts other than 1 or an error left", n)
	}
	if bound := snoozesBound(up.Sub(down), testRetryMin, testRetryMax); minSnoozes < 1 || maxSnoozes > bound {
		t.Errorf("vector jobs snoozed %d..%d times, want 1..%d: the outage must neither burn attempts nor spin", minSnoozes, maxSnoozes, bound)
	}
	if d, b := logs.count(msgProviderDown), logs.count(msgProviderBack); d != 1 || b != 1 {
		t.Errorf("%q logged %d times and %q %d times, want once each", msgProviderDown, d, msgProviderBack, b)
	}
	// The provider was tried at least every cap, a timed-out call and a probe (1.8s): a batch
	// failed well after the outage began.
	mu.Lock()
	defer mu.Unlock()
	if maxOutage < outage/6 || lastOutage != 0 {
		t.Errorf("BatchStats.Outage reached %v and ended at %v, want at least %v and then 0", maxOutage, lastOutage, outage/6)
	}
}

// A provider that fails on the text of one record (500 to every call holding it) while it
// embeds the others is not an outage: that record's job retries with backoff, using its
// attempts until it is discarded, and the others are indexed at once. When the job comes back
// alone in its batch, the indexer probes the provider, finds it answering and retries likewise.
func TestProviderErrorOfOneTextRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fp := newFakeProvider(t)
	logs := newLogRecorder(t)
	p := newPipeline(t, pipelineOpts{
		embedder: fp.embedder(0, 1), // one text a call, so only the flaky text's call fails
		logger:   slog.New(logs),
		mutate: func(c *jobs.Config) {
			c.Pipeline.Backends[0].MaxAttempts = 3
			c.Pipeline.OutageRetryMin, c.Pipeline.OutageRetryMax = testRetryMin, testRetryMax
		},
	})
	params := []records.PublishParams{{Metadata: meta(0, textFlaky)}}
	for i := 1; i < 20; i++ {
		params = append(params, records.PublishParams{Metadata: meta(i, "")})
	}
	res, err := p.store.Publish(ctx, params, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	flaky := res[0].Record.ID

	waitFor(t, 30*time.Second, "the flaky record's job to be discarded", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'discarded'`) == 1
	})
	p.waitSettled(t, "keyword", 10*time.Second)
	waitFor(t, 10*time.Second, "the other vector jobs completed", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'completed'`) == 19
	})

	var (
		jobState               string
		attempt, errs, snoozes int
	)
	if err := p.pool.QueryRow(ctx, `SELECT state::text, attempt, cardinality(errors), COALESCE((metadata->>'snoozes')::int, 0)
		FROM river_job WHERE queue = 'index_vector' AND args->>'record_id' = $1`, flaky.String()).Scan(&jobState, &attempt, &errs, &snoozes); err != nil {
		t.Fatal(err)
	}
	if jobState != "discarded" || attempt != 3 || errs != 3 || snoozes != 0 {
		t.Errorf("flaky record's job: %s at attempt %d with %d errors and %d snoozes, want discarded at 3 with 3 errors, no snooze",
			jobState, attempt, errs, snoozes)
	}
	_, st, err := p.store.IndexStatus(ctx, p.store.SRN(res[0].Record), []string{"vector"})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != indexstate.Failed || st[0].Attempts != 3 || !strings.Contains(st[0].LastError, "status 500") {
		t.Errorf("flaky record's vector status: %+v, want failed after 3 attempts with the 500", st[0])
	}
	others := p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'completed'
		AND attempt = 1 AND COALESCE((metadata->>'snoozes')::int, 0) = 0`)
	if others != 19 || p.count(t, `SELECT count(*) FROM vec_vector`) != 19 {
		t.Errorf("%d other records indexed at the first attempt without a snooze, want 19", others)
	}
	if n := logs.count(msgProviderDown); n != 0 {
		t.Errorf("%q logged %d times for the error of one text", msgProviderDown, n)
	}
	if n := fp.probeCalls(); n < 2 {
		t.Errorf("the provider was probed %d times, want at least 2 (the retries alone in their batch)", n)
	}
}

// An input the provider rejects (400) is a permanent error of its record: the job is cancelled
// at its first attempt, alone in its batch or not, the others are indexed, and no outage is
// suspected (no snooze, no probe).
func TestProviderPermanentErrorCancels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fp := newFakeProvider(t)
	logs := newLogRecorder(t)
	p := newPipeline(t, pipelineOpts{
		embedder: fp.embedder(0, 0),
		logger:   slog.New(logs),
		mutate: func(c *jobs.Config) {
			c.Pipeline.OutageRetryMin, c.Pipeline.OutageRetryMax = testRetryMin, testRetryMax
		},
	})
	params := []records.PublishParams{{Metadata: meta(0, textPoison)}}
	for i := 1; i < 20; i++ {
		params = append(params, records.PublishParams{Metadata: meta(i, "")})
	}
	if _, err := p.store.Publish(ctx, params, records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the first poisoned job cancelled", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'cancelled'`) == 1
	})
	// A batch of the poisoned record alone.
	if _, err := p.store.Publish(ctx, []records.PublishParams{{Metadata: meta(20, textPoison)}}, records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "both poisoned jobs cancelled and the others completed", func() bool {
		return p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'cancelled'`) == 2 &&
			p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector' AND state = 'completed'`) == 19
	})
	if n := p.count(t, `SELECT count(*) FROM river_job WHERE queue = 'index_vector'
		AND (attempt <> 1 OR COALESCE((metadata->>'snoozes')::int, 0) <> 0)`); n != 0 {
		t.Errorf("%d vector jobs took more than one attempt or snoozed", n)
	}
	if n := p.count(t, `SELECT count(*) FROM index_state WHERE backend = 'vector' AND state = 'failed' AND attempts = 1
		AND last_error LIKE '%input rejected%'`); n != 2 {
		t.Errorf("%d poisoned records failed at the first attempt with the rejection, want 2", n)
	}
	if n := p.count(t, `SELECT count(*) FROM vec_vector`); n != 19 {
		t.Errorf("%d records in vec_vector, want 19", n)
	}
	if d, probes := logs.count(msgProviderDown), fp.probeCalls(); d != 0 || probes != 0 {
		t.Errorf("%q logged %d times and %d probes for permanent errors, want none", msgProviderDown, d, probes)
	}
}
