package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// Defaults of the freshness scenario ([IngestOpts.FreshnessDuration], [IngestOpts.FreshnessRate]).
const (
	FreshnessDurationDefault      = 30 * time.Second
	FreshnessDurationSmokeDefault = 5 * time.Second
	FreshnessRateDefault          = 100
	// FreshnessTick is how often the freshness scenario publishes: every tick, one
	// PublishRecords call sends the records due by then (2 at 100 records/s).
	FreshnessTick = 20 * time.Millisecond
	// TimelineWindow is the width of a [Timeline]'s windows.
	TimelineWindow = time.Second
)

// Methods of [FreshnessStats]: where a record's commit and its indexing times come from. Both
// read the database's clock.
const (
	// FreshnessCommitTimestamp takes the commit times of the transactions that wrote the
	// records row and the index_state row (pg_xact_commit_timestamp of their xmin): exact. It
	// needs track_commit_timestamp = on, which osa bench sets on the cluster it starts itself.
	FreshnessCommitTimestamp = "commit_timestamp"
	// FreshnessTransactionStart takes records.updated_at and index_state.indexed_at, both now():
	// the start of the publishing and of the indexing transaction. Each end is early by its
	// transaction's length; the indexing batch's is the longer one (see the mean batch ms), so
	// the figures read slightly low.
	FreshnessTransactionStart = "transaction_start"
)

// FreshnessResult is the freshness scenario: records published at a steady rate into a server
// with both backends, each record's time from its commit until it is indexed in every backend.
type FreshnessResult struct {
	// Rate is the publishing rate asked for, in records/s, for DurationSeconds; TickMillis is
	// the interval of the PublishRecords calls ([FreshnessTick]).
	Rate            float64 `json:"rate"`
	DurationSeconds float64 `json:"duration_seconds"`
	TickMillis      float64 `json:"tick_ms"`
	// PublishedPerSec is the rate reached: the records divided by the time from the first
	// publish to the last response.
	PublishedPerSec float64 `json:"published_per_sec"`
	// Scenario is the run itself (both backends, default batch). Its Freshness holds the
	// figures, its Timeline the throughput and freshness per window.
	Scenario ScenarioResult `json:"scenario"`
}

// FreshnessStats is the time from each record's commit until it was indexed, in milliseconds.
type FreshnessStats struct {
	// Method is [FreshnessCommitTimestamp] or [FreshnessTransactionStart].
	Method string `json:"method"`
	// Records is the number of records measured: those indexed in every backend.
	Records int `json:"records"`
	// MeanMs ... MaxMs are over the records, each the longest of its backends: commit →
	// indexed in every backend.
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	// Backends are the same figures for each backend alone.
	Backends []BackendFreshness `json:"backends"`
}

