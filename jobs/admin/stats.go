package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// QueueStats is the state of one River queue.
type QueueStats struct {
	Name string
	// Jobs by River state.
	Available, Scheduled, Running, Retryable, Completed, Cancelled, Discarded, Pending int64
	// OldestAvailableAge is how long the oldest available job has been waiting; 0 when none is.
	OldestAvailableAge time.Duration
	// CompletedPerSecond is the rate of completions over the last minute.
	CompletedPerSecond float64
}

// queueStatsSQL counts jobs by queue and state. It reads River's job table, which River
// documents as its schema; River's client has no counting API.
const queueStatsSQL = `
SELECT queue,
       count(*) FILTER (WHERE state = 'available'),
       count(*) FILTER (WHERE state = 'scheduled'),
       count(*) FILTER (WHERE state = 'running'),
       count(*) FILTER (WHERE state = 'retryable'),
       count(*) FILTER (WHERE state = 'completed'),
       count(*) FILTER (WHERE state = 'cancelled'),
       count(*) FILTER (WHERE state = 'discarded'),
       count(*) FILTER (WHERE state = 'pending'),
       COALESCE(EXTRACT(EPOCH FROM now() - min(scheduled_at) FILTER (WHERE state = 'available')), 0)::float8,
       count(*) FILTER (WHERE state = 'completed' AND finalized_at > now() - interval '1 minute')
FROM river_job GROUP BY queue`

// Stats returns the state of every queue that has jobs, plus the queues named in known (with
// zero counts when empty), sorted by name.
func Stats(ctx context.Context, pool *pgxpool.Pool, known []string) ([]QueueStats, error) {
	rows, err := pool.Query(ctx, queueStatsSQL)
	if err != nil {
		return nil, fmt.Errorf("error reading queue stats: %w", err)
	}
	byName := map[string]QueueStats{}
	var (
		q          QueueStats
		oldest     float64
		lastMinute int64
	)
	_, err = pgx.ForEachRow(rows, []any{&q.Name, &q.Available, &q.Scheduled, &q.Running, &q.Retryable, &q.Completed,
		&q.Cancelled, &q.Discarded, &q.Pending, &oldest, &lastMinute}, func() error {
		q.OldestAvailableAge = time.Duration(oldest * float64(time.Second))
		q.CompletedPerSecond = float64(lastMinute) / 60
		byName[q.Name] = q
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error reading queue stats: %w", err)
	}
	for _, name := range known {
		if _, ok := byName[name]; !ok {
			byName[name] = QueueStats{Name: name}
		}
	}
	out := make([]QueueStats, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b QueueStats) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
