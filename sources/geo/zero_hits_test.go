package geo_test

import (
	"testing"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

func TestZeroHits(t *testing.T) {
	t.Parallel()
	// NCBI answers a search without hits with count "0" and neither querykey nor webenv, even
	// with usehistory=y: an empty result set, not an error.
	b := setup(t, geotest.Series(10), nil) // published 2020/01/01 .. 2020/01/10
	page, next := b.pull(t, sources.Cursor{Since: "2024-06-01"})
	if page.Fetched != 0 || page.Total != 0 || len(page.Records) != 0 || next.Offset != 0 {
		t.Fatalf("page %+v, next offset %d, want an empty page", page, next.Offset)
	}
	if b.fake.Count("esearch") != 1 || b.fake.Count("esummary") != 0 {
		t.Fatalf("%d searches and %d esummary requests, want 1 and 0", b.fake.Count("esearch"), b.fake.Count("esummary"))
	}
	// The empty session carries on without searching again.
	page, _ = b.pull(t, next)
	if page.Fetched != 0 || b.fake.Count("esearch") != 1 {
		t.Fatalf("second pull fetched %d after %d searches", page.Fetched, b.fake.Count("esearch"))
	}
}
