package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestNewClientZeroJobTimeout: JobTimeout 0 means River's default, as in River, and -1 no bound;
// a zero once made the fan-out gatherer panic.
func TestNewClientZeroJobTimeout(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	for _, timeout := range []time.Duration{0, -1} {
		if _, err := NewClient(pool, Config{FanOutWorkers: 8, TotalWorkers: 8, JobTimeout: timeout, Work: true}, nil); err != nil {
			t.Fatalf("JobTimeout %v: %v", timeout, err)
		}
	}
	for in, want := range map[time.Duration]time.Duration{0: river.JobTimeoutDefault / 2, -1: -1, time.Minute: 30 * time.Second} {
		if got := fanOutTimeout(in); got != want {
			t.Errorf("fanOutTimeout(%v) = %v, want %v", in, got, want)
		}
	}
}
