package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/backends/indexerr"
)

// levelCounter is a slog handler that counts records by level.
type levelCounter struct {
	mu *sync.Mutex
	n  map[slog.Level]int
}

func newLevelCounter() *levelCounter {
	return &levelCounter{mu: &sync.Mutex{}, n: map[slog.Level]int{}}
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Level]++
	c.mu.Unlock()
	return nil
}
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *levelCounter) WithGroup(string) slog.Handler      { return c }

func (c *levelCounter) count(l slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[l]
}

// testProvider returns a provider with delays 1s..30s on a clock the test moves, whose random
// draws are *r.
func testProvider(t *testing.T, r *float64) (*provider, *time.Time, *levelCounter) {
	t.Helper()
	logs := newLevelCounter()
	p := newProvider("vector", slog.New(logs), time.Second, 30*time.Second)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	p.rand = func() float64 { return *r }
	return p, &now, logs
}

func TestProviderDelay(t *testing.T) {
	t.Parallel()
	var r float64
	p, now, _ := testProvider(t, &r)
	ctx := context.Background()
	cause := errors.New("status 500")
	start := *now
	tests := []struct {
		after time.Duration // since the outage began
		rand  float64
		want  time.Duration
	}{
		{0, 0, time.Second},                      // the first failure: the minimum
		{0, 0.999999, 800 * time.Millisecond},    // less up to 20%
		{500 * time.Millisecond, 0, time.Second}, // still the minimum
		{3 * time.Second, 0, 3 * time.Second},    // as long as the outage so far
		{3 * time.Second, 0.5, 2700 * time.Millisecond},
		{29 * time.Second, 0, 29 * time.Second},
		{31 * time.Second, 0, 30 * time.Second}, // capped
		{time.Hour, 0, 30 * time.Second},
		{time.Hour, 0.999999, 24 * time.Second}, // never above the cap
	}
	for _, tt := range tests {
		*now, r = start.Add(tt.after), tt.rand
		o := p.failed(ctx, *now, cause)
		if diff := o.delay - tt.want; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("%v into the outage, rand %v: delay %v, want %v", tt.after, tt.rand, o.delay, tt.want)
		}
		if !o.since.Equal(start) {
			t.Errorf("%v into the outage: since %v, want %v", tt.after, o.since, start)
		}
		if got := p.downFor(); got != max(tt.after, time.Nanosecond) {
			t.Errorf("%v into the outage: downFor %v", tt.after, got)
		}
	}
}

func TestProviderStateChanges(t *testing.T) {
	t.Parallel()
	var r float64
	p, now, logs := testProvider(t, &r)
	ctx := context.Background()
	cause := errors.New("connection refused")
	step := func(d time.Duration) time.Time { *now = now.Add(d); return *now }

	if p.known(*now) || p.downFor() != 0 {
		t.Fatal("a new provider is not up")
	}
	p.succeeded(ctx) // up already: nothing to log
	step(time.Second)
	for range 5 {
		p.failed(ctx, step(time.Second), cause)
	}
	if w := logs.count(slog.LevelWarn); w != 1 || !p.known(*now) || p.downFor() != 4*time.Second {
		t.Fatalf("after 5 failed batches: %d WARN lines, known %v, down for %v; want 1, true, 4s", w, p.known(*now), p.downFor())
	}

	callStarted := step(time.Second) // a call in flight when the provider comes back
	ended := step(time.Second)
	p.succeeded(ctx)
	p.succeeded(ctx)
	if i := logs.count(slog.LevelInfo); i != 1 || p.downFor() != 0 {
		t.Fatalf("after the provider came back: %d INFO lines, down for %v; want 1 and 0", i, p.downFor())
	}
	if !p.known(callStarted) || p.known(ended.Add(time.Nanosecond)) {
		t.Fatal("known: a call that started before the outage ended belongs to it, a later one does not")
	}
	// The call in flight fails late: it belongs to the ended outage and begins no new one.
	o := p.failed(ctx, callStarted, cause)
	if !o.since.Equal(ended) || o.delay > time.Second || p.downFor() != 0 || logs.count(slog.LevelWarn) != 1 {
		t.Fatalf("late failure of a call of the ended outage: %+v, down for %v, %d WARN lines; want a short delay and no new outage",
			o, p.downFor(), logs.count(slog.LevelWarn))
	}
	// A call made after the end fails: a new outage, from the minimum again.
	again := step(time.Minute)
	o = p.failed(ctx, again, cause)
	if !o.since.Equal(again) || o.delay != time.Second || logs.count(slog.LevelWarn) != 2 {
		t.Fatalf("a new outage: %+v, %d WARN lines; want since %v, delay 1s, 2 WARN lines", o, logs.count(slog.LevelWarn), again)
	}
}

// Outage delays that cannot work are refused when the pipeline registers, naming both settings;
// zero means the default.
func TestConfigOutageDelays(t *testing.T) {
	t.Parallel()
	for _, d := range [][2]time.Duration{{-time.Second, time.Second}, {2 * time.Second, time.Second}} {
		err := Config{OutageRetryMin: d[0], OutageRetryMax: d[1]}.WithDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), "OutageRetryMin") || !strings.Contains(err.Error(), "OutageRetryMax") {
			t.Errorf("OutageRetryMin %v, OutageRetryMax %v: %v, want an error naming both", d[0], d[1], err)
		}
	}
	if c := (Config{OutageRetryMax: 500 * time.Millisecond}).WithDefaults(); c.OutageRetryMin != 500*time.Millisecond || c.validate() != nil {
		t.Errorf("OutageRetryMax 500ms alone: min %v, %v; want the min lowered to it", c.OutageRetryMin, c.validate())
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("status 503"), true},
		{fmt.Errorf("embedding: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("embedding: %w", context.Canceled), false},
		{indexerr.Permanentf("input rejected"), false},
		{&indexerr.RateLimitError{RetryAfter: time.Second, Err: errors.New("429")}, false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestOutageErrorMessage(t *testing.T) {
	t.Parallel()
	cause := errors.New("openai: POST /v1/embeddings: status 500")
	err := error(&outageError{err: cause, since: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), delay: 7900 * time.Millisecond})
	want := "embedding provider unavailable since 2025-01-01T12:00:00Z, next try in 7.9s: openai: POST /v1/embeddings: status 500"
	if err.Error() != want || !errors.Is(err, cause) || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("outageError = %q, want %q wrapping its cause", err, want)
	}
}
