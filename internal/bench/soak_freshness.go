package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// freshnessTracker measures the freshness of every record version the soak publishes while the
// load goes on: each version waits in pending until every backend has indexed it, then becomes
// a [recordTime] (commit → indexed per backend, by the method of [FreshnessStats]). A version a
// newer one replaced before it was measured cannot be measured any more (the rows hold the
// newest): it is counted as superseded.
type freshnessTracker struct {
	pool     *pgxpool.Pool
	backends []string
	method   string

	mu         sync.Mutex
	pending    map[[16]byte]int32 // record id → version published
	done       []recordTime
	superseded int
	failed     int
}

func newFreshnessTracker(pool *pgxpool.Pool, backends []string, method string) *freshnessTracker {
	return &freshnessTracker{pool: pool, backends: backends, method: method, pending: map[[16]byte]int32{}}
}

// add records a published version.
func (f *freshnessTracker) add(id [16]byte, version int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.pending[id]; ok && v < version {
		f.superseded++
	}
	f.pending[id] = max(f.pending[id], version)
}

// trackSQL reads, for the records of $1, the version stored, the commit time of the row and,
// per backend, the version indexed and the commit time of the indexing; %s are the method's
// time expressions, as in [readRecordTimes].
const trackSQL = `
SELECT r.id, r.version, %s, s.backend, s.state, coalesce(s.indexed_version, 0), coalesce(%s, 'epoch'::timestamptz)
FROM records r JOIN index_state s ON s.record_id = r.id
WHERE r.id = ANY($1)`

// run checks the pending versions every interval until ctx ends; a failed check (the database
// restarting) is tried again at the next one.
func (f *freshnessTracker) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, _ = f.check(ctx)
		}
	}
}

// drain checks the pending versions until none is left or timeout passes; then those left are
// an error.
func (f *freshnessTracker) drain(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left, err := f.check(ctx)
		if err == nil && left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("soak: %d record versions not seen indexed: %w", left, err)
			}
			return fmt.Errorf("soak: %d record versions still not indexed in every backend %s after the load stopped", left, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// check reads the pending versions' state and moves the measured ones to done; it returns how
// many are left.
func (f *freshnessTracker) check(ctx context.Context) (int, error) {
	f.mu.Lock()
	ids := slices.Collect(maps.Keys(f.pending))
	want := maps.Clone(f.pending)
	f.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	committed, indexed := "r.updated_at", "s.indexed_at"
	if f.method == FreshnessCommitTimestamp {
		committed, indexed = "coalesce(pg_xact_commit_timestamp(r.xmin), r.updated_at)", "pg_xact_commit_timestamp(s.xmin)"
	}
	ctx, cancel := context.WithTimeout(ctx, soakRequestTimeout)
	defer cancel()
	rows, err := f.pool.Query(ctx, fmt.Sprintf(trackSQL, committed, indexed), ids)
	if err != nil {
		return len(ids), err
	}
	type seen struct {
		version   int32
		committed time.Time
		indexed   []time.Time
		newer     bool // a backend holds a newer version than the one published
		failed    bool
	}
	byID := map[[16]byte]*seen{}
	var (
		id                [16]byte
		version, indexedV int32
		commit, indexT    time.Time
		backend, state    string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &version, &commit, &backend, &state, &indexedV, &indexT}, func() error {
		i := slices.Index(f.backends, backend)
		if i < 0 {
			return nil
		}
		s := byID[id]
		if s == nil {
			s = &seen{version: version, committed: commit, indexed: make([]time.Time, len(f.backends))}
			byID[id] = s
		}
		switch {
		case indexedV > want[id]:
			s.newer = true
		case state == "failed":
			s.failed = true
		case state == "indexed" && indexedV == want[id]:
			s.indexed[i] = indexT
		}
		return nil
	})
	if err != nil {
		return len(ids), err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	for id, s := range byID {
		v := want[id]
		if f.pending[id] != v {
			continue // a newer version was published meanwhile: add counted the old one
		}
		switch {
		case s.version != v || s.newer:
			f.superseded++
		case s.failed:
			f.failed++
		case !slices.ContainsFunc(s.indexed, time.Time.IsZero):
			f.done = append(f.done, recordTime{committed: s.committed, indexed: s.indexed})
		default:
			continue
		}
		delete(f.pending, id)
	}
	return len(f.pending), nil
}

// results returns the measured versions and the counts of those that could not be.
func (f *freshnessTracker) results() (done []recordTime, superseded, failed, pending int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.done), f.superseded, f.failed, len(f.pending)
}
