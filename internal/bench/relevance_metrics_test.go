package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// near reports whether got is want to 1e-9.
func near(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

func TestNDCGAt(t *testing.T) {
	t.Parallel()
	twelve := map[string]int{}
	var twelveRanked []string
	for _, id := range strings.Fields("a b c d e f g h i j k l") {
		twelve[id] = 1
		twelveRanked = append(twelveRanked, id)
	}
	for _, tc := range []struct {
		name   string
		ranked []string
		judged map[string]int
		want   float64
	}{
		// DCG 1/log2(3) + 1/log2(5); ideal 1 + 1/log2(3).
		{"binary", []string{"x", "a", "y", "b"}, map[string]int{"a": 1, "b": 1}, 0.6509209298071326},
		// DCG 1/log2(2) + 0 + 2/log2(4) = 2; ideal 2/log2(2) + 1/log2(3).
		{"graded", []string{"b", "c", "a"}, map[string]int{"a": 2, "b": 1, "c": 0}, 0.7601875334318685},
		// DCG 1 + 3/log2(4) + 2/log2(5); ideal 3 + 2/log2(3) + 1/log2(4).
		{"three grades", []string{"c", "x", "a", "b"}, map[string]int{"a": 3, "b": 2, "c": 1}, 0.7058908628246313},
		{"perfect", []string{"a", "b"}, map[string]int{"a": 2, "b": 1}, 1},
		// A negative score gains nothing: DCG 1/log2(3), ideal 1.
		{"negative score", []string{"a", "b"}, map[string]int{"a": -1, "b": 1}, 0.6309297535714575},
		{"relevant past the cut", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "a"}, map[string]int{"a": 1}, 0},
		// The ideal ranks 10 of the 12 relevant documents, so 10 found of 12 is perfect.
		{"ideal cut at 10", twelveRanked, twelve, 1},
		{"nothing relevant", []string{"a"}, map[string]int{"a": 0}, 0},
		{"no hits", nil, map[string]int{"a": 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ndcgAt(tc.ranked, tc.judged, 10); !near(got, tc.want) {
				t.Errorf("ndcgAt(%v, %v, 10) = %.12f, want %.12f", tc.ranked, tc.judged, got, tc.want)
			}
		})
	}
}

func TestRecallAt(t *testing.T) {
	t.Parallel()
	judged := map[string]int{"a": 1, "b": 1, "c": 0, "d": 2}
	for _, tc := range []struct {
		name   string
		ranked []string
		k      int
		want   float64
	}{
		{"one of three relevant", []string{"c", "a", "x"}, 100, 1.0 / 3},
		{"every relevant", []string{"d", "x", "b", "a"}, 100, 1},
		{"past the cut", []string{"x", "y", "a"}, 2, 0},
		{"at the cut", []string{"x", "a", "b"}, 2, 1.0 / 3},
		{"no hits", nil, 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := recallAt(tc.ranked, judged, tc.k); !near(got, tc.want) {
				t.Errorf("recallAt(%v, %d) = %v, want %v", tc.ranked, tc.k, got, tc.want)
			}
		})
	}
	if got := recallAt([]string{"a"}, map[string]int{"a": 0}, 100); got != 0 {
		t.Errorf("recall without a relevant document = %v, want 0", got)
	}
}

func TestMRRAt(t *testing.T) {
	t.Parallel()
	judged := map[string]int{"a": 1, "b": 2, "z": 0}
	for _, tc := range []struct {
		name   string
		ranked []string
		want   float64
	}{
		{"first", []string{"a", "b"}, 1},
		{"third", []string{"x", "z", "b", "a"}, 1.0 / 3},
		{"tenth", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "a"}, 0.1},
		{"eleventh", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "a"}, 0},
		{"score 0 only", []string{"z"}, 0},
		{"no hits", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := mrrAt(tc.ranked, judged, 10); !near(got, tc.want) {
				t.Errorf("mrrAt(%v) = %v, want %v", tc.ranked, got, tc.want)
			}
		})
	}
}

func TestRelevanceRow(t *testing.T) {
	t.Parallel()
	queries := []datasetQuery{{id: "q1"}, {id: "q2"}, {id: "q3"}}
	judged := map[string]int{"a": 1}
	scores := []queryScores{
		scoreQuery([]string{"a"}, judged),      // 1, 1, 1
		scoreQuery([]string{"x", "a"}, judged), // 1/log2(3), 1, 1/2
		scoreQuery(nil, judged),                // no hit
	}
	var latencies []time.Duration
	for i := 1; i <= 100; i++ {
		latencies = append(latencies, time.Duration(101-i)*time.Millisecond)
	}
	row := relevanceRow("v", RelevanceModeKeyword, queries, scores, latencies)
	if row.Variant != "v" || row.Mode != RelevanceModeKeyword || row.Queries != 3 || row.ZeroHits != 1 {
		t.Errorf("row %+v", row)
	}
	if want := (1 + 1/math.Log2(3)) / 3; !near(row.NDCG10, want) {
		t.Errorf("nDCG@10 %v, want %v", row.NDCG10, want)
	}
	if !near(row.Recall100, 2.0/3) || !near(row.MRR10, 0.5) {
		t.Errorf("Recall@100 %v, MRR@10 %v; want 2/3, 1/2", row.Recall100, row.MRR10)
	}
	if l := row.Latency; l == nil || l.P50Ms != 50 || l.P99Ms != 99 {
		t.Errorf("latency %+v, want p50 50 ms, p99 99 ms", l)
	}
	if s := row.byQuery["q2"]; !near(s.mrr, 0.5) || s.hits != 2 {
		t.Errorf("q2 %+v", s)
	}
	if ref := relevanceRow("r", RelevanceModeBM25, queries, scores, nil); ref.Latency != nil {
		t.Errorf("a row without latencies has %+v", ref.Latency)
	}
}
