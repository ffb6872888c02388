package indexstate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// freshnessSQL returns, per backend, the 95th percentile of the time from a version's commit
// (records.updated_at) to its indexing (index_state.indexed_at), over the records indexed since
// $1 whose current version is the one indexed, and how many there were. It reads every row of
// index_state (no index serves indexed_at): a status page's figure, not a hot path.
const freshnessSQL = `
SELECT s.backend,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM s.indexed_at - r.updated_at)),
       count(*)
FROM index_state s JOIN records r ON r.id = s.record_id
WHERE s.state = 'indexed' AND s.indexed_at >= $1 AND s.indexed_version = r.version AND s.indexed_at >= r.updated_at
GROUP BY s.backend`

// Freshness is how soon a backend indexes what is published.
type Freshness struct {
	// P95 is the 95th percentile of the time from a version's commit to its indexing.
	P95 time.Duration
	// Records is how many indexed versions it was measured over.
	Records int64
}

// FreshnessSince returns the freshness of every backend that indexed a record since since, by
// backend name.
func FreshnessSince(ctx context.Context, db DB, since time.Time) (map[string]Freshness, error) {
	rows, err := db.Query(ctx, freshnessSQL, since)
	if err != nil {
		return nil, fmt.Errorf("error measuring freshness: %w", err)
	}
	out := map[string]Freshness{}
	var (
		name string
		p95  float64
		n    int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &p95, &n}, func() error {
		out[name] = Freshness{P95: time.Duration(p95 * float64(time.Second)), Records: n}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error measuring freshness: %w", err)
	}
	return out, nil
}
