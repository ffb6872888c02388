package search

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
)

// healthTimeout bounds one backend's health check.
const healthTimeout = 2 * time.Second

// BackendInfo describes one backend and where its records stand.
type BackendInfo struct {
	Name, Kind, Model string
	Dims              int
	// Indexed, Pending and Failed count records by their index_state in this backend. A record
	// counts as pending once its fan-out has run.
	Indexed, Pending, Failed int64
	Healthy                  bool
	Queue                    string
}

const countsSQL = `
SELECT backend,
       count(*) FILTER (WHERE state = 'indexed'),
       count(*) FILTER (WHERE state = 'pending'),
       count(*) FILTER (WHERE state = 'failed')
FROM index_state GROUP BY backend`

// Backends lists the configured backends with their counts and health, in configuration order.
func (s *Service) Backends(ctx context.Context) ([]BackendInfo, error) {
	rows, err := s.pool.Query(ctx, countsSQL)
	if err != nil {
		return nil, err
	}
	counts := map[string][3]int64{}
	var (
		name string
		c    [3]int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &c[0], &c[1], &c[2]}, func() error {
		counts[name] = c
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]BackendInfo, len(s.backends))
	for i, b := range s.backends {
		hctx, cancel := context.WithTimeout(ctx, healthTimeout)
		healthy := b.Health(hctx, s.pool) == nil
		cancel()
		c := counts[b.Name()]
		out[i] = BackendInfo{Name: b.Name(), Kind: b.Kind(), Model: b.Model(), Dims: b.Dims(),
			Indexed: c[0], Pending: c[1], Failed: c[2], Healthy: healthy, Queue: backends.Queue(b.Name())}
	}
	return out, nil
}
