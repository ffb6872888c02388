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
	pending    map[[16]byte]pendingVersion // by record id
	done       []recordTime
	superseded int
	failed     int
}

// pendingVersion is a version published and not yet seen indexed in every backend.
type pendingVersion struct {
	version int32
	// at is when its PublishRecords call answered: the minute a version never seen indexed
	// counts in.
	at time.Time
}

func newFreshnessTracker(pool *pgxpool.Pool, backends []string, method string) *freshnessTracker {
	return &freshnessTracker{pool: pool, backends: backends, method: method, pending: map[[16]byte]pendingVersion{}}
}

// add records a published version, answered at at.
func (f *freshnessTracker) add(id [16]byte, version int32, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pending[id]
	if ok && p.version >= version {
		return
	}
	if ok {
		f.superseded++
	}
	f.pending[id] = pendingVersion{version: version, at: at}
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

// drain checks the pending versions until none is left or timeout passes; those left then
// are reported as never seen indexed. It returns how many are left.
func (f *freshnessTracker) drain(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		left, err := f.check(ctx)
		if (err == nil && left == 0) || time.Now().After(deadline) {
			return left, nil
		}
		select {
		case <-ctx.Done():
			return left, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// check reads the pending versions' state and moves the measured ones to done; it returns how
// many are left.
func (f *freshnessTracker) check(ctx context.Context) (int, error) {
	f.mu.Lock()
	ids := slices.Collect(maps.Keys(f.pending))
	want := make(map[[16]byte]int32, len(f.pending))
	for id, p := range f.pending {
		want[id] = p.version
	}
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
		if f.pending[id].version != v {
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

// waiting returns the number of versions not yet seen indexed.
func (f *freshnessTracker) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// results returns the measured versions, the counts of those that could not be, and the
// answer times of those never seen indexed.
func (f *freshnessTracker) results() (done []recordTime, superseded, failed int, pending []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pending {
		pending = append(pending, p.at)
	}
	return slices.Clone(f.done), f.superseded, f.failed, pending
}