// BackendFreshness is one backend's commit → indexed times, in milliseconds.
type BackendFreshness struct {
	Name  string  `json:"name"`
	P50Ms float64 `json:"p50_ms"`
	P95Ms float64 `json:"p95_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Timeline is a scenario's throughput and freshness over time, in windows of WindowSeconds from
// the first record's commit (database clock).
type Timeline struct {
	WindowSeconds float64 `json:"window_seconds"`
	// Backends names the backends, in the order of every [Window.Indexed].
	Backends []string `json:"backends"`
	Windows  []Window `json:"windows"`
}

// Window is one window of a [Timeline].
type Window struct {
	// Start is the window's start in seconds from the first record's commit.
	Start float64 `json:"start"`
	// Committed is the number of records committed in the window.
	Committed int `json:"committed"`
	// Indexed counts, per backend, the records whose indexing committed in the window.
	Indexed []int `json:"indexed"`
	// FreshnessP95Ms is the p95 of commit → indexed in every backend over the records committed
	// in the window (0 when none was).
	FreshnessP95Ms float64 `json:"freshness_p95_ms"`
}

// recordTime is when one record was committed and when each backend indexed it.
type recordTime struct {
	committed time.Time
	// indexed is aligned with the backend names; zero: not indexed there.
	indexed []time.Time
}

// recordTimesSQL returns every indexed (record, backend) pair with the two times, by record; the
// %s are the time expressions of the method.
const recordTimesSQL = `
SELECT r.id, %s, s.backend, %s
FROM records r JOIN index_state s ON s.record_id = r.id
WHERE s.state = 'indexed'
ORDER BY r.id`

// commitTimestampsOn reports whether the server tracks commit timestamps.
func commitTimestampsOn(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var on string
	if err := conn.QueryRow(ctx, "SHOW track_commit_timestamp").Scan(&on); err != nil {
		return false, fmt.Errorf("error reading track_commit_timestamp: %w", err)
	}
	return on == "on", nil
}

// readRecordTimes reads every record's commit time and its indexing time in each of backends,
// by method.
func readRecordTimes(ctx context.Context, conn *pgx.Conn, backends []string, method string) ([]recordTime, error) {
	committed, indexed := "r.updated_at", "s.indexed_at"
	if method == FreshnessCommitTimestamp {
		// coalesce: a commit time can only be missing for transactions older than the
		// tracking, which a fresh scratch database does not have.
		committed, indexed = "coalesce(pg_xact_commit_timestamp(r.xmin), r.updated_at)", "coalesce(pg_xact_commit_timestamp(s.xmin), s.indexed_at)"
	}
	rows, err := conn.Query(ctx, fmt.Sprintf(recordTimesSQL, committed, indexed))
	if err != nil {
		return nil, fmt.Errorf("error reading the records' index times: %w", err)
	}
	var (
		out            []recordTime
		id, lastID     [16]byte
		backend        string
		commit, indexT time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &commit, &backend, &indexT}, func() error {
		i := slices.Index(backends, backend)
		if i < 0 {
			return nil
		}
		if len(out) == 0 || id != lastID {
			out = append(out, recordTime{committed: commit, indexed: make([]time.Time, len(backends))})
			lastID = id
		}
		out[len(out)-1].indexed[i] = indexT
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error reading the records' index times: %w", err)
	}
	return out, nil
}

// freshnessOf computes the freshness figures and the timeline of recs. A record counts in the
// freshness figures when every backend indexed it; in a window's Indexed for every backend that
// did.
func freshnessOf(recs []recordTime, backends []string, method string, window time.Duration) (FreshnessStats, *Timeline) {
	st := FreshnessStats{Method: method}
	tl := &Timeline{WindowSeconds: window.Seconds(), Backends: slices.Clone(backends)}
	if len(recs) == 0 {
		for _, b := range backends {
			st.Backends = append(st.Backends, BackendFreshness{Name: b})
		}
		return st, tl
	}
	t0 := recs[0].committed
	for _, r := range recs {
		if r.committed.Before(t0) {
			t0 = r.committed
		}
	}
	slot := func(t time.Time) int { return max(int(t.Sub(t0)/window), 0) }
	var (
		all       []float64
		per       = make([][]float64, len(backends))
		byWindow  = map[int][]float64{}
		committed = map[int]int{}
		indexed   = map[int][]int{}
		last      = 0
	)
	for _, r := range recs {
		w := slot(r.committed)
		committed[w]++
		last = max(last, w)
		worst, complete := 0.0, true
		for i, t := range r.indexed {
			if t.IsZero() {
				complete = false
				continue
			}
			ms := max(durationMillis(t.Sub(r.committed)), 0)
			per[i] = append(per[i], ms)
			worst = max(worst, ms)
			wi := slot(t)
			if indexed[wi] == nil {
				indexed[wi] = make([]int, len(backends))
			}
			indexed[wi][i]++
			last = max(last, wi)
		}
		if complete {
			all = append(all, worst)
			byWindow[w] = append(byWindow[w], worst)
		}
	}

	slices.Sort(all)
	st.Records = len(all)
	st.P50Ms, st.P95Ms, st.P99Ms = percentile(all, 0.50), percentile(all, 0.95), percentile(all, 0.99)
	if len(all) > 0 {
		st.MaxMs = all[len(all)-1]
		sum := 0.0
		for _, v := range all {
			sum += v
		}
		st.MeanMs = sum / float64(len(all))
	}
	for i, b := range backends {
		slices.Sort(per[i])
		bf := BackendFreshness{Name: b, P50Ms: percentile(per[i], 0.50), P95Ms: percentile(per[i], 0.95), P99Ms: percentile(per[i], 0.99)}
		if n := len(per[i]); n > 0 {
			bf.MaxMs = per[i][n-1]
		}
		st.Backends = append(st.Backends, bf)
	}

	for w := 0; w <= last; w++ {
		win := Window{Start: float64(w) * window.Seconds(), Committed: committed[w], Indexed: indexed[w]}
		if win.Indexed == nil {
			win.Indexed = make([]int, len(backends))
		}
		if fs := byWindow[w]; len(fs) > 0 {
			slices.Sort(fs)
			win.FreshnessP95Ms = percentile(fs, 0.95)
		}
		tl.Windows = append(tl.Windows, win)
	}
	return st, tl
}

// percentile returns the p-th quantile (0 < p <= 1) of sorted by the nearest-rank method: the
// smallest value with at least p of the values at or below it; 0 for no values.
func percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// publishPaced publishes reqs through client at rate records/s: every [FreshnessTick] one
// PublishRecords call sends the records due by then (at most perCall per call), so the load is
// a steady trickle. A slow call delays the next tick, whose call then catches up.
func publishPaced(ctx context.Context, client osav1connect.RecordServiceClient, reqs []*osav1.PublishRecordRequest, rate float64, perCall int) error {
	tick := time.NewTicker(FreshnessTick)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for sent < len(reqs) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := min(len(reqs), int(rate*time.Since(start).Seconds()))
		for sent < due {
			chunk := reqs[sent:min(due, sent+perCall)]
			resp, err := client.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: chunk}))
			if err == nil && len(resp.Msg.Records) != len(chunk) {
				err = fmt.Errorf("published %d records, got %d back", len(chunk), len(resp.Msg.Records))
			}
			if err != nil {
				return fmt.Errorf("error publishing: %w", err)
			}
			sent += len(chunk)
		}
	}
	return nil
}
