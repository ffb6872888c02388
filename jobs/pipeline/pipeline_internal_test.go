package pipeline

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// JobTimeout 0 means River's default, as in River, and -1 no bound; a zero once made the fan-out
// gatherer panic.
func TestFanOutTimeout(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]time.Duration{0: river.JobTimeoutDefault / 2, -1: -1, time.Minute: 30 * time.Second} {
		if got := fanOutTimeout(in); got != want {
			t.Errorf("fanOutTimeout(%v) = %v, want %v", in, got, want)
		}
	}
}
