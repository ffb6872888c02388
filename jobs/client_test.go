package jobs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/jobs"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// TestNewClientZeroJobTimeout: JobTimeout 0 means River's default, as in River, and -1 no bound;
// a zero once made the fan-out gatherer panic.
func TestNewClientZeroJobTimeout(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	for _, timeout := range []time.Duration{0, -1} {
		cfg := jobs.Config{Pipeline: pipeline.Config{FanOutWorkers: 8, TotalWorkers: 8}, JobTimeout: timeout, Work: true}
		if _, err := jobs.NewClient(pool, cfg, nil); err != nil {
			t.Fatalf("JobTimeout %v: %v", timeout, err)
		}
	}
}

// A setting that cannot work is refused with its name before River is built.
func TestNewClientRefusesBadSettings(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	for name, cfg := range map[string]jobs.Config{
		"SoftStopTimeout": {SoftStopTimeout: -time.Second},
		"OutageRetryMin":  {Pipeline: pipeline.Config{OutageRetryMin: time.Minute, OutageRetryMax: time.Second}, Work: true},
	} {
		if _, err := jobs.NewClient(pool, cfg, nil); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("NewClient with a bad %s: %v, want an error naming it", name, err)
		}
	}
}
