package reindex

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// A rebuild's job that reaches a process without its backend (one not yet restarted with the
// configuration that added it) snoozes for a process that has it, without using an attempt, for
// Config.NotHereSnooze.
func TestReindexJobOnProcessWithoutBackend(t *testing.T) {
	t.Parallel()
	x := &reindexer{cfg: Config{NotHereSnooze: 3 * time.Second}, backends: map[string]Target{}, logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	for name, work := range map[string]func() error{
		"chunk": func() error {
			return (&ChunkWorker{x: x}).Work(ctx, &river.Job[ChunkArgs]{Args: ChunkArgs{Backend: "vector2"}})
		},
		"finish": func() error {
			return (&FinishWorker{x: x}).Work(ctx, &river.Job[FinishArgs]{Args: FinishArgs{Backend: "vector2"}})
		},
	} {
		var snooze *river.JobSnoozeError
		if err := work(); !errors.As(err, &snooze) || snooze.Duration != x.cfg.NotHereSnooze {
			t.Errorf("%s job for a backend this process lacks: %v, want a snooze of %v", name, err, x.cfg.NotHereSnooze)
		}
	}
}
