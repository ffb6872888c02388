package bench

import (
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	vals := make([]float64, 100)
	for i := range vals {
		vals[i] = float64(i + 1) // 1..100
	}
	for _, c := range []struct{ p, want float64 }{{0.5, 50}, {0.95, 95}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(vals, c.p); got != c.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]float64{7}, 0.95); got != 7 {
		t.Errorf("percentile of one value = %v", got)
	}
	if got := percentile(nil, 0.95); got != 0 {
		t.Errorf("percentile of no values = %v", got)
	}
	// Nearest rank: of 10 values, p95 is the 10th, p50 the 5th.
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p95, p50 := percentile(ten, 0.95), percentile(ten, 0.5); p95 != 10 || p50 != 5 {
		t.Errorf("p95 %v, p50 %v of 1..10", p95, p50)
	}
}

// TestFreshnessOf checks the per-record measure (the latest backend), the per-backend figures and
// the windows of a hand-made set of records.
func TestFreshnessOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	recs := []recordTime{
		// committed, vector, keyword
		{committed: ms(100), indexed: []time.Time{ms(300), ms(150)}},    // 200 ms (vector)
		{committed: ms(0), indexed: []time.Time{ms(100), ms(400)}},      // 400 ms (keyword); the first commit
		{committed: ms(900), indexed: []time.Time{ms(1000), ms(1200)}},  // 300 ms, indexed in window 1
		{committed: ms(1500), indexed: []time.Time{ms(1600), {}}},       // not in keyword: no freshness
		{committed: ms(2100), indexed: []time.Time{ms(2200), ms(2150)}}, // 100 ms
	}
	st, tl := freshnessOf(recs, []string{"vector", "keyword"}, FreshnessTransactionStart, time.Second)
	if st.Method != FreshnessTransactionStart || st.Records != 4 {
		t.Fatalf("stats %+v", st)
	}
	// Sorted: 100 200 300 400.
	if st.P50Ms != 200 || st.P95Ms != 400 || st.P99Ms != 400 || st.MaxMs != 400 || st.MeanMs != 250 {
		t.Errorf("stats %+v", st)
	}
	if len(st.Backends) != 2 || st.Backends[0].Name != "vector" || st.Backends[0].MaxMs != 200 || st.Backends[1].MaxMs != 400 ||
		st.Backends[1].P50Ms != 50 {
		t.Errorf("per backend %+v", st.Backends)
	}
	if tl.WindowSeconds != 1 || !slices.Equal(tl.Backends, []string{"vector", "keyword"}) || len(tl.Windows) != 3 {
		t.Fatalf("timeline %+v", tl)
	}
	want := []Window{
		{Start: 0, Committed: 3, Indexed: []int{2, 2}, FreshnessP95Ms: 400},
		{Start: 1, Committed: 1, Indexed: []int{2, 1}, FreshnessP95Ms: 0}, // its record lacks keyword
		{Start: 2, Committed: 1, Indexed: []int{1, 1}, FreshnessP95Ms: 100},
	}
	for i, w := range want {
		g := tl.Windows[i]
		if g.Start != w.Start || g.Committed != w.Committed || !slices.Equal(g.Indexed, w.Indexed) || g.FreshnessP95Ms != w.FreshnessP95Ms {
			t.Errorf("window %d = %+v, want %+v", i, g, w)
		}
	}

	st, tl = freshnessOf(nil, []string{"keyword"}, FreshnessCommitTimestamp, time.Second)
	if st.Records != 0 || len(st.Backends) != 1 || len(tl.Windows) != 0 {
		t.Errorf("no records: %+v, %+v", st, tl)
	}
}
