package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestSearchSmoke runs the search benchmark on a small corpus: every series runs without errors
// and recall is sane. The figures themselves are for osa bench search.
func TestSearchSmoke(t *testing.T) {
	t.Parallel()
	rep, err := Search(context.Background(), SearchOpts{AdminURL: pgtest.AdminURL(t), Records: 3000, Queries: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RecallAt10 < 0.8 || rep.RecallAt10 > 1+1e-9 {
		t.Fatalf("recall@10 %.3f on 3,000 records", rep.RecallAt10)
	}
	if len(rep.Series) != 18 {
		t.Fatalf("%d series, want 4 modes × 2 client counts, vector_gzip, the 6 of the search features and pages at 1 client "+
			"and the 3 modes while ingesting", len(rep.Series))
	}
	for _, s := range rep.Series {
		want := 60 // 20 queries × 3 rounds
		if s.Mode == "similar" {
			want = 3 * 200
		}
		if s.Errors != 0 || s.Requests != want || s.P50Ms <= 0 || s.P99Ms < s.P50Ms || s.QPS <= 0 {
			t.Fatalf("series %+v", s)
		}
		if !strings.HasPrefix(s.Mode, "keyword") && s.EmptyCount != 0 {
			t.Fatalf("series %+v came back empty", s)
		}
	}
	if md := rep.Markdown(); !strings.Contains(md, "recall@10") || !strings.Contains(md, "| hybrid | 8 |") || !strings.Contains(md, "| vector_gzip | 1 |") ||
		!strings.Contains(md, "browse, page 50 by keyset") || !strings.Contains(md, "highlighting 10 hits") || !strings.Contains(md, "web search page") {
		t.Fatalf("markdown:\n%s", md)
	}
}
